#include "child_setup.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

namespace drust::launcher {

void reset_signals_in_child() noexcept {
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    if (signal_number == SIGKILL || signal_number == SIGSTOP) continue;
    ::signal(signal_number, SIG_DFL);
  }
  sigset_t nothing;
  ::sigemptyset(&nothing);
  ::sigprocmask(SIG_SETMASK, &nothing, nullptr);
}

bool die_with_parent_in_child(pid_t parent) noexcept {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return false;
  return ::getppid() == parent;
}

bool enter_cgroup_in_child(const char* procs_file) noexcept {
  int fd = ::open(procs_file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool entered = ::write(fd, "0", 1) == 1;
  int error = errno;
  ::close(fd);
  errno = error;
  return entered;
}

bool enter_network_namespace_in_child(int namespace_fd) noexcept {
  return ::setns(namespace_fd, CLONE_NEWNET) == 0;
}

}  // namespace drust::launcher
