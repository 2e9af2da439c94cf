// Running processes from tests: capture their output, bound their time, see what they left behind.
//
// Every multi-process test needs a hard limit so that a bug fails the test instead of hanging it:
// run_process and background_process kill the whole process group at their timeout.
//
//   auto result = drust_test::run_process({drun, "-n", "2", app}, ::std::chrono::seconds(30));
//   REQUIRE_FALSE(result.timed_out);
//   CHECK(result.exit_code == 0);
//
//   drust_test::background_process job({drun, "--verbose", "-n", "2", app});
//   auto line = job.wait_for_stderr_line([](const std::string& l) { return l.find("node 1 pid") != l.npos; },
//                                        ::std::chrono::seconds(10));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace drust_test {

struct process_result {
  int exit_code = -1;      // the exit status, or -1 when killed by a signal
  int term_signal = 0;     // the signal that killed it, or 0
  bool timed_out = false;  // killed at the timeout
  std::string out, err;    // everything it wrote to stdout and stderr
  double seconds = 0;      // from start to exit
};

// Runs argv (argv[0] searched in PATH; `extra_env` "K=V" entries added to the environment) in its
// own process group with stdin from /dev/null, capturing stdout and stderr. SIGKILLs the whole
// group after `timeout` (then timed_out = true).
process_result run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::vector<std::string>& extra_env = {});

// The same, started in the background; a thread collects its output as it comes.
class background_process {
 public:
  background_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});
  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;
  ~background_process();  // SIGKILLs the group if still running

  pid_t pid() const { return pid_; }

  // Waits until a line of stdout satisfies pred (returns it) or timeout (returns nullopt). Each
  // call looks at every line written so far, from the first.
  std::optional<std::string> wait_for_line(std::function<bool(const std::string&)> pred,
                                           std::chrono::milliseconds timeout);
  // The same for stderr (where drun --verbose writes).
  std::optional<std::string> wait_for_stderr_line(std::function<bool(const std::string&)> pred,
                                                  std::chrono::milliseconds timeout);

  // Waits for the exit and the end of the output; SIGKILLs the group on timeout.
  process_result wait(std::chrono::milliseconds timeout);

  // Sends `sig` to the process itself (not its group: drun is meant to forward it).
  void signal(int sig);

 private:
  struct shared_state;
  std::optional<std::string> wait_for(bool from_stderr, const std::function<bool(const std::string&)>& pred,
                                      std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<shared_state> state_;
  std::thread reader_;
  std::optional<process_result> result_;
};

// True while `pid` exists and is not a zombie.
bool pid_alive(pid_t pid);

// Names of the files in /dev/shm that start with `prefix`.
std::vector<std::string> shm_files_with_prefix(const std::string& prefix);

// The environment variable `name`, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

}  // namespace drust_test
