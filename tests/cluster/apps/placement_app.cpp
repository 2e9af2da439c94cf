// Where threads without drust::on land, on real nodes (run under drun -n 4 --cores 2). In turn:
//   affinity  a drust::std::unique_ptr whose object lives on node 2 (made there by an async),
//             given to a thread and to an async without drust::on: both run on node 2, although
//             they also get a small shared_ptr homed on node 0;
//   rounds    as a query engine does: each node holds an object, and in every round main starts,
//             per node, as many threads as it has cores, each given a shared_ptr to that node's
//             object, then joins them all before the next round. Each thread sleeps long enough
//             for its node's load report to count it, so the controller's table still shows every
//             node full when the next round starts: every thread must still run on its data's node
//             (this node's own count of the threads it started there says they have ended);
//   on        drust::on(n) is honoured for every node, whatever the load;
//   spread    main starts 12 threads at once (4 nodes x 2 cores, and 4 more), all waiting on one
//             latch until every one has started: each node gets its share, 3, before any load
//             report can tell main where the others went;
//   async rounds  as rounds, with asyncs whose threads take 400 ms to end after their value is
//             back (an argument slow to destroy): the next round, started at once, must still find
//             its data's node free, because an async whose value has arrived counts as ended.
// Each thread reports drust::node_id(); a check that fails throws, which ends the job with a
// message; main prints "result ok".
#include <array>
#include <bit>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <drust/codec>
#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/future>
#include <drust/std/latch>
#include <drust/std/memory>
#include <drust/std/thread>

namespace dstd = drust::std;

