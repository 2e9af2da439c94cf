// channel-bench: what a drust::std::sync channel costs between two nodes, side by side with one
// active message (see README.md). Run under drun with 2 nodes:
//   drun -n 2 [--provider P] build/samples/bench/channel-bench [rounds]
// A thread on node 1 plays ping-pong with main on node 0 over two channels, each homed at (and
// received on) its receiver's node: node 1 sends on `there` (home 0), main receives and sends the
// value back on `back` (home 1), node 1 receives it. One exchange is two sends and two receives,
// compared with one active-message round trip (a request of fabric's ping kind, answered by node
// 0's transport), i.e. two one-way messages: the ratio is a channel send+recv against one
// active-message one-way latency. The two sides take turns every 100 operations within a round;
// figures: the median over the rounds of a round's mean, and the range of the rounds' ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/sync>
#include <drust/std/thread>

#include "fabric/active_message.hpp"
#include "runtime/node_runtime.hpp"

namespace dstd = drust::std;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int batch = 2'000;  // operations of each side per round
constexpr int turn = 100;      // operations of one side before the other's turn
constexpr int warm_up_per_turn = 5;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 9;
  if (drust::num_nodes() < 2) {
    std::printf("channel-bench needs 2 nodes: drun -n 2 ...\n");
    return 0;
  }
  auto [there_tx, there_rx] = dstd::sync::channel<long>();
  auto [setup_tx, setup_rx] = dstd::sync::channel<dstd::sync::sender<long>>();
  auto [result_tx, result_rx] = dstd::sync::channel<std::pair<double, double>>();
  dstd::thread remote(drust::on(1), [](dstd::sync::sender<long> there, dstd::sync::sender<dstd::sync::sender<long>> setup,
                                       dstd::sync::sender<std::pair<double, double>> results, int rounds_wanted) {
    auto [back_tx, back_rx] = dstd::sync::channel<long>();  // homed here, on node 1
    setup.send(std::move(back_tx));
    drust::fabric::transport* transport = drust::runtime::node_runtime::instance().transport();
    std::string reply;
    auto ping = [&] { (void)transport->call(0, drust::fabric::ping_kind, {}, reply); };
    auto exchange = [&](long value) {
      there.send(value);
      (void)back_rx.recv();
    };
    for (int i = 0; i < 200; ++i) {  // warm up both paths
      ping();
      exchange(i);
    }
    // The two sides take turns every `turn` operations (the order flips each turn), so that a
    // round's two figures come from the same moments: on a loaded machine the transport switches
    // between a fast regime and one where every message waits for a wake-up (docs/PERFORMANCE.md),
    // and whole batches one after the other compared one regime with the other.
    // Each turn starts with a few untimed operations: a receiver that waited through the other
    // side's turn is asleep, and its first wake-up is the switch between turns, not a send+recv.
    auto timed = [](int count, auto&& operation) {
      for (int i = 0; i < warm_up_per_turn; ++i) operation(i);
      const auto start = clock_type::now();
      for (int i = 0; i < count; ++i) operation(i);
      return std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
    };
    for (int round = 0; round < rounds_wanted; ++round) {
      double ping_total = 0, exchange_total = 0;
      for (int done = 0, turn_index = 0; done < batch; done += turn, ++turn_index) {
        if (turn_index % 2 == 0) {
          ping_total += timed(turn, [&](int) { ping(); });
          exchange_total += timed(turn, exchange);
        } else {
          exchange_total += timed(turn, exchange);
          ping_total += timed(turn, [&](int) { ping(); });
        }
      }
      results.send({ping_total / batch, exchange_total / batch});
    }
    there.send(-1);
  }, std::move(there_tx), std::move(setup_tx), std::move(result_tx), rounds);
  {
    dstd::sync::sender<long> back = *setup_rx.recv();
    for (long value = *there_rx.recv(); value >= 0; value = *there_rx.recv()) back.send(value);
  }
  remote.join();
  std::vector<double> pings, exchanges, ratios;
  for (auto [ping_ns, exchange_ns] : result_rx) {
    pings.push_back(ping_ns);
    exchanges.push_back(exchange_ns);
    ratios.push_back(exchange_ns / ping_ns);
  }
  const double ping = median(pings), exchange = median(exchanges);
  const auto [lowest, highest] = std::minmax_element(ratios.begin(), ratios.end());
  std::printf("channel-bench: %d rounds of %d each, sides taking turns every %d; median of per-round means\n\n",
              rounds, batch, turn);
  std::printf("%-52s %12s %12s %8s  %s\n", "node 1 <-> node 0", "ping [ns]", "drust [ns]", "ratio", "round ratios");
  std::printf("%-52s %12.1f %12.1f %7.2fx\n", "ping-pong: 2x (send+recv) vs one AM round trip", ping, exchange,
              exchange / ping);
  std::printf("%-52s %12.1f %12.1f %7.2fx  %.2f..%.2fx\n", "one send+recv vs one AM one-way (halves)", ping / 2,
              exchange / 2, exchange / ping, *lowest, *highest);
  return 0;
}
