#include "child_setup.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

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

}  // namespace drust::launcher
