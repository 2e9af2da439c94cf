// Short helper commands drun runs itself, e.g. `ssh host getconf _NPROCESSORS_ONLN` before a job
// and `ssh host rm -f /dev/shm/drust-<job>-*` after it.
//
// They run side by side, each with its output captured, and all are killed at a deadline, so an
// unreachable host costs the job at most `timeout`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace drust::launcher {

struct helper_command_result {
  bool started = false;      // fork and exec worked
  bool timed_out = false;    // killed at the deadline
  int exit_status = -1;      // the exit status, or 128 + signal
  ::std::string output;      // stdout
  ::std::string errors;      // stderr
};

// Runs every command (argv[0] is searched in PATH) with stdin from /dev/null, concurrently, and
// waits for all of them, at most `timeout`. Results are in the order of `commands`.
::std::vector<helper_command_result> run_helper_commands(const ::std::vector<::std::vector<::std::string>>& commands,
                                                         ::std::chrono::milliseconds timeout);

}  // namespace drust::launcher
