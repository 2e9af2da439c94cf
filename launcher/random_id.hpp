// Random identifiers for a job: its id (names its /dev/shm files) and its cookie (admits its nodes).
#pragma once

#include <cstddef>
#include <string>

#include "common/status.hpp"

namespace drust::launcher {

// `digits` lower-case hex digits from the kernel's random source (getrandom).
absl::StatusOr<::std::string> random_hex(::std::size_t digits);

}  // namespace drust::launcher
