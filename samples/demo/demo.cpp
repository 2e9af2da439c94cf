// The drust demo: one program, several node processes. Node 0 runs main and starts a thread on
// every node; each thread reports the process and the part of the global heap it lives in, and
// does a share of a computation. Then an object of the global heap, made on node 0, is read by a
// thread on every node (through each node's cache), moved to the last node by a write there, and
// read again; each thread prints its node's counters.
// Run with `./drust demo` or `drun -n 4 --tag-output drust-demo`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
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

// An object of the global heap: 4 KiB of numbers.
struct table {
  double values[512];
};

double total(const table& t) {
  double sum = 0;
  for (double v : t.values) sum += v;
  return sum;
}

std::uint64_t home_of(std::uint64_t word) {
  const drust::runtime_stats here = drust::stats();
  return (drust::detail::address_of(word) - 0x100000000000ull) / here.heap_bytes;
}

// Reads the table twice through a read borrow: the first read of a remote table copies it into
// this node's cache (one one-sided read), the second is a cache hit.
void read_table(drust::ref<drust::std::unique_ptr<table>> t) {
  const drust::runtime_stats before = drust::stats();
  const double first = total(**t), second = total(**t);
  const drust::runtime_stats after = drust::stats();
  std::printf("  node %d read the table (home: node %llu): total %.1f, %.1f; remote reads +%llu (%llu bytes), cache hits +%llu\n",
              drust::node_id(), static_cast<unsigned long long>(home_of((*t).word())), first, second,
              static_cast<unsigned long long>(after.remote_reads - before.remote_reads),
              static_cast<unsigned long long>(after.remote_read_bytes - before.remote_read_bytes),
              static_cast<unsigned long long>(after.cache_hits - before.cache_hits));
  std::fflush(stdout);
}

void read_everywhere(const drust::std::unique_ptr<drust::std::unique_ptr<table>>& t) {
  std::vector<drust::std::thread> readers;
  for (int node = 0; node < drust::num_nodes(); ++node) readers.emplace_back(drust::on(node), read_table, t.borrow());
  for (auto& reader : readers) reader.join();
}

// Takes the table, writes it (a mutable borrow: it moves here), and has every node read it again.
void write_table(drust::std::unique_ptr<drust::std::unique_ptr<table>> t) {
  const drust::runtime_stats before = drust::stats();
  table& mine = **t;  // non-const access: the table moves to this node
  for (double& v : mine.values) v *= 2;
  const drust::runtime_stats after = drust::stats();
  std::printf("  node %d wrote the table: it moved here (moves +%llu, %llu bytes); now at home on node %llu\n",
              drust::node_id(), static_cast<unsigned long long>(after.moves - before.moves),
              static_cast<unsigned long long>(after.move_bytes - before.move_bytes),
              static_cast<unsigned long long>(home_of(std::as_const(*t).word())));
  std::fflush(stdout);
  read_everywhere(t);
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


  std::printf("an object in the global heap, made on node 0, read on every node:\n");
  std::fflush(stdout);
  auto t = drust::std::make_unique<drust::std::unique_ptr<table>>(drust::std::make_unique<table>());
  for (int i = 0; i < 512; ++i) (*t)->values[i] = i;
  read_everywhere(t);
  std::printf("the last node takes it, writes it, and every node reads it again:\n");
  std::fflush(stdout);
  drust::std::thread writer(drust::on(nodes - 1), write_table, std::move(t));
  writer.join();

  drust::runtime_stats stats = drust::stats();
  std::printf("all %d threads joined; node 0 sent %llu and received %llu active messages\n", nodes,
              static_cast<unsigned long long>(stats.messages_sent), static_cast<unsigned long long>(stats.messages_received));
  return 0;
}
