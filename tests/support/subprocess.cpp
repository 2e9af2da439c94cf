#include "subprocess.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace drust_test {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// How long output may keep arriving after the process exited (from children it left behind).
constexpr milliseconds output_grace{2000};

std::vector<std::string> merged_environment(const std::vector<std::string>& extra_env) {
  std::vector<std::string> environment;
  auto name_of = [](const std::string& assignment) { return assignment.substr(0, assignment.find('=')); };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string assignment = *entry;
    bool replaced = false;
    for (const std::string& extra : extra_env) replaced = replaced || name_of(extra) == name_of(assignment);
    if (!replaced) environment.push_back(assignment);
  }
  environment.insert(environment.end(), extra_env.begin(), extra_env.end());
  return environment;
}

std::vector<char*> c_strings(std::vector<std::string>& words) {
  std::vector<char*> pointers;
  for (std::string& word : words) pointers.push_back(word.data());
  pointers.push_back(nullptr);
  return pointers;
}

void fill_result_from_status(process_result& result, int status) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
}

}  // namespace

// The reader thread's output, shared with the test's thread.
struct background_process::shared_state {
  std::mutex mutex;
  std::condition_variable changed;
  std::string out, err;
  bool out_closed = false, err_closed = false;
  int stop_pipe[2] = {-1, -1};  // written to make the reader give up on output that never ends
};

background_process::background_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env)
    : state_(std::make_shared<shared_state>()) {
  if (argv.empty()) throw std::invalid_argument("background_process: empty argv");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(state_->stop_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("background_process: pipe: ") + std::strerror(errno));
  }

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t no_signals, all_signals;
  ::sigemptyset(&no_signals);
  ::sigfillset(&all_signals);
  ::posix_spawnattr_setsigmask(&attributes, &no_signals);
  ::posix_spawnattr_setsigdefault(&attributes, &all_signals);
  ::posix_spawnattr_setpgroup(&attributes, 0);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> arguments = argv;
  std::vector<std::string> environment = merged_environment(extra_env);
  std::vector<char*> argv_pointers = c_strings(arguments);
  std::vector<char*> env_pointers = c_strings(environment);
  started_ = steady_clock::now();
  int error = ::posix_spawnp(&pid_, argv_pointers[0], &actions, &attributes, argv_pointers.data(), env_pointers.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (error != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("background_process: cannot start " + argv[0] + ": " + std::strerror(error));
  }

  reader_ = std::thread([state = state_, out_fd = out_pipe[0], err_fd = err_pipe[0]] {
    std::array<pollfd, 3> waiting{{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {state->stop_pipe[0], POLLIN, 0}}};
    std::array<char, 8192> buffer;
    while (waiting[0].fd >= 0 || waiting[1].fd >= 0) {
      if (::poll(waiting.data(), waiting.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (waiting[2].revents != 0) break;
      for (int i = 0; i < 2; ++i) {
        if (waiting[i].fd < 0 || waiting[i].revents == 0) continue;
        ssize_t got = ::read(waiting[i].fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        std::lock_guard lock(state->mutex);
        if (got > 0) {
          (i == 0 ? state->out : state->err).append(buffer.data(), static_cast<std::size_t>(got));
        } else {
          ::close(waiting[i].fd);
          waiting[i].fd = -1;
          (i == 0 ? state->out_closed : state->err_closed) = true;
        }
        state->changed.notify_all();
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (waiting[i].fd >= 0) ::close(waiting[i].fd);
    }
    std::lock_guard lock(state->mutex);
    state->out_closed = state->err_closed = true;
    state->changed.notify_all();
  });
}

background_process::~background_process() {
  if (!result_) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ssize_t ignored = ::write(state_->stop_pipe[1], "x", 1);
  (void)ignored;
  if (reader_.joinable()) reader_.join();
  ::close(state_->stop_pipe[0]);
  ::close(state_->stop_pipe[1]);
}

std::optional<std::string> background_process::wait_for(bool from_stderr,
                                                        const std::function<bool(const std::string&)>& pred,
                                                        milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  std::unique_lock lock(state_->mutex);
  while (true) {
    const std::string& text = from_stderr ? state_->err : state_->out;
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
      std::string line = text.substr(start, end - start);
      if (pred(line)) return line;
      start = end + 1;
    }
    bool closed = from_stderr ? state_->err_closed : state_->out_closed;
    if (closed) {
      std::string last = text.substr(start);
      if (!last.empty() && pred(last)) return last;
      return std::nullopt;
    }
    if (state_->changed.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
  }
}

std::optional<std::string> background_process::wait_for_line(std::function<bool(const std::string&)> pred,
                                                             milliseconds timeout) {
  return wait_for(false, pred, timeout);
}

std::optional<std::string> background_process::wait_for_stderr_line(std::function<bool(const std::string&)> pred,
                                                                    milliseconds timeout) {
  return wait_for(true, pred, timeout);
}

process_result background_process::wait(milliseconds timeout) {
  if (result_) return *result_;
  auto deadline = started_ + timeout;
  process_result result;
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && steady_clock::now() < deadline) {
    ::usleep(2000);
  }
  if (done == 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    result.timed_out = true;
  }
  result.seconds = std::chrono::duration<double>(steady_clock::now() - started_).count();
  fill_result_from_status(result, status);

  {
    // The output ends when every holder of the pipes has exited; children it left behind may
    // hold them a little longer, but not past the grace.
    std::unique_lock lock(state_->mutex);
    state_->changed.wait_until(lock, steady_clock::now() + output_grace,
                               [&] { return state_->out_closed && state_->err_closed; });
  }
  ssize_t ignored = ::write(state_->stop_pipe[1], "x", 1);
  (void)ignored;
  if (reader_.joinable()) reader_.join();
  result.out = state_->out;
  result.err = state_->err;
  result_ = result;
  return result;
}

void background_process::signal(int sig) {
  if (!result_) ::kill(pid_, sig);
}

process_result run_process(const std::vector<std::string>& argv, milliseconds timeout,
                           const std::vector<std::string>& extra_env) {
  background_process process(argv, extra_env);
  return process.wait(timeout);
}

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return !text.empty();
  return text[paren + 2] != 'Z' && text[paren + 2] != 'X';
}

std::vector<std::string> shm_files_with_prefix(const std::string& prefix) {
  std::vector<std::string> names;
  if (DIR* directory = ::opendir("/dev/shm"); directory != nullptr) {
    while (dirent* entry = ::readdir(directory)) {
      std::string name = entry->d_name;
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
    ::closedir(directory);
  }
  return names;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace drust_test