namespace {

void require(bool condition, const std::string& what) {
  if (!condition) throw std::runtime_error("check failed on node " + std::to_string(drust::node_id()) + ": " + what);
}

struct payload {
  std::array<char, 1024> bytes{};
};

dstd::unique_ptr<payload> payload_on_node_2() {
  auto made = dstd::async(drust::on(2), [] { return dstd::make_unique<payload>(); }).get();
  require(static_cast<bool>(made), "affinity: no payload came back");
  return made;
}

void run_affinity() {
  auto ran_on = dstd::make_shared<dstd::atomic<int>>(-1);
  dstd::thread thread([](dstd::unique_ptr<payload> data, dstd::shared_ptr<dstd::atomic<int>> where) {
    data->bytes[0] = 1;
    where->store(drust::node_id());
  }, payload_on_node_2(), ran_on);
  thread.join();
  std::printf("affinity thread node=%d\n", ran_on->load());
  require(ran_on->load() == 2, "affinity: the thread given node 2's object ran on node " + std::to_string(ran_on->load()));

  const int async_node = dstd::async([](dstd::unique_ptr<payload> data) {
    data->bytes[1] = 1;
    return drust::node_id();
  }, payload_on_node_2()).get();
  std::printf("affinity async node=%d\n", async_node);
  require(async_node == 2, "affinity: the async given node 2's object ran on node " + std::to_string(async_node));
}

// A payload made on `node`. By a thread that is joined, not by an async: an async's future is
// ready before its thread has ended, and until the thread's end reaches this node it still counts
// there; join returns only after that, so the counts the next scenario starts from are exact.
dstd::shared_ptr<const payload> shared_payload_on(int node) {
  dstd::promise<dstd::shared_ptr<const payload>> made;
  auto result = made.get_future();
  dstd::thread maker(drust::on(node), [](dstd::promise<dstd::shared_ptr<const payload>> promise) {
    promise.set_value(dstd::make_shared<const payload>());
  }, std::move(made));
  maker.join();
  return result.get();
}

// A payload on every node, by node.
std::vector<dstd::shared_ptr<const payload>> payloads_on_every_node() {
  std::vector<dstd::shared_ptr<const payload>> data;
  for (int node = 0; node < drust::num_nodes(); ++node) data.push_back(shared_payload_on(node));
  return data;
}

void run_rounds(int rounds, int threads_per_node) {
  const auto data = payloads_on_every_node();
  for (int round = 0; round < rounds; ++round) {
    std::vector<dstd::thread> threads;
    for (int node = 0; node < drust::num_nodes(); ++node) {
      for (int i = 0; i < threads_per_node; ++i) {
        threads.emplace_back([](dstd::shared_ptr<const payload> object, int round, int data_node) {
          // Long enough to appear in a load report (every 250 ms): a stale table, not a timing.
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          std::printf("rounds round=%d data=%d node=%d byte=%d\n", round, data_node, drust::node_id(),
                      object->bytes[0]);
        }, data[static_cast<std::size_t>(node)], round, node);
      }
    }
    for (auto& thread : threads) thread.join();
  }
}

// An argument that delays its thread's end: decoded on the node that runs the thread, it sleeps
// there when destroyed, after the async's value has gone back, before the thread's end is reported.
struct slow_to_destroy {
  bool decoded = false;
  slow_to_destroy() = default;
  slow_to_destroy(slow_to_destroy&& other) noexcept : decoded(std::exchange(other.decoded, false)) {}
  slow_to_destroy& operator=(slow_to_destroy&&) = delete;
  ~slow_to_destroy() {
    if (decoded) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
};

}  // namespace

template <>
struct drust::codec<slow_to_destroy> {
  static void encode(drust::encoder&, const slow_to_destroy&) {}
  static slow_to_destroy decode(drust::decoder&) {
    slow_to_destroy value;
    value.decoded = true;
    return value;
  }
};

namespace {

void run_async_rounds(int threads_per_node) {
  const auto data = payloads_on_every_node();
  for (int round = 0; round < 2; ++round) {
    std::vector<std::pair<int, dstd::future<int>>> results;
    for (int node = 1; node < drust::num_nodes(); ++node) {
      for (int i = 0; i < threads_per_node; ++i) {
        results.emplace_back(node, dstd::async([](dstd::shared_ptr<const payload> object, const slow_to_destroy&) {
          return object->bytes[0] + drust::node_id();
        }, data[static_cast<std::size_t>(node)], slow_to_destroy{}));
      }
    }
    for (auto& [data_node, result] : results) {
      const int ran = result.get();
      std::printf("async_rounds round=%d data=%d node=%d\n", round, data_node, ran);
      require(ran == data_node, "async rounds: an async given node " + std::to_string(data_node) +
                                    "'s object ran on node " + std::to_string(ran));
    }
  }
}

void run_on() {
  for (int node = 0; node < drust::num_nodes(); ++node) {
    const int ran = dstd::async(drust::on(node), [] { return drust::node_id(); }).get();
    std::printf("on node=%d ran=%d\n", node, ran);
    require(ran == node, "on: drust::on(" + std::to_string(node) + ") ran on node " + std::to_string(ran));
  }
}

void run_spread(int count) {
  auto started = dstd::make_shared<dstd::latch>(count);
  auto nodes_seen = dstd::make_shared<dstd::atomic<long>>(0);
  std::vector<dstd::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([](dstd::shared_ptr<dstd::latch> all, dstd::shared_ptr<dstd::atomic<long>> seen) {
      seen->fetch_or(1L << drust::node_id());
      std::printf("spread thread node=%d\n", drust::node_id());
      all->count_down();
      all->wait();  // every thread is running at once: the spawner's node cannot hold them all
    }, started, nodes_seen);
  }
  for (auto& thread : threads) thread.join();
  const long mask = nodes_seen->load();
  std::printf("spread nodes=%d mask=%ld\n", std::popcount(static_cast<unsigned long>(mask)), mask);
  require(std::popcount(static_cast<unsigned long>(mask)) > 1, "spread: every thread ran on one node");
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines reach drun even if a check aborts the job
  require(drust::num_nodes() == 4, "run with drun -n 4");
  // The scenarios that count threads per node come first: each ends with every thread joined.
  run_rounds(4, 2);
  run_spread(12);
  // No pause between scenarios: a load table made while the last one's threads ran still counts
  // them, and this node counts its own threads there as they are now, not as the table does
  // (docs/design/scheduler.md, "The estimate of another node's load").
  run_affinity();
  run_on();
  run_async_rounds(2);
  std::printf("result ok\n");
  return 0;
}
