// sync-bench: what drust::std::mutex and drust::std::atomic cost, side by side with what they are
// measured against (see README.md). Run under drun with 2 nodes:
//   drun -n 2 [--provider P] build/samples/bench/sync-bench [rounds]
// Local (node 0, uncontended): std::mutex lock+unlock against drust::std::mutex homed here, and
// std::atomic<long>::fetch_add against drust::std::atomic<long> homed here.
// Remote (a thread on node 1, objects homed on node 0, uncontended): one active-message round trip
// (a request of fabric's ping kind, answered by node 0's transport) against drust::std::mutex
// lock+unlock (after its first locks node 1 holds the mutex leased, docs/design/sync.md "Leases":
// run with DRUST_MUTEX_LEASES=off for the round-trip protocol), and
// drust::std::atomic<long>::fetch_add. Every figure is the median over the rounds
// of a batch's mean time per operation; locally the rounds alternate the operations, remotely the
// operations take turns every 100 within a round (and the ratio range is over the rounds).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/sync>
#include <drust/std/thread>

#include "fabric/active_message.hpp"
#include "runtime/node_runtime.hpp"
#include "sync/sync_service.hpp"

namespace dstd = drust::std;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int local_batch = 1'000'000;
constexpr int remote_batch = 2'000;  // per operation and round
constexpr int remote_turn = 100;     // operations of one kind before the next kind's turn

