// heap-bench: what drust's global heap handles cost, side by side with their baselines, in one run.
// Run it under drun on two nodes: `drun -n 2 [--provider P] build/samples/bench/heap-bench [ROUNDS]
// [ROWS...]`, ROWS among deref, shuffled, hit, miss, move (all by default; naming some skips the
// setup only the others need, e.g. `heap-bench 30 miss` to profile misses alone).
//
//   deref      a pointer-chasing walk over a list of local objects: drust::std::unique_ptr
//              (const access) against std::unique_ptr; one list on pages the heap never used
//              (words at colour 0) and one on pages of freed objects (coloured words, as in a
//              program that has freed objects before)
//   hit        the same walk over a list homed on node 1, every element already in node 0's
//              cache, against the local drust walk: a short list (1000 elements, within the
//              thread's recent-borrow table) and the long one (100 000: every step pins through
//              the shared read cache)
//   shuffled   the deref walk over lists linked in random order (1M elements: memory latency)
//   miss       a read of a remote 64 B / 4 KiB object that is not cached (one one-sided read into
//              the cache) against a one-sided read of the same size through drust's transport,
//              which transport-bench compares with raw fi_read; both sides read objects never
//              read before, into the copy (drust) or one scratch buffer (baseline); the 4 KiB miss
//              is also set against a read into a destination as cold as the read cache's copies
//              (each read into the next 4 KiB of an 8 MiB ring, the read cache's size under
//              `drun --cache 16M`): what a raw fi_read pays when it too fills a cache of copies
//   move       a mutable borrow of a remote 4 KiB object (it moves here) against a one-sided
//              read of 4 KiB
//
// Rounds alternate the two sides (the order flips every round; the 4 KiB miss and its two
// baselines rotate) so that noise hits both; the
// table shows, per operation, the median of per-round means for the walks and the median of every
// operation timed alone for the one-sided rows (miss, move), and their ratio; then the one-sided
// rows as medians of per-round means, and their tails (p50, p90, p99) with the page faults each
// operation took on average. It asserts nothing.
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/thread>

#include "runtime/node_runtime.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// The value below which a fraction `q` of `values` lies (nearest rank).
double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size()));
  return values[std::min(values.size() - 1, rank)];
}

double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

// The median of the means of consecutive batches of `batch` values (one batch per round).
double median_of_batch_means(const std::vector<double>& values, int batch) {
  std::vector<double> means;
  for (std::size_t start = 0; start + static_cast<std::size_t>(batch) <= values.size(); start += static_cast<std::size_t>(batch)) {
    double sum = 0;
    for (std::size_t i = start; i < start + static_cast<std::size_t>(batch); ++i) sum += values[i];
    means.push_back(sum / batch);
  }
  return median(std::move(means));
}

template <class F>
double time_ns(F&& f, double per) {
  const auto start = clock_type::now();
  f();
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / per;
}

// Minor page faults this thread has taken so far.
long thread_faults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Page faults taken while timing each series (time_each), by series.
std::map<const std::vector<double>*, long> faults_of;

// Times each of `count` calls of `op` on its own and appends the times (ns) to `per_operation`,
// and the page faults taken meanwhile to faults_of[&per_operation].
// For the one-sided rows (microseconds each): on a loaded machine a batch mean absorbs every time
// the process is descheduled, while the median operation does not (two clock reads per operation,
// ~20-40 ns, land on both sides alike).
template <class F>
void time_each(std::vector<double>& per_operation, int count, F&& op) {
  const long faults_before = thread_faults();
  for (int i = 0; i < count; ++i) {
    const auto start = clock_type::now();
    op();
    per_operation.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - start).count());
  }
  faults_of[&per_operation] += thread_faults() - faults_before;
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

// How many of the list's words carry a colour above 0.
int coloured_words(const drust::std::unique_ptr<drust_node>& head) {
  int coloured = 0;
  for (const auto* link = &head; *link; link = &link->get()->next) coloured += drust::detail::colour_of(link->word()) != 0;
  return coloured;
}

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
  if (length == 0) return Pointer();
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

