// drust::std::shared_ptr across real nodes: copies everywhere, reads from the cache, drops in
// different orders, and the object destroyed exactly once at its home, with few count messages.
// Usage: shared_app <scenario> [arguments]
//   spread HOME   a make_shared object made on node HOME is shipped to threads on every node
//                 (several per node); each reads it (cache hits after the first read), makes many
//                 local copies (no message), ships one onward to the next node, and drops its
//                 copies in an order that depends on its node
//   stored        shared_ptrs stored inside a unique_ptr'd heap object: read and copied out on
//                 another node, dropped there (a handle counted by another node), the holder
//                 moved and destroyed on a third node; a shared object that holds a shared_ptr
//   weak          weak_ptrs on every node: lock() works while the object lives, and after it is
//                 destroyed lock() is empty and expired() true on every node
// Afterwards every node waits until it has settled (its heap back to where it started, no
// reference held, the counter object destroyed exactly once at its home and nowhere else; frees
// and releases are batched, so this is polled with a deadline) and prints its counters:
//   settled node=N destroyed=D ... acquire_messages=A release_messages=R
// A check that fails throws, which ends the job with a message; main prints "result ok".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/thread>

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

void require(bool condition, const std::string& what) {
  if (!condition) throw std::runtime_error("check failed on node " + std::to_string(drust::node_id()) + ": " + what);
}

// Per node (each node is its own process).
std::atomic<long> destroyed_here{0};
std::atomic<std::uint64_t> baseline_live{0};

constexpr long payload_words = 7;

// The shared object: counts its destructor runs on the node that runs them.
struct counted_object {
  long value = 0;
  long payload[payload_words] = {};
  explicit counted_object(long v) : value(v) {
    for (long i = 0; i < payload_words; ++i) payload[i] = v * 31 + i;
  }
  ~counted_object() { destroyed_here.fetch_add(1); }
  bool intact(long expected) const {
    if (value != expected) return false;
    for (long i = 0; i < payload_words; ++i) {
      if (payload[i] != expected * 31 + i) return false;
    }
    return true;
  }
};

using shared_object = dstd::shared_ptr<const counted_object>;

struct holder {
  shared_object first;
  shared_object second;
  long tag = 0;
};

constexpr int threads_per_node = 3;
constexpr int local_copies = 50;
// Count messages one node may send in a scenario: a few per thread that arrives, never one per
// copy (local_copies * threads_per_node would be 150).
constexpr std::uint64_t message_bound = 20;

}  // namespace

template <>
inline constexpr bool drust::enable_relocatable<counted_object> = true;

