#include "common/pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace drust {

bool back_pages(void* address, ::std::size_t length) {
  static const auto page = static_cast<::std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<::std::uintptr_t>(address);
  const ::std::uintptr_t begin = (first + page - 1) & ~(page - 1);
  const ::std::uintptr_t end = (first + length) & ~(page - 1);
  if (end <= begin) return true;
  return ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
}

}  // namespace drust
