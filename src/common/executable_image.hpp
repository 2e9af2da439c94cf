// Facts about this process's executable: its build id, and the address range of its code.
//
// Nodes refuse to form a job unless they all run the same executable (same build id), because
// code travels between them as offsets within that image (see src/thread/code_address.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace drust {

struct executable_image {
  ::std::string build_id;          // hex of the ELF build id, or "sha:" + a hash of the file
  ::std::uintptr_t begin = 0;      // lowest mapped address of the executable
  ::std::uintptr_t end = 0;        // one past the highest
};

// Read once, on first use.
const executable_image& this_executable();

}  // namespace drust
