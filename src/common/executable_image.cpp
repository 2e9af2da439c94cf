#include "common/executable_image.hpp"

#include <elf.h>
#include <link.h>

#include <cstdio>
#include <fstream>
#include <iterator>

namespace drust {

namespace {

::std::string hex(const unsigned char* bytes, ::std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  ::std::string text;
  for (::std::size_t i = 0; i < size; ++i) {
    text += digits[bytes[i] >> 4];
    text += digits[bytes[i] & 15];
  }
  return text;
}

// The executable is the first object dl_iterate_phdr reports.
int inspect_first_object(dl_phdr_info* info, size_t, void* data) {
  auto* image = static_cast<executable_image*>(data);
  ::std::uintptr_t low = UINTPTR_MAX, high = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type == PT_LOAD) {
      low = ::std::min<::std::uintptr_t>(low, info->dlpi_addr + header.p_vaddr);
      high = ::std::max<::std::uintptr_t>(high, info->dlpi_addr + header.p_vaddr + header.p_memsz);
    } else if (header.p_type == PT_NOTE && image->build_id.empty()) {
      auto* note = reinterpret_cast<const unsigned char*>(info->dlpi_addr + header.p_vaddr);
      auto* notes_end = note + header.p_memsz;
      while (note + sizeof(ElfW(Nhdr)) <= notes_end) {
        auto* entry = reinterpret_cast<const ElfW(Nhdr)*>(note);
        const unsigned char* name = note + sizeof(ElfW(Nhdr));
        const unsigned char* desc = name + ((entry->n_namesz + 3) & ~3u);
        if (entry->n_type == NT_GNU_BUILD_ID && entry->n_namesz == 4 && ::std::string_view(reinterpret_cast<const char*>(name), 3) == "GNU") {
          image->build_id = hex(desc, entry->n_descsz);
          break;
        }
        note = desc + ((entry->n_descsz + 3) & ~3u);
      }
    }
  }
  image->begin = low;
  image->end = high;
  return 1;  // only the first object
}

// Without a build id note, a hash of the file's bytes (FNV-1a, 64 bits).
::std::string hash_of_file(const char* path) {
  ::std::ifstream file(path, ::std::ios::binary);
  ::std::uint64_t hash = 1469598103934665603ull;
  char buffer[1 << 16];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    for (::std::streamsize i = 0; i < file.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(buffer[i]);
      hash *= 1099511628211ull;
    }
  }
  char text[32];
  ::std::snprintf(text, sizeof text, "fnv:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace

const executable_image& this_executable() {
  static const executable_image image = [] {
    executable_image found;
    dl_iterate_phdr(inspect_first_object, &found);
    if (found.build_id.empty()) found.build_id = hash_of_file("/proc/self/exe");
    return found;
  }();
  return image;
}

}  // namespace drust
