// The drust demo: one program, several node processes. Node 0 runs main and starts a thread on
// every node; each thread reports the process and the part of the global heap it lives in, and
// does a share of a computation. Run with `./drust demo` or `drun -n 4 --tag-output drust-demo`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include <drust/runtime>
#include <drust/std/thread>

namespace {

constexpr long total_terms = 40'000'000;

// Sums 1/k^2 over this node's share of the terms (the sum of all shares approaches pi^2/6).
void compute_share(int node, int nodes) {
  char host[128] = {};
  ::gethostname(host, sizeof host - 1);
  auto start = std::chrono::steady_clock::now();
  double sum = 0;
  for (long k = node + 1; k <= total_terms; k += nodes) sum += 1.0 / (static_cast<double>(k) * static_cast<double>(k));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream id;
  id << drust::std::this_thread::get_id();
  drust::runtime_stats here = drust::stats();
  std::printf("thread %s running on node %d (pid %d, host %s), whose objects live at [%#llx, %#llx) in the global heap:"
              " share of the sum = %.12f (%lld ms)\n",
              id.str().c_str(), drust::node_id(), static_cast<int>(::getpid()), host,
              static_cast<unsigned long long>(here.heap_begin),
              static_cast<unsigned long long>(here.heap_begin + here.heap_bytes), sum, static_cast<long long>(ms));
  std::fflush(stdout);
}

}  // namespace

int main() {
  const int nodes = drust::num_nodes();
  std::printf("drust demo: main runs on node %d of %d (pid %d); the cluster has %u cores\n", drust::node_id(), nodes,
              static_cast<int>(::getpid()), drust::std::thread::hardware_concurrency());
  std::fflush(stdout);

  std::vector<drust::std::thread> threads;
  for (int node = 0; node < nodes; ++node) threads.emplace_back(drust::on(node), compute_share, node, nodes);
  for (auto& t : threads) t.join();

  drust::runtime_stats stats = drust::stats();
  std::printf("all %d threads joined; node 0 sent %llu and received %llu active messages\n", nodes,
              static_cast<unsigned long long>(stats.messages_sent), static_cast<unsigned long long>(stats.messages_received));
  return 0;
}
