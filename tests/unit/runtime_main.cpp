// The main of the unit tests that use drust's handles: it starts this process's node runtime (a
// one-node cluster, or the node drun's environment describes) before running the doctest cases.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "runtime/node_runtime.hpp"

int main(int argc, char** argv) {
  auto config = drust::runtime::node_config::from_environment();
  absl::Status started = config.ok() ? drust::runtime::node_runtime::instance().start(*config) : config.status();
  if (!started.ok()) {
    std::fprintf(stderr, "cannot start the node runtime: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
