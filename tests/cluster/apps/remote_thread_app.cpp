// Starts one thread on every other node; each prints where it runs, waits a little, and leaves a
// marker file; main joins each and checks the marker is there, proving join waited for the end.
// Usage: remote_thread_app <marker-directory>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <drust/runtime>
#include <drust/std/thread>

namespace {

struct marker_path {
  char text[512];
};

void remote_work(marker_path marker, int expected_node) {
  drust::runtime_stats here = drust::stats();
  std::printf("thread node=%d pid=%d expected=%d heap=%llu+%llu\n", drust::node_id(), static_cast<int>(::getpid()),
              expected_node, static_cast<unsigned long long>(here.heap_begin), static_cast<unsigned long long>(here.heap_bytes));
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::ofstream(marker.text) << drust::node_id();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <marker-directory>\n", argv[0]);
    return 2;
  }
  std::printf("main node=%d pid=%d nodes=%d\n", drust::node_id(), static_cast<int>(::getpid()), drust::num_nodes());
  std::fflush(stdout);
  int failures = 0;
  for (int node = 1; node < drust::num_nodes(); ++node) {
    marker_path marker{};
    std::snprintf(marker.text, sizeof marker.text, "%s/node%d", argv[1], node);
    drust::std::thread t(drust::on(node), remote_work, marker, node);
    if (!t.joinable()) ++failures;
    t.join();
    std::ifstream written(marker.text);
    int from = -1;
    written >> from;
    std::printf("joined node=%d marker_from=%d\n", node, from);
    if (from != node) ++failures;
  }
  std::printf("result failures=%d\n", failures);
  return failures == 0 ? 0 : 1;
}
