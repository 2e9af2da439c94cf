// thread-bench: what starting and joining a drust thread costs, side by side with what it is
// measured against (see README.md). Run under drun with 2 nodes:
//   drun -n 2 [--provider P] build/samples/bench/thread-bench [rounds]
// Local: std::thread(f).join() against drust::std::thread(drust::on(0), f).join() on node 0.
// Remote: drust::std::thread(drust::on(1), f).join() from node 0, next to one active-message round
// trip to node 1 (fabric's ping kind), drust::std::async(drust::on(1), f).get() and the constructor
// alone (the spawn request's round trip, the thread started there). Each operation
// is timed on its own; locally the rounds alternate the two sides, remotely the four operations
// take turns one by one; every figure is the median over all operations of all rounds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <drust/runtime>
#include <drust/std/future>
#include <drust/std/thread>

#include "fabric/active_message.hpp"
#include "runtime/node_runtime.hpp"

namespace dstd = drust::std;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int local_batch = 200;
constexpr int remote_batch = 200;

void nothing(int) {}
int answer(int x) { return x + 1; }

template <class Operation>
void time_each(int count, std::vector<double>& into, Operation&& operation) {
  for (int i = 0; i < count; ++i) {
    const auto start = clock_type::now();
    operation();
    into.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
  }
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 9;

  // ---- local ----------------------------------------------------------------------------------
  std::vector<double> std_threads, drust_threads;
  for (int round = 0; round < rounds; ++round) {
    auto std_batch = [&] { time_each(local_batch, std_threads, [] { std::thread(nothing, 1).join(); }); };
    auto drust_batch = [&] { time_each(local_batch, drust_threads, [] { dstd::thread(drust::on(0), nothing, 1).join(); }); };
    if (round % 2 == 0) {
      std_batch();
      drust_batch();
    } else {
      drust_batch();
      std_batch();
    }
  }
  const double std_us = median(std_threads), drust_us = median(drust_threads);
  std::printf("%-46s %12s %12s %8s\n", "local spawn+join (node 0)", "std [us]", "drust [us]", "ratio");
  std::printf("%-46s %12.2f %12.2f %8.2f   (target <= 1.2)\n", "thread(f, 1).join()", std_us, drust_us, drust_us / std_us);

  if (drust::num_nodes() < 2) {
    std::printf("\nremote: run under drun -n 2 for the remote figures\n");
    return 0;
  }

  // ---- remote ---------------------------------------------------------------------------------
  drust::fabric::transport* transport = drust::runtime::node_runtime::instance().transport();
  std::string reply;
  std::vector<double> pings, remote_threads, remote_asyncs, remote_starts;
  std::vector<double> round_medians;  // of spawn+join, per round
  auto ping = [&] { (void)transport->call(1, drust::fabric::ping_kind, {}, reply); };
  auto spawn_join = [] { dstd::thread(drust::on(1), nothing, 1).join(); };
  auto constructor_alone = [&] {  // the spawn request's round trip; the join is not timed
    const auto start = clock_type::now();
    dstd::thread t(drust::on(1), nothing, 1);
    remote_starts.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
    t.join();
  };
  auto async_get = [] {
    if (dstd::async(drust::on(1), answer, 1).get() != 2) std::abort();
  };
  // The four take turns operation by operation (the order rotating), so that they meet the same
  // moments: on a loaded machine the transport switches between a fast regime and one where
  // every message waits for a wake-up (docs/PERFORMANCE.md), and batches one after the other
  // compared one regime with the other.
  for (int round = 0; round < rounds; ++round) {
    std::vector<double> this_round;
    for (int i = 0; i < remote_batch; ++i) {
      for (int side = 0; side < 4; ++side) {
        switch ((i + side) % 4) {
          case 0: time_each(1, pings, ping); break;
          case 1: time_each(1, this_round, spawn_join); break;
          case 2: constructor_alone(); break;
          default: time_each(1, remote_asyncs, async_get); break;
        }
      }
    }
    round_medians.push_back(median(this_round));
    remote_threads.insert(remote_threads.end(), this_round.begin(), this_round.end());
  }
  const double ping_us = median(pings), thread_us = median(remote_threads), async_us = median(remote_asyncs);
  std::printf("\n%-46s %12s %12s %8s\n", "remote spawn+join (node 0 -> node 1)", "ping [us]", "drust [us]", "/ping");
  const auto [lowest, highest] = std::minmax_element(round_medians.begin(), round_medians.end());
  std::printf("%-46s %12.2f %12.2f %8.2f   (target < 50 us; round medians %.1f..%.1f us)\n",
              "thread(on(1), f, 1).join()", ping_us, thread_us, thread_us / ping_us, *lowest, *highest);
  std::printf("%-46s %12.2f %12.2f %8.2f\n", "async(on(1), f, 1).get()", ping_us, async_us, async_us / ping_us);
  const double start_us = median(remote_starts);
  std::printf("%-46s %12.2f %12.2f %8.2f\n", "  of which thread(on(1), f, 1) (constructor)", ping_us, start_us, start_us / ping_us);
  return 0;
}
