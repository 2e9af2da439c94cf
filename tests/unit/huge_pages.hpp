// What the kernel says about transparent huge pages, for the tests of the heap's huge-page advice.
//
//   if (thp_mode() != "never") CHECK(thp_eligible(block) == 1);
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

// The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise" or
// "never"); "never" when the kernel has no THP.
inline std::string thp_mode() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(file, line)) return "never";
  const auto open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "never";
  return line.substr(open + 1, close - open - 1);
}

// The THPeligible field of the mapping that holds `address` in /proc/self/smaps (1 when the kernel
// may back it with huge pages), or -1 when no mapping holds it or the field is missing.
inline int thp_eligible(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    // A mapping's first line starts with "begin-end" in hex; its fields follow, one per line.
    if (range >> std::hex >> begin >> dash >> end && dash == '-' && line.find(':') > line.find(' ')) {
      inside = begin <= at && at < end;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::stoi(line.substr(12));
  }
  return -1;
}
