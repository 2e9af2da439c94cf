// Prints where node 0 runs, then sleeps: a job that stays up long enough to be poked at.
// Usage: sleeper_app [milliseconds] [ignore-sigterm]   (default 60000; with ignore-sigterm, node 0
// ignores SIGTERM, as a program stuck where it cannot act on it would)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include <drust/runtime>

#ifndef SLEEPER_VARIANT
#define SLEEPER_VARIANT "first build"
#endif

int main(int argc, char** argv) {
  if (argc > 2 && std::string_view(argv[2]) == "ignore-sigterm") ::signal(SIGTERM, SIG_IGN);
  const char* controller = std::getenv("DRUST_CONTROLLER");
  std::printf("sleeper (%s): node %d of %d pid %d controller %s\n", SLEEPER_VARIANT, drust::node_id(),
              drust::num_nodes(), static_cast<int>(::getpid()), controller != nullptr ? controller : "none");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(argc > 1 ? std::atol(argv[1]) : 60000));
  return 0;
}
