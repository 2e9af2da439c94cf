#include "helper_commands.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

#include "child_setup.hpp"

namespace drust::launcher {

namespace {

using ::std::chrono::milliseconds;
using ::std::chrono::steady_clock;

struct running_helper {
  pid_t pid = -1;
  int output_fd = -1;
  int errors_fd = -1;
};

running_helper start_helper(const ::std::vector<::std::string>& argv) {
  running_helper helper;
  if (argv.empty()) return helper;
  ::std::vector<char*> arguments;
  for (const ::std::string& word : argv) arguments.push_back(const_cast<char*>(word.c_str()));
  arguments.push_back(nullptr);

  int output_pipe[2];
  int errors_pipe[2];
  if (::pipe2(output_pipe, O_CLOEXEC) != 0) return helper;
  if (::pipe2(errors_pipe, O_CLOEXEC) != 0) {
    ::close(output_pipe[0]);
    ::close(output_pipe[1]);
    return helper;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // A group of its own (set here and by the parent, whichever runs first): a Ctrl-C to drun's
    // process group must not kill an `ip` or `tc` half way through building or removing the
    // simulated network; drun decides when a helper ends (its deadline).
    ::setpgid(0, 0);
    reset_signals_in_child();
    if (!die_with_parent_in_child(parent)) ::_exit(127);
    int nothing = ::open("/dev/null", O_RDONLY);
    if (nothing >= 0) ::dup2(nothing, STDIN_FILENO);
    ::dup2(output_pipe[1], STDOUT_FILENO);
    ::dup2(errors_pipe[1], STDERR_FILENO);
    ::execvp(arguments[0], arguments.data());
    ::_exit(127);
  }
  if (pid > 0) ::setpgid(pid, pid);
  ::close(output_pipe[1]);
  ::close(errors_pipe[1]);
  if (pid < 0) {
    ::close(output_pipe[0]);
    ::close(errors_pipe[0]);
    return helper;
  }
  helper.pid = pid;
  helper.output_fd = output_pipe[0];
  helper.errors_fd = errors_pipe[0];
  return helper;
}

int remaining_ms(steady_clock::time_point deadline) {
  auto left = ::std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

::std::vector<helper_command_result> run_helper_commands(const ::std::vector<::std::vector<::std::string>>& commands,
                                                         milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  ::std::vector<helper_command_result> results(commands.size());
  ::std::vector<running_helper> helpers;
  for (::std::size_t i = 0; i < commands.size(); ++i) {
    helpers.push_back(start_helper(commands[i]));
    results[i].started = helpers.back().pid > 0;
  }

  // Read every pipe to its end (or the deadline): a full pipe would stop the helper.
  while (true) {
    ::std::vector<pollfd> waiting;
    ::std::vector<::std::pair<::std::size_t, bool>> owners;  // (helper, is stdout)
    for (::std::size_t i = 0; i < helpers.size(); ++i) {
      if (helpers[i].output_fd >= 0) {
        waiting.push_back({helpers[i].output_fd, POLLIN, 0});
        owners.emplace_back(i, true);
      }
      if (helpers[i].errors_fd >= 0) {
        waiting.push_back({helpers[i].errors_fd, POLLIN, 0});
        owners.emplace_back(i, false);
      }
    }
    if (waiting.empty()) break;
    int ready = ::poll(waiting.data(), waiting.size(), remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    for (::std::size_t k = 0; k < waiting.size(); ++k) {
      if (waiting[k].revents == 0) continue;
      auto [index, is_output] = owners[k];
      ::std::array<char, 4096> buffer;
      ssize_t got = ::read(waiting[k].fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got > 0) {
        (is_output ? results[index].output : results[index].errors).append(buffer.data(),
                                                                           static_cast<::std::size_t>(got));
        continue;
      }
      ::close(waiting[k].fd);
      (is_output ? helpers[index].output_fd : helpers[index].errors_fd) = -1;
    }
  }

  for (::std::size_t i = 0; i < helpers.size(); ++i) {
    if (helpers[i].output_fd >= 0) ::close(helpers[i].output_fd);
    if (helpers[i].errors_fd >= 0) ::close(helpers[i].errors_fd);
    if (helpers[i].pid <= 0) continue;
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(helpers[i].pid, &status, WNOHANG)) == 0 && steady_clock::now() < deadline) {
      ::usleep(10'000);
    }
    if (done == 0) {
      ::kill(helpers[i].pid, SIGKILL);
      ::waitpid(helpers[i].pid, &status, 0);
      results[i].timed_out = true;
    }
    results[i].exit_status = decode_wait_status(status);
  }
  return results;
}

}  // namespace drust::launcher
