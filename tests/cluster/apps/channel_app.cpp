// drust::std::sync channels across real nodes. Usage: channel_app <scenario>
//   all          every scenario below, in turn:
//     order        2 producer threads per node (a function given a sender, a lambda capturing
//                  one) send numbered values to a receiver on node 0; every value arrives once,
//                  in order per producer, and range-for ends when the last remote sender is gone
//     bounded      a sync_channel(4) fed from the last node: the producer cannot get more than 4
//                  sends ahead of the receiver, and resumes as it receives
//     moved        the receiver is moved to a thread on the last node, which receives from node 0
//     unique       drust::std::unique_ptr values made on every node arrive with their objects,
//                  which are freed once (heap counters back where they were)
//   sender-dies  (2 nodes) node 1 holds a sender and dies; main, blocked in recv(), gets
//                std::system_error naming node 1
// A check that fails throws, which ends the job with a message; main prints "result ok".
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/latch>
#include <drust/std/memory>
#include <drust/std/sync>
#include <drust/std/thread>

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

void require(bool condition, const std::string& what) {
  if (!condition) throw std::runtime_error("check failed on node " + std::to_string(drust::node_id()) + ": " + what);
}

struct numbered {
  int producer;
  int serial;
  int node;
};

constexpr int per_producer = 3000;

void produce(dstd::sync::sender<numbered> tx, int producer) {
  for (int i = 0; i < per_producer; ++i) tx.send(numbered{producer, i, drust::node_id()});
}

void run_order() {
  const int nodes = drust::num_nodes();
  auto [tx, rx] = dstd::sync::channel<numbered>();
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    threads.emplace_back(drust::on(node), produce, tx, 2 * node);
    threads.emplace_back(drust::on(node), [tx = tx, node] {
      for (int i = 0; i < per_producer; ++i) tx.send(numbered{2 * node + 1, i, drust::node_id()});
    });
  }
  tx.reset();  // from now on only the producers' senders keep the channel open
  std::vector<int> next(2 * nodes, 0);
  long total = 0;
  for (const numbered& value : rx) {
    require(value.producer >= 0 && value.producer < 2 * nodes, "order: a producer number out of range");
    require(value.serial == next[value.producer], "order: producer " + std::to_string(value.producer) + " sent " +
                                                      std::to_string(next[value.producer]) + " next, got " +
                                                      std::to_string(value.serial));
    require(value.node == value.producer / 2, "order: a value from the wrong node");
    next[value.producer] = value.serial + 1;
    ++total;
  }
  require(total == 2L * nodes * per_producer, "order: " + std::to_string(total) + " values received");
  for (auto& thread : threads) thread.join();
  std::printf("order ok (%ld values from %d producers)\n", total, 2 * nodes);
}

void run_bounded() {
  constexpr int bound = 4;
  constexpr int count = 300;
  auto [tx, rx] = dstd::sync::sync_channel<int>(bound);
  auto sent = dstd::make_shared<dstd::atomic<long>>(0);
  dstd::thread producer(drust::on(drust::num_nodes() - 1), [](dstd::sync::sender<int> tx, dstd::shared_ptr<dstd::atomic<long>> sent) {
    for (int i = 0; i < count; ++i) {
      tx.send(i);
      sent->fetch_add(1);
    }
  }, std::move(tx), sent);
  std::this_thread::sleep_for(200ms);
  const long ahead = sent->load();
  require(ahead <= bound, "bounded: the producer got " + std::to_string(ahead) + " sends ahead of a bound of 4");
  for (int i = 0; i < count; ++i) require(rx.recv() == i, "bounded: values out of order");
  require(!rx.recv().has_value(), "bounded: the channel did not end with its producer");
  producer.join();
  require(sent->load() == count, "bounded: not every send returned");
  std::printf("bounded ok (%ld sends ahead while blocked)\n", ahead);
}

void run_moved() {
  constexpr int count = 500;
  auto [tx, rx] = dstd::sync::channel<std::string>();
  auto received = dstd::make_shared<dstd::atomic<long>>(0);
  dstd::thread consumer(drust::on(drust::num_nodes() - 1), [](dstd::sync::receiver<std::string> rx, dstd::shared_ptr<dstd::atomic<long>> received) {
    long expected = 0;
    for (std::string value : rx) {
      require(value == "value " + std::to_string(expected), "moved: got '" + value + "'");
      ++expected;
    }
    received->store(expected);
  }, std::move(rx), received);
  for (int i = 0; i < count; ++i) tx.send("value " + std::to_string(i));
  tx.reset();
  consumer.join();
  require(received->load() == count, "moved: " + std::to_string(received->load()) + " values received");
  std::printf("moved ok\n");
}

void run_unique() {
  constexpr int per_node = 200;
  const int nodes = drust::num_nodes();
  const drust::runtime_stats before = drust::stats();
  {
    auto [tx, rx] = dstd::sync::channel<std::pair<int, dstd::unique_ptr<long>>>();
    std::vector<dstd::thread> threads;
    for (int node = 0; node < nodes; ++node) {
      threads.emplace_back(drust::on(node), [tx = tx, node] {
        for (int i = 0; i < per_node; ++i) tx.send({node, dstd::make_unique<long>(node * 100000L + i)});
      });
    }
    tx.reset();
    std::vector<int> next(nodes, 0);
    for (auto& [node, box] : rx) {
      require(box != nullptr && *box == node * 100000L + next[node], "unique: a value arrived without its object");
      ++next[node];
    }
    for (int node = 0; node < nodes; ++node) require(next[node] == per_node, "unique: values lost");
    for (auto& thread : threads) thread.join();
  }
  const drust::runtime_stats after = drust::stats();
  require(after.live_objects <= before.live_objects, "unique: objects homed here leaked");
  require(after.remote_frees - before.remote_frees == static_cast<std::uint64_t>(per_node * (nodes - 1)),
          "unique: " + std::to_string(after.remote_frees - before.remote_frees) +
              " frees of remote objects, expected one per value from another node");
  std::printf("unique ok\n");
}

void run_sender_dies() {
  require(drust::num_nodes() == 2, "sender-dies runs on 2 nodes");
  std::signal(SIGTERM, SIG_IGN);  // stay alive long enough to report what recv() did
  auto [tx, rx] = dstd::sync::channel<int>();
  dstd::thread holder(drust::on(1), [](dstd::sync::sender<int> tx) {
    tx.send(1);
    std::this_thread::sleep_for(300ms);
    std::fflush(nullptr);
    ::_exit(3);  // node 1 dies holding a sender
  }, std::move(tx));
  holder.detach();
  require(rx.recv() == 1, "sender-dies: the first value");
  try {
    auto value = rx.recv();
    std::printf("sender-dies: recv() returned %s\n", value ? "a value" : "nullopt");
  } catch (const std::system_error& error) {
    std::printf("sender-dies: recv() threw: %s\n", error.what());
  }
  std::fflush(stdout);
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "all";
  if (scenario == "sender-dies") {
    run_sender_dies();
  } else if (scenario == "all") {
    run_order();
    run_bounded();
    run_moved();
    run_unique();
  } else if (scenario == "order") {
    run_order();
  } else if (scenario == "bounded") {
    run_bounded();
  } else if (scenario == "moved") {
    run_moved();
  } else if (scenario == "unique") {
    run_unique();
  } else {
    std::fprintf(stderr, "channel_app: unknown scenario '%s'\n", scenario.c_str());
    return 2;
  }
  std::printf("result ok\n");
  return 0;
}
