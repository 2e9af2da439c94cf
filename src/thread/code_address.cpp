// Code travels between nodes as an offset from one basis symbol of the executable (the idea of
// UPC++'s global_fnptr): every node runs the same executable (checked at bootstrap by build id),
// so basis + offset names the same function everywhere, whatever ASLR did to each process.
#include <stdexcept>
#include <string>

#include <drust/detail/launch.hpp>

#include "common/executable_image.hpp"

extern "C" {
// The basis. noinline and used: it must exist, once, at a fixed place within the image.
__attribute__((noinline, used)) void drust_code_basis() { __asm__ volatile(""); }
}

namespace drust::detail {

namespace {
::std::uintptr_t basis() { return reinterpret_cast<::std::uintptr_t>(&drust_code_basis); }
}  // namespace

::std::int64_t code_offset(code_pointer code) {
  auto address = reinterpret_cast<::std::uintptr_t>(code);
  const executable_image& image = this_executable();
  if (address < image.begin || address >= image.end) {
    throw ::std::invalid_argument(
        "drust: a thread's code lives outside the executable (in a shared library?); drust ships "
        "code as offsets within the executable, so start threads from code linked into the program");
  }
  return static_cast<::std::int64_t>(address - basis());
}

code_pointer code_at(::std::int64_t offset) {
  return reinterpret_cast<code_pointer>(basis() + static_cast<::std::uintptr_t>(offset));
}

}  // namespace drust::detail
