// Finding the program a node runs, the way a shell would.
#pragma once

#include <string>

#include "common/status.hpp"

namespace drust::launcher {

// The path to execute for `program`: itself when it contains a '/', else the first executable of
// that name in PATH. The error is "cannot run './app': No such file or directory" (or the reason
// the file cannot be executed), ready to be printed after "drun: ".
absl::StatusOr<::std::string> find_local_program(const ::std::string& program);

// `path` made absolute against the current directory (without resolving links).
::std::string absolute_path(const ::std::string& path);

}  // namespace drust::launcher
