// heap-bench: what drust's global heap handles cost, side by side with their baselines, in one run.
// Run it under drun on two nodes: `drun -n 2 [--provider P] build/samples/bench/heap-bench`.
//
//   deref      a pointer-chasing walk over a list of local objects: drust::std::unique_ptr
//              (const access) against std::unique_ptr
//   hit        the same walk over a list homed on node 1, every element already in node 0's
//              cache, against the local drust walk: a short list (1000 elements, within the
//              thread's recent-borrow table) and the long one (100 000: every step pins through
//              the shared read cache)
//   shuffled   the deref walk over lists linked in random order (1M elements: memory latency)
//   miss       a read of a remote 64 B / 4 KiB object that is not cached (one one-sided read into
//              the cache) against a one-sided read of the same size through drust's transport,
//              which transport-bench compares with raw fi_read; both sides read objects never
//              read before, into the copy (drust) or one scratch buffer (baseline)
//   move       a mutable borrow of a remote 4 KiB object (it moves here) against a one-sided
//              read of 4 KiB
//
// Rounds alternate the two sides (the order flips every round) so that noise hits both; the
// table shows medians of per-round times per operation and their ratio. It asserts nothing.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/thread>

#include "runtime/node_runtime.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

template <class F>
double time_ns(F&& f, double per) {
  const auto start = clock_type::now();
  f();
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / per;
}

volatile std::int64_t sink;

// ---------------------------------------------------------------------------------------------
// Lists

struct drust_node {
  std::int64_t value;
  drust::std::unique_ptr<drust_node> next;
};
struct std_node {
  std::int64_t value;
  std::unique_ptr<std_node> next;
};

template <class Pointer>
std::int64_t walk(const Pointer& head) {
  std::int64_t sum = 0;
  for (auto* n = head.get(); n != nullptr; n = n->next.get()) sum += n->value;
  return sum;
}

constexpr int list_length = 100000;

drust::std::unique_ptr<drust_node> make_drust_list(int length) {
  drust::std::unique_ptr<drust_node> head;
  for (int i = 0; i < length; ++i) head = drust::std::make_unique<drust_node>(drust_node{i, std::move(head)});
  return head;
}

template <class Pointer, class Make>
Pointer make_shuffled_list(int length, Make make) {
  std::vector<Pointer> nodes;
  nodes.reserve(static_cast<std::size_t>(length));
  for (int i = 0; i < length; ++i) nodes.push_back(make(i));
  std::mt19937_64 random(42);
  std::shuffle(nodes.begin(), nodes.end(), random);
  for (int i = length - 1; i > 0; --i) nodes[static_cast<std::size_t>(i - 1)]->next = std::move(nodes[static_cast<std::size_t>(i)]);
  return std::move(nodes[0]);
}

template <class Pointer>
void unlink(Pointer& head) {
  while (head) {
    auto next = std::move(head->next);
    head = std::move(next);
  }
}

constexpr int short_length = 1000;
constexpr int shuffled_length = 1000000;

// Objects made on node 1 and handed to node 0 (a global of node 0's process).
drust::std::unique_ptr<drust_node> remote_list;
drust::std::unique_ptr<drust_node> remote_short_list;
struct small_object {
  char bytes[64];
};
struct page_object {
  char bytes[4096];
};
std::vector<drust::std::unique_ptr<small_object>> remote_small;
std::vector<drust::std::unique_ptr<page_object>> remote_pages;

void keep_list(drust::std::unique_ptr<drust_node> list) { remote_list = std::move(list); }
void keep_short_list(drust::std::unique_ptr<drust_node> list) { remote_short_list = std::move(list); }
void keep_small(drust::std::unique_ptr<small_object> object) { remote_small.push_back(std::move(object)); }
void keep_page(drust::std::unique_ptr<page_object> object) { remote_pages.push_back(std::move(object)); }

std::vector<drust::std::unique_ptr<page_object>> remote_warm;
void keep_warm(drust::std::unique_ptr<page_object> object) { remote_warm.push_back(std::move(object)); }

void build_on_node1(int length, int small_count, int page_count, int warm_count) {
  drust::std::thread(drust::on(0), keep_list, make_drust_list(length)).join();
  drust::std::thread(drust::on(0), keep_short_list, make_drust_list(short_length)).join();
  for (int i = 0; i < small_count; ++i) {
    drust::std::thread(drust::on(0), keep_small, drust::std::make_unique<small_object>()).join();
  }
  for (int i = 0; i < page_count; ++i) {
    drust::std::thread(drust::on(0), keep_page, drust::std::make_unique<page_object>()).join();
  }
  for (int i = 0; i < warm_count; ++i) {
    drust::std::thread(drust::on(0), keep_warm, drust::std::make_unique<page_object>()).join();
  }
}

