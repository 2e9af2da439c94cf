// The program's real entry point. drust programs link with -Wl,--wrap=main (the pkg-config file
// and the meson dependency add it), so the C runtime calls __wrap_main, which starts the node
// runtime and then either runs the program's main (node 0, or a run without drun) or serves the
// other nodes until the job ends. The program itself needs no extra call.
#include <dlfcn.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "runtime/node_runtime.hpp"
#include "thread/thread_service.hpp"

extern "C" int __real_main(int argc, char** argv, char** envp);

namespace {

// The program's main is over (status): the threads of its asyncs end first (their futures have
// their values, but they may still destroy their arguments: thread_service.hpp), then the runtime
// stops.
void finish_main(int status) {
  if (!drust::threads::wait_for_async_threads(std::chrono::seconds(10))) {
    std::fprintf(stderr, "drust: node 0: an async's thread had not ended 10 s after main returned; stopping anyway\n");
  }
  drust::runtime::node_runtime::instance().finish(status);
}

void finish_at_exit() { finish_main(0); }

// Debian's libfabric links the PSM libraries, and libinfinipath installs crash handlers when it
// is loaded, before main: they print a backtrace and exit(1), so a node killed by SIGSEGV or an
// uncaught exception would look like an ordinary exit. Put back the default action for the
// signals it took (only where its handler is the one installed), so crashes stay crashes.
void restore_crash_signals() {
  for (int signal_number : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    struct sigaction current {};
    if (::sigaction(signal_number, nullptr, &current) != 0) continue;
    void* handler = (current.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(current.sa_sigaction)
                                                    : reinterpret_cast<void*>(current.sa_handler);
    if (handler == reinterpret_cast<void*>(SIG_DFL) || handler == reinterpret_cast<void*>(SIG_IGN)) continue;
    Dl_info owner{};
    if (::dladdr(handler, &owner) != 0 && owner.dli_fname != nullptr &&
        (std::strstr(owner.dli_fname, "infinipath") != nullptr || std::strstr(owner.dli_fname, "libpsm") != nullptr)) {
      ::signal(signal_number, SIG_DFL);
    }
  }
}

}  // namespace

extern "C" int __wrap_main(int argc, char** argv, char** envp) {
  restore_crash_signals();
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex::Lock would also update a
  // lock-order graph for deadlock detection: a quarter of a cache miss's bookkeeping
  // (docs/PERFORMANCE.md). The clang -Wthread-safety pass checks the runtime's locking instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto& runtime = drust::runtime::node_runtime::instance();
  absl::StatusOr<drust::runtime::node_config> config = drust::runtime::node_config::from_environment();
  absl::Status started = config.ok() ? runtime.start(*config) : config.status();
  if (!started.ok()) {
    std::fprintf(stderr, "drust: node %s: cannot start: %s\n", std::getenv("DRUST_NODE") ? std::getenv("DRUST_NODE") : "0",
                 std::string(started.message()).c_str());
    return 1;
  }
  if (runtime.config().node != 0) {
    runtime.serve_until_shutdown();
    std::fflush(nullptr);
    // Threads of other nodes may still run here; static destructors must not race with them.
    std::_Exit(0);
  }
  // A main that calls exit() instead of returning still tells the controller.
  std::atexit(finish_at_exit);
  int status = __real_main(argc, argv, envp);
  finish_main(status);
  return status;
}