namespace {

// ---------------------------------------------------------------------------------------------
// Baselines and the final report

void record_baseline() { baseline_live.store(drust::stats().live_objects); }

void settle_and_report(int home, long expected_destroyed) {
  const long expected_here = drust::node_id() == home ? expected_destroyed : 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  drust::runtime_stats s = drust::stats();
  while (std::chrono::steady_clock::now() < deadline) {
    s = drust::stats();
    if (s.live_objects == baseline_live.load() && s.shared_references == 0 && s.shared_releases_pending == 0 &&
        destroyed_here.load() == expected_here) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::printf("settled node=%d destroyed=%ld live=%" PRIu64 " baseline=%" PRIu64 " references=%" PRIu64
              " acquire_messages=%" PRIu64 " release_messages=%" PRIu64 " received=%" PRIu64 " shared_destroyed=%" PRIu64
              " cache_hits=%" PRIu64 "\n",
              drust::node_id(), destroyed_here.load(), s.live_objects, baseline_live.load(), s.shared_references,
              s.shared_acquire_messages, s.shared_release_messages, s.shared_messages_received, s.shared_objects_destroyed,
              s.cache_hits);
  std::fflush(stdout);
  require(destroyed_here.load() == expected_here, "the object was destroyed exactly once, at its home");
  require(s.live_objects == baseline_live.load(), "every block of this node was freed");
  require(s.shared_references == 0, "this node holds no reference any more");
  require(s.shared_acquire_messages + s.shared_release_messages <= message_bound, "a bounded number of count messages");
}

void on_every_node(void (*work)(int, long), int home, long expected) {
  std::vector<dstd::thread> threads;
  for (int node = 0; node < drust::num_nodes(); ++node) threads.emplace_back(drust::on(node), work, home, expected);
  for (auto& thread : threads) thread.join();
}

void baselines() {
  std::vector<dstd::thread> threads;
  for (int node = 0; node < drust::num_nodes(); ++node) threads.emplace_back(drust::on(node), record_baseline);
  for (auto& thread : threads) thread.join();
}

// ---------------------------------------------------------------------------------------------
// spread

void use_copy(shared_object p, long expected, int hop, int delay_ms) {
  const int node = drust::node_id();
  // Reads: the first one of a remote object fills the cache, the others hit.
  const drust::runtime_stats before_reads = drust::stats();
  for (int i = 0; i < 100; ++i) require(p->intact(expected), "the shared object reads back");
  const drust::runtime_stats after_reads = drust::stats();
  if (!p.is_local()) require(after_reads.cache_hits - before_reads.cache_hits >= 99, "reads after the first hit the cache");

  // Local copies send nothing (other threads of this node may send meanwhile, so this is checked
  // by the bound at the end, and alone in the weak scenario).
  std::vector<shared_object> copies;
  for (int i = 0; i < local_copies; ++i) copies.push_back(i % 2 == 0 ? p : copies.back());
  for (const auto& copy : copies) require(copy->intact(expected) && copy == p, "a copy reads the same object");
  if (hop == 0) require(p.use_count() >= local_copies + 1, "use_count counts this node's copies");

  if (hop == 0) {
    // One copy travels on, from a node that may not be the home.
    dstd::thread next(drust::on((node + 1) % drust::num_nodes()), use_copy, copies[7], expected, 1, delay_ms / 2);
    if (node % 2 == 0) {  // some nodes drop everything before the onward thread ends
      copies.clear();
      p.reset();
    }
    next.join();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  if (node % 2 == 1) std::reverse(copies.begin(), copies.end());
  while (!copies.empty()) copies.pop_back();
}

void create_and_spread(long value) {
  auto shared = dstd::make_shared<const counted_object>(value);
  require(shared.is_local(), "make_shared places the object on its maker's node");
  std::vector<dstd::thread> threads;
  for (int node = 0; node < drust::num_nodes(); ++node) {
    for (int t = 0; t < threads_per_node; ++t) {
      threads.emplace_back(drust::on(node), use_copy, shared, value, 0, (node * 7 + t * 13) % 20);
    }
  }
  shared.reset();  // the maker lets go first: the threads' copies keep the object
  for (auto& thread : threads) thread.join();
}

int run_spread(int home) {
  require(home >= 0 && home < drust::num_nodes(), "HOME is a node of the job");
  baselines();
  dstd::thread(drust::on(home), create_and_spread, 42L).join();
  on_every_node(settle_and_report, home, 1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// stored

void drop_on_final_node(dstd::unique_ptr<holder> box, dstd::shared_ptr<const holder> outer, long expected) {
  require(std::as_const(box)->first->intact(expected), "the stored handle reads here");
  require(outer->first->intact(expected), "the handle inside a shared object reads here");
  // box goes out of scope here: its first handle is counted by node 0 (where it was stored).
}

void visit_holder(dstd::unique_ptr<holder> box, long expected, int final_node) {
  require(std::as_const(box)->tag == 1 && std::as_const(box)->first->intact(expected), "stored handles read through the cache");
  // Copied out: this node's own reference.
  shared_object mine = std::as_const(box)->first;
  require(mine.use_count() >= 2, "the copied-out handle shares the object");
  // A write moves the holder here; dropping a stored handle releases it where it is counted.
  box->second.reset();
  box->tag = 2;
  require(!std::as_const(box)->second && std::as_const(box)->first == mine, "the holder was written");
  // A shared object holding a shared_ptr, made here: destroyed here when its last copy goes.
  auto outer = dstd::make_shared<const holder>(holder{mine, shared_object(), 3});
  dstd::thread(drust::on(final_node), drop_on_final_node, std::move(box), outer, expected).join();
  require(!box, "the holder went to the final node");
}

int run_stored() {
  baselines();
  const int visitor = 1 % drust::num_nodes();
  const int final_node = drust::num_nodes() > 2 ? 2 : 0;
  {
    auto shared = dstd::make_shared<const counted_object>(77L);
    auto box = dstd::make_unique<holder>(holder{shared, shared, 1});
    require(shared.use_count() == 3, "two stored copies and this one");
    dstd::thread(drust::on(visitor), visit_holder, std::move(box), 77L, final_node).join();
  }
  on_every_node(settle_and_report, 0, 1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// weak

void lock_weak(dstd::weak_ptr<const counted_object> weak, long expected, bool alive) {
  dstd::weak_ptr<const counted_object> copy = weak;
  shared_object locked = copy.lock();
  if (alive) {
    require(locked && locked->intact(expected), "lock() gives the live object");
    // This thread is alone on its node: copies of a handle this node holds send nothing at all.
    const drust::runtime_stats before_copies = drust::stats();
    std::vector<shared_object> copies(local_copies, locked);
    std::vector<dstd::weak_ptr<const counted_object>> weak_copies(local_copies, copy);
    for (const auto& weak_copy : weak_copies) require(weak_copy.lock() == locked, "a weak copy locks");
    copies.resize(1);
    weak_copies.clear();
    const drust::runtime_stats after_copies = drust::stats();
    require(after_copies.shared_acquire_messages == before_copies.shared_acquire_messages &&
                after_copies.shared_release_messages == before_copies.shared_release_messages &&
                after_copies.shared_releases_pending == before_copies.shared_releases_pending,
            "local copies send no message");
    require(!weak.expired() && weak.use_count() >= 1, "a live object is not expired");
    shared_object again(weak);
    require(again == locked, "shared_ptr(weak) shares it too");
  } else {
    require(!locked, "lock() is empty once the object is gone");
    require(weak.expired() && weak.use_count() == 0, "expired() once the object is gone");
    bool threw = false;
    try {
      shared_object refused(weak);
    } catch (const std::bad_weak_ptr&) {
      threw = true;
    }
    require(threw, "shared_ptr(expired weak_ptr) throws std::bad_weak_ptr");
  }
}

int run_weak() {
  baselines();
  auto shared = dstd::make_shared<const counted_object>(5L);
  dstd::weak_ptr<const counted_object> weak = shared;
  for (int node = 0; node < drust::num_nodes(); ++node) dstd::thread(drust::on(node), lock_weak, weak, 5L, true).join();
  shared.reset();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (destroyed_here.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  require(destroyed_here.load() == 1, "the object was destroyed when the last shared_ptr went");
  for (int node = 0; node < drust::num_nodes(); ++node) dstd::thread(drust::on(node), lock_weak, weak, 5L, false).join();
  weak.reset();
  on_every_node(settle_and_report, 0, 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  int status = 2;
  if (scenario == "spread" && argc > 2) {
    status = run_spread(std::stoi(argv[2]));
  } else if (scenario == "stored") {
    status = run_stored();
  } else if (scenario == "weak") {
    status = run_weak();
  } else {
    std::fprintf(stderr, "usage: %s spread HOME | stored | weak\n", argv[0]);
    return 2;
  }
  if (status == 0) std::printf("result ok\n");
  return status;
}