struct row {
  std::string operation;
  std::string drust_side;
  double drust_ns;
  std::string baseline;
  double baseline_ns;
};

void print(const std::vector<row>& rows, const char* provider) {
  std::printf("\nheap-bench, provider %s, medians per operation (ns)\n\n", provider);
  std::printf("| operation | drust | ns | baseline | ns | ratio |\n|---|---|---:|---|---:|---:|\n");
  for (const row& r : rows) {
    std::printf("| %s | %s | %.1f | %s | %.1f | %.2fx |\n", r.operation.c_str(), r.drust_side.c_str(), r.drust_ns,
                r.baseline.c_str(), r.baseline_ns, r.baseline_ns > 0 ? r.drust_ns / r.baseline_ns : 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(3, std::atoi(argv[1])) : 9;
  if (drust::num_nodes() < 2) {
    std::fprintf(stderr, "heap-bench needs two nodes: drun -n 2 %s\n", argv[0]);
    return 2;
  }
  auto& runtime = drust::runtime::node_runtime::instance();
  drust::fabric::transport* transport = runtime.transport();
  const std::string provider(transport->provider().name);
  std::printf("heap-bench: %d rounds, list of %d elements, provider %s\n", rounds, list_length, provider.c_str());
  std::fflush(stdout);

  // Enough remote objects that every timed miss reads an object not read before.
  const int miss_batch = 500;
  // Steady state, as in a program that has run a while: the read cache is full (run with
  // `drun --cache 16M`), so copies of misses reuse memory of evicted ones, and this node's heap
  // has freed blocks for moved objects to reuse. A page never touched before costs a page fault
  // (several microseconds in a virtual machine) on top of any read into it.
  const int warm_pages = 5000;
  drust::std::thread(drust::on(1), build_on_node1, list_length, miss_batch * rounds * 2, miss_batch * rounds * 4,
                     warm_pages).join();
  for (const auto& page : remote_warm) sink = std::as_const(page)->bytes[0];
  {
    std::vector<drust::std::unique_ptr<page_object>> recycled;
    for (int i = 0; i < miss_batch * rounds; ++i) recycled.push_back(drust::std::make_unique<page_object>());
  }

  auto local_list = make_drust_list(list_length);
  std::unique_ptr<std_node> std_list;
  for (int i = 0; i < list_length; ++i) std_list = std::make_unique<std_node>(std_node{i, std::move(std_list)});
  const auto& local_view = std::as_const(local_list);
  const auto& remote_view = std::as_const(remote_list);
  sink = walk(remote_view);  // fill the cache: the hit rows walk a fully cached list
  auto short_list = make_drust_list(short_length);
  const auto& short_view = std::as_const(short_list);
  const auto& remote_short_view = std::as_const(remote_short_list);
  sink = walk(remote_short_view);
  auto shuffled_drust = make_shuffled_list<drust::std::unique_ptr<drust_node>>(
      shuffled_length, [](int i) { return drust::std::make_unique<drust_node>(drust_node{i, {}}); });
  auto shuffled_std = make_shuffled_list<std::unique_ptr<std_node>>(
      shuffled_length, [](int i) { return std::make_unique<std_node>(std_node{i, {}}); });
  const auto& shuffled_view = std::as_const(shuffled_drust);

  // Scratch memory for the fabric reads: inside this node's partition (registered).
  auto scratch = drust::std::make_unique<page_object>();
  void* scratch_bytes = scratch.get();

  std::vector<double> shuffled_d, shuffled_s, short_hit, short_local;
  std::vector<double> deref_drust, deref_std, hit_drust, hit_local, miss64, read64, miss4k, read4k, move4k, read4k_b;
  int small_next = 0, page_next = 0;
  // The baselines read objects never read before too (the same cold state as a miss).
  auto fresh_small = [&] { return drust::detail::address_of(remote_small[static_cast<std::size_t>(small_next++)].word()); };
  auto fresh_page = [&] { return drust::detail::address_of(remote_pages[static_cast<std::size_t>(page_next++)].word()); };
  for (int round = 0; round < rounds; ++round) {
    const bool flip = round % 2 == 1;
    auto a = [&] { deref_drust.push_back(time_ns([&] { sink = walk(local_view); }, list_length)); };
    auto b = [&] { deref_std.push_back(time_ns([&] { sink = walk(std_list); }, list_length)); };
    if (flip) { b(); a(); } else { a(); b(); }
    auto c = [&] { hit_drust.push_back(time_ns([&] { sink = walk(remote_view); }, list_length)); };
    auto d = [&] { hit_local.push_back(time_ns([&] { sink = walk(local_view); }, list_length)); };
    if (flip) { d(); c(); } else { c(); d(); }

    auto sa = [&] { shuffled_d.push_back(time_ns([&] { sink = walk(shuffled_view); }, shuffled_length)); };
    auto sb = [&] { shuffled_s.push_back(time_ns([&] { sink = walk(shuffled_std); }, shuffled_length)); };
    if (flip) { sb(); sa(); } else { sa(); sb(); }
    auto ha = [&] { short_hit.push_back(time_ns([&] { for (int k = 0; k < 100; ++k) sink = walk(remote_short_view); }, 100.0 * short_length)); };
    auto hb = [&] { short_local.push_back(time_ns([&] { for (int k = 0; k < 100; ++k) sink = walk(short_view); }, 100.0 * short_length)); };
    if (flip) { hb(); ha(); } else { ha(); hb(); }

    // Misses: each object once, through a const handle (one fill per object).
    auto e = [&] {
      miss64.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) sink = std::as_const(remote_small[static_cast<std::size_t>(small_next++)])->bytes[0];
      }, miss_batch));
    };
    auto f = [&] {
      read64.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) (void)transport->read(1, scratch_bytes, 64, fresh_small());
      }, miss_batch));
    };
    if (flip) { f(); e(); } else { e(); f(); }
    auto g = [&] {
      miss4k.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) sink = std::as_const(remote_pages[static_cast<std::size_t>(page_next++)])->bytes[0];
      }, miss_batch));
    };
    auto h = [&] {
      read4k.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) (void)transport->read(1, scratch_bytes, 4096, fresh_page());
      }, miss_batch));
    };
    if (flip) { h(); g(); } else { g(); h(); }
    // Moves: a write through a non-const handle takes the remote object here.
    auto m = [&] {
      move4k.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) remote_pages[static_cast<std::size_t>(page_next++)]->bytes[0] = 1;
      }, miss_batch));
    };
    auto n = [&] {
      read4k_b.push_back(time_ns([&] {
        for (int i = 0; i < miss_batch; ++i) (void)transport->read(1, scratch_bytes, 4096, fresh_page());
      }, miss_batch));
    };
    if (flip) { n(); m(); } else { m(); n(); }
  }

  std::vector<row> rows = {
      {"deref (pointer chase, local)", "drust::std::unique_ptr", median(deref_drust), "std::unique_ptr", median(deref_std)},
      {"deref (pointer chase, shuffled 1M)", "drust::std::unique_ptr", median(shuffled_d), "std::unique_ptr", median(shuffled_s)},
      {"cache hit (pointer chase, 1000)", "remote list, cached", median(short_hit), "local drust list", median(short_local)},
      {"cache hit (pointer chase, 100 000)", "remote list, cached", median(hit_drust), "local drust list", median(hit_local)},
      {"remote read miss 64 B", "const unique_ptr access", median(miss64), "fi_read 64 B", median(read64)},
      {"remote read miss 4 KiB", "const unique_ptr access", median(miss4k), "fi_read 4 KiB", median(read4k)},
      {"move 4 KiB to the writer", "non-const unique_ptr access", median(move4k), "fi_read 4 KiB", median(read4k_b)},
  };
  print(rows, provider.c_str());
  const drust::runtime_stats here = drust::stats();
  std::printf("\nnode 0: remote_reads=%" PRIu64 " cache_hits=%" PRIu64 " cache_misses=%" PRIu64 " moves=%" PRIu64 "\n",
              here.remote_reads, here.cache_hits, here.cache_misses, here.moves);
  // Long lists are taken apart one element at a time (their destructors would recurse as deep as
  // the list is long, with std::unique_ptr as with drust's).
  unlink(shuffled_drust);
  unlink(shuffled_std);
  unlink(local_list);
  unlink(std_list);
  unlink(remote_list);
  remote_short_list.reset();
  remote_small.clear();
  remote_pages.clear();
  return 0;
}