template <class Operation>
double batch_ns(int count, Operation&& operation) {
  const auto start = clock_type::now();
  for (int i = 0; i < count; ++i) operation();
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / count;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct remote_figures {
  double ping_ns = 0;
  double mutex_ns = 0;
  double atomic_ns = 0;
  long queued_locks = 0;  // remote locks that found the mutex held (its unlock not yet applied)
  long leased_locks = 0;  // remote locks served by node 1's lease on the mutex (no message)
  // The lowest and highest of the rounds' ratios (each against that round's ping).
  double mutex_ratio_low = 0, mutex_ratio_high = 0;
  double atomic_ratio_low = 0, atomic_ratio_high = 0;
};

// The lowest and highest of `numerators[i] / denominators[i]`.
std::pair<double, double> ratio_range(const std::vector<double>& numerators, const std::vector<double>& denominators) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < numerators.size(); ++i) ratios.push_back(numerators[i] / denominators[i]);
  const auto [lowest, highest] = std::minmax_element(ratios.begin(), ratios.end());
  return {*lowest, *highest};
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 9;

  // ---- local -----------------------------------------------------------------------------------
  std::mutex std_mutex;
  dstd::mutex drust_mutex;
  std::atomic<long> std_atomic{0};
  dstd::atomic<long> drust_atomic{0};
  std::vector<double> std_lock, drust_lock, std_add, drust_add;
  for (int round = 0; round < rounds; ++round) {
    const bool flip = round % 2 == 1;  // alternate which goes first
    auto measure_std = [&] {
      std_lock.push_back(batch_ns(local_batch, [&] {
        std_mutex.lock();
        std_mutex.unlock();
      }));
      std_add.push_back(batch_ns(local_batch, [&] { std_atomic.fetch_add(1); }));
    };
    auto measure_drust = [&] {
      drust_lock.push_back(batch_ns(local_batch, [&] {
        drust_mutex.lock();
        drust_mutex.unlock();
      }));
      drust_add.push_back(batch_ns(local_batch, [&] { drust_atomic.fetch_add(1); }));
    };
    if (flip) {
      measure_drust();
      measure_std();
    } else {
      measure_std();
      measure_drust();
    }
  }
  std::printf("sync-bench: %d node(s), %d rounds; median of per-batch means\n\n", drust::num_nodes(), rounds);
  std::printf("%-44s %12s %12s %8s\n", "local (homed on the calling node)", "std [ns]", "drust [ns]", "ratio");
  std::printf("%-44s %12.1f %12.1f %7.2fx\n", "mutex lock+unlock, uncontended", median(std_lock), median(drust_lock),
              median(drust_lock) / median(std_lock));
  std::printf("%-44s %12.1f %12.1f %7.2fx\n", "atomic<long>::fetch_add", median(std_add), median(drust_add),
              median(drust_add) / median(std_add));

  if (drust::num_nodes() < 2) {
    std::printf("\n(remote figures need 2 nodes: drun -n 2 ...)\n");
    return 0;
  }

  // ---- remote: a thread on node 1, objects homed on node 0 -------------------------------------
  auto shared_mutex = dstd::make_shared<dstd::mutex>();
  auto shared_atomic = dstd::make_shared<dstd::atomic<long>>(0);
  auto figures = dstd::make_shared<dstd::sync::mutex<remote_figures>>();
  dstd::thread remote(drust::on(1), [](dstd::shared_ptr<dstd::mutex> m, dstd::shared_ptr<dstd::atomic<long>> a,
                                       dstd::shared_ptr<dstd::sync::mutex<remote_figures>> out, int rounds_wanted) {
    drust::fabric::transport* transport = drust::runtime::node_runtime::instance().transport();
    std::string reply;
    // A round trip that node 0's transport answers itself with an empty reply: the cost of one
    // active message there and back.
    auto ping = [&] { (void)transport->call(0, drust::fabric::ping_kind, {}, reply); };
    std::vector<double> pings, locks, adds;
    const auto& counters = drust::sync::sync_service::instance().counters();
    for (int i = 0; i < 100; ++i) {  // warm up the path and the cache of the handles
      ping();
      m->lock();
      m->unlock();
      (void)a->fetch_add(1);
    }
    const auto waits_before = counters.waits.load();
    const auto leased_before = drust::stats().mutex_lease_locks;
    auto lock_unlock = [&] {
      m->lock();
      m->unlock();
    };
    auto add = [&] { (void)a->fetch_add(1); };
    // The three take turns every remote_turn operations (the order rotating each turn), so that a
    // round's figures come from the same moments: on a loaded machine the transport switches
    // between a fast regime and one where every message waits for a wake-up (docs/PERFORMANCE.md).
    for (int round = 0; round < rounds_wanted; ++round) {
      double ping_total = 0, lock_total = 0, add_total = 0;
      for (int done = 0, turn = 0; done < remote_batch; done += remote_turn, ++turn) {
        for (int side = 0; side < 3; ++side) {
          switch ((turn + side) % 3) {
            case 0: ping_total += batch_ns(remote_turn, ping); break;
            case 1: lock_total += batch_ns(remote_turn, lock_unlock); break;
            default: add_total += batch_ns(remote_turn, add); break;
          }
        }
      }
      const int turns = remote_batch / remote_turn;
      pings.push_back(ping_total / turns);
      locks.push_back(lock_total / turns);
      adds.push_back(add_total / turns);
    }
    auto guard = out->lock();
    guard->ping_ns = median(pings);
    guard->mutex_ns = median(locks);
    guard->atomic_ns = median(adds);
    std::tie(guard->mutex_ratio_low, guard->mutex_ratio_high) = ratio_range(locks, pings);
    std::tie(guard->atomic_ratio_low, guard->atomic_ratio_high) = ratio_range(adds, pings);
    guard->queued_locks = static_cast<long>(counters.waits.load() - waits_before);
    guard->leased_locks = static_cast<long>(drust::stats().mutex_lease_locks - leased_before);
  }, shared_mutex, shared_atomic, figures, rounds);
  remote.join();
  const remote_figures result = *figures->lock();
  std::printf("\n%-44s %12s %12s %8s  %s\n", "remote (node 1 -> home on node 0)", "ping [ns]", "drust [ns]", "ratio",
              "round ratios");
  std::printf("%-44s %12.1f %12.1f %7.2fx  %.2f..%.2fx\n", "mutex lock+unlock, uncontended", result.ping_ns,
              result.mutex_ns, result.mutex_ns / result.ping_ns, result.mutex_ratio_low, result.mutex_ratio_high);
  std::printf("%-44s %12.1f %12.1f %7.2fx  %.2f..%.2fx\n", "atomic<long>::fetch_add", result.ping_ns,
              result.atomic_ns, result.atomic_ns / result.ping_ns, result.atomic_ratio_low, result.atomic_ratio_high);
  std::printf("(remote locks that waited for a hand-over: %ld of %d; served by node 1's lease, with no message: %ld;\n"
              " DRUST_MUTEX_LEASES=off measures every lock as a round trip)\n",
              result.queued_locks, rounds * remote_batch, result.leased_locks);
  return 0;
}
