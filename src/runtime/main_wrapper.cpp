// The program's real entry point. drust programs link with -Wl,--wrap=main (the pkg-config file
// and the meson dependency add it), so the C runtime calls __wrap_main, which starts the node
// runtime and then either runs the program's main (node 0, or a run without drun) or serves the
// other nodes until the job ends. The program itself needs no extra call.
#include <cstdio>
#include <cstdlib>

#include "runtime/node_runtime.hpp"

extern "C" int __real_main(int argc, char** argv, char** envp);

namespace {

void finish_at_exit() { drust::runtime::node_runtime::instance().finish(0); }

}  // namespace

extern "C" int __wrap_main(int argc, char** argv, char** envp) {
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
  runtime.finish(status);
  return status;
}