void build_on_node1(int length, int short_list_length, int small_count, int page_count, int warm_count) {
  drust::std::thread(drust::on(0), keep_list, make_drust_list(length)).join();
  drust::std::thread(drust::on(0), keep_short_list, make_drust_list(short_list_length)).join();
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
  // heap-bench [ROUNDS] [ROWS...]: the first argument is the round count when it is a number.
  const bool rounds_given = argc > 1 && std::isdigit(static_cast<unsigned char>(argv[1][0])) != 0;
  const int rounds = rounds_given ? std::max(3, std::atoi(argv[1])) : 9;
  const std::vector<std::string> row_names = {"deref", "shuffled", "hit", "miss", "move"};
  std::vector<std::string> chosen(argv + (rounds_given ? 2 : 1), argv + argc);
  for (const std::string& name : chosen) {
    if (std::find(row_names.begin(), row_names.end(), name) == row_names.end()) {
      std::fprintf(stderr, "heap-bench: unknown row '%s'; rows are deref, shuffled, hit, miss, move\n", name.c_str());
      return 2;
    }
  }
  auto wanted = [&](const char* name) { return chosen.empty() || std::find(chosen.begin(), chosen.end(), name) != chosen.end(); };
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
  // Lists only for the rows that walk them (a list of 0 elements is empty).
  const int remote_length = wanted("hit") ? list_length : 0;
  const int local_length = wanted("deref") || wanted("hit") ? list_length : 0;
  const int short_length_here = wanted("hit") ? short_length : 0;
  const int shuffled_length_here = wanted("shuffled") ? shuffled_length : 0;
  // The deref rows walk two local lists: one on pages this node's heap never used (every word at
  // colour 0, so the word is the address as it stands), and one built below on pages that freed
  // objects used before (colours above 0: each step masks the colour off).
  auto fresh_list = make_drust_list(wanted("deref") ? list_length : 0);
  const auto& fresh_view = std::as_const(fresh_list);
  drust::std::thread(drust::on(1), build_on_node1, remote_length, short_length_here, miss_batch * rounds * 2,
                     miss_batch * rounds * 5, warm_pages).join();
  for (const auto& page : remote_warm) sink = std::as_const(page)->bytes[0];
  {
    std::vector<drust::std::unique_ptr<page_object>> recycled;
    for (int i = 0; i < miss_batch * rounds; ++i) recycled.push_back(drust::std::make_unique<page_object>());
  }

  auto local_list = make_drust_list(local_length);
  std::unique_ptr<std_node> std_list;
  for (int i = 0; i < local_length; ++i) std_list = std::make_unique<std_node>(std_node{i, std::move(std_list)});
  const auto& local_view = std::as_const(local_list);
  const auto& remote_view = std::as_const(remote_list);
  sink = walk(remote_view);  // fill the cache: the hit rows walk a fully cached list
  auto short_list = make_drust_list(short_length_here);
  const auto& short_view = std::as_const(short_list);
  const auto& remote_short_view = std::as_const(remote_short_list);
  sink = walk(remote_short_view);
  auto shuffled_drust = make_shuffled_list<drust::std::unique_ptr<drust_node>>(
      shuffled_length_here, [](int i) { return drust::std::make_unique<drust_node>(drust_node{i, {}}); });
  auto shuffled_std = make_shuffled_list<std::unique_ptr<std_node>>(
      shuffled_length_here, [](int i) { return std::make_unique<std_node>(std_node{i, {}}); });
  const auto& shuffled_view = std::as_const(shuffled_drust);

  // Scratch memory for the fabric reads: inside this node's partition (registered).
  auto scratch = drust::std::make_unique<page_object>();
  void* scratch_bytes = scratch.get();
  // The cold destinations: written once first, so that no read pays a page fault.
  constexpr std::size_t cold_ring_pages = 2048;
  std::vector<char> cold_ring(cold_ring_pages * 4096, 1);
  std::size_t cold_next = 0;
  auto cold_destination = [&] { return cold_ring.data() + 4096 * (cold_next++ % cold_ring_pages); };

  std::vector<double> shuffled_d, shuffled_s, short_hit, short_local;
  std::vector<double> deref_fresh, deref_drust, deref_std, hit_drust, hit_local, miss64, read64, miss4k, read4k, read4k_cold, move4k, read4k_b;
  int small_next = 0, page_next = 0;
  // The baselines read objects never read before too (the same cold state as a miss).
  auto fresh_small = [&] { return drust::detail::address_of(remote_small[static_cast<std::size_t>(small_next++)].word()); };
  auto fresh_page = [&] { return drust::detail::address_of(remote_pages[static_cast<std::size_t>(page_next++)].word()); };
  for (int round = 0; round < rounds; ++round) {
    const bool flip = round % 2 == 1;
    auto a = [&] { deref_drust.push_back(time_ns([&] { sink = walk(local_view); }, list_length)); };
    auto b = [&] { deref_std.push_back(time_ns([&] { sink = walk(std_list); }, list_length)); };
    auto a0 = [&] { deref_fresh.push_back(time_ns([&] { sink = walk(fresh_view); }, list_length)); };
    if (wanted("deref")) {
      switch (round % 3) {
        case 0: a0(); a(); b(); break;
        case 1: a(); b(); a0(); break;
        default: b(); a0(); a(); break;
      }
    }
    auto c = [&] { hit_drust.push_back(time_ns([&] { sink = walk(remote_view); }, list_length)); };
    auto d = [&] { hit_local.push_back(time_ns([&] { sink = walk(local_view); }, list_length)); };
    if (wanted("hit")) { if (flip) { d(); c(); } else { c(); d(); } }

    auto sa = [&] { shuffled_d.push_back(time_ns([&] { sink = walk(shuffled_view); }, shuffled_length)); };
    auto sb = [&] { shuffled_s.push_back(time_ns([&] { sink = walk(shuffled_std); }, shuffled_length)); };
    if (wanted("shuffled")) { if (flip) { sb(); sa(); } else { sa(); sb(); } }
    auto ha = [&] { short_hit.push_back(time_ns([&] { for (int k = 0; k < 100; ++k) sink = walk(remote_short_view); }, 100.0 * short_length)); };
    auto hb = [&] { short_local.push_back(time_ns([&] { for (int k = 0; k < 100; ++k) sink = walk(short_view); }, 100.0 * short_length)); };
    if (wanted("hit")) { if (flip) { hb(); ha(); } else { ha(); hb(); } }

    // Misses: each object once, through a const handle (one fill per object).
    auto e = [&] {
      time_each(miss64, miss_batch, [&] { sink = std::as_const(remote_small[static_cast<std::size_t>(small_next++)])->bytes[0]; });
    };
    auto f = [&] { time_each(read64, miss_batch, [&] { (void)transport->read(1, scratch_bytes, 64, fresh_small()); }); };
    if (wanted("miss")) { if (flip) { f(); e(); } else { e(); f(); } }
    auto g = [&] {
      time_each(miss4k, miss_batch, [&] { sink = std::as_const(remote_pages[static_cast<std::size_t>(page_next++)])->bytes[0]; });
    };
    auto h = [&] { time_each(read4k, miss_batch, [&] { (void)transport->read(1, scratch_bytes, 4096, fresh_page()); }); };
    auto k = [&] {
      time_each(read4k_cold, miss_batch, [&] { (void)transport->read(1, cold_destination(), 4096, fresh_page()); });
    };
    if (wanted("miss")) {
      switch (round % 3) {
        case 0: g(); h(); k(); break;
        case 1: h(); k(); g(); break;
        default: k(); g(); h(); break;
      }
    }
    // Moves: a write through a non-const handle takes the remote object here.
    auto m = [&] { time_each(move4k, miss_batch, [&] { remote_pages[static_cast<std::size_t>(page_next++)]->bytes[0] = 1; }); };
    auto n = [&] { time_each(read4k_b, miss_batch, [&] { (void)transport->read(1, scratch_bytes, 4096, fresh_page()); }); };
    if (wanted("move")) { if (flip) { n(); m(); } else { m(); n(); } }
  }

  std::vector<row> all_rows = {
      {"deref (pointer chase, local, fresh pages)", "drust::std::unique_ptr", median(deref_fresh), "std::unique_ptr", median(deref_std)},
      {"deref (pointer chase, local, reused pages)", "drust::std::unique_ptr", median(deref_drust), "std::unique_ptr", median(deref_std)},
      {"deref (pointer chase, shuffled 1M)", "drust::std::unique_ptr", median(shuffled_d), "std::unique_ptr", median(shuffled_s)},
      {"cache hit (pointer chase, 1000)", "remote list, cached", median(short_hit), "local drust list", median(short_local)},
      {"cache hit (pointer chase, 100 000)", "remote list, cached", median(hit_drust), "local drust list", median(hit_local)},
      {"remote read miss 64 B", "const unique_ptr access", median(miss64), "fi_read 64 B", median(read64)},
      {"remote read miss 4 KiB", "const unique_ptr access", median(miss4k), "fi_read 4 KiB", median(read4k)},
      {"remote read miss 4 KiB", "const unique_ptr access", median(miss4k), "fi_read 4 KiB, cold destination",
       median(read4k_cold)},
      {"move 4 KiB to the writer", "non-const unique_ptr access", median(move4k), "fi_read 4 KiB", median(read4k_b)},
  };
  // Each row by the name that selects it.
  const std::vector<std::string> row_of = {"deref", "deref", "shuffled", "hit", "hit", "miss", "miss", "miss", "move"};
  std::vector<row> rows;
  for (std::size_t i = 0; i < all_rows.size(); ++i) {
    if (wanted(row_of[i].c_str())) rows.push_back(all_rows[i]);
  }
  print(rows, provider.c_str());
  if (wanted("deref")) {
    std::printf("\nwords at a colour above 0: fresh pages %d of %d, reused pages %d of %d\n", coloured_words(fresh_list),
                list_length, coloured_words(local_list), list_length);
  }
  if (wanted("miss") || wanted("move")) {
    // The same operations as batch means (median over rounds): these include what the median
    // operation leaves out, the occasional slow one (descheduled, a page fault, a flush of frees).
    std::printf("\none-sided rows as the median of per-round means (ns)\n\n| operation | drust | baseline | ratio |\n|---|---:|---:|---:|\n");
    auto mean_row = [&](const char* operation, const std::vector<double>& drust_side, const std::vector<double>& baseline) {
      const double d = median_of_batch_means(drust_side, miss_batch), b = median_of_batch_means(baseline, miss_batch);
      std::printf("| %s | %.1f | %.1f | %.2fx |\n", operation, d, b, b > 0 ? d / b : 0);
    };
    if (wanted("miss")) {
      mean_row("remote read miss 64 B", miss64, read64);
      mean_row("remote read miss 4 KiB", miss4k, read4k);
      mean_row("remote read miss 4 KiB (cold destination)", miss4k, read4k_cold);
    }
    if (wanted("move")) mean_row("move 4 KiB to the writer", move4k, read4k_b);
    // The tails, which the median hides and the means blur: a slow operation every tenth or
    // hundredth (docs/PERFORMANCE.md, "The tails of a miss").
    std::printf("\none-sided operations' tails (ns) and page faults per operation\n\n"
                "| operation | p50 | p90 | p99 | faults |\n|---|---:|---:|---:|---:|\n");
    auto tail_row = [](const char* operation, const std::vector<double>& values) {
      const double faults = values.empty() ? 0 : static_cast<double>(faults_of[&values]) / static_cast<double>(values.size());
      std::printf("| %s | %.0f | %.0f | %.0f | %.3f |\n", operation, quantile(values, 0.5), quantile(values, 0.9),
                  quantile(values, 0.99), faults);
    };
    if (wanted("miss")) {
      tail_row("drust: remote read miss 64 B", miss64);
      tail_row("baseline: read 64 B", read64);
      tail_row("drust: remote read miss 4 KiB", miss4k);
      tail_row("baseline: read 4 KiB", read4k);
      tail_row("baseline: read 4 KiB, cold destination", read4k_cold);
    }
    if (wanted("move")) {
      tail_row("drust: move 4 KiB to the writer", move4k);
      tail_row("baseline: read 4 KiB (move rounds)", read4k_b);
    }
  }
  const drust::runtime_stats here = drust::stats();
  std::printf("\nnode 0: remote_reads=%" PRIu64 " cache_hits=%" PRIu64 " cache_misses=%" PRIu64 " moves=%" PRIu64 "\n",
              here.remote_reads, here.cache_hits, here.cache_misses, here.moves);
  // Long lists are taken apart one element at a time (their destructors would recurse as deep as
  // the list is long, with std::unique_ptr as with drust's).
  unlink(shuffled_drust);
  unlink(shuffled_std);
  unlink(local_list);
  unlink(fresh_list);
  unlink(std_list);
  unlink(remote_list);
  remote_short_list.reset();
  remote_small.clear();
  remote_pages.clear();
  return 0;
}
