// drust's synchronisation types across real nodes. Usage: sync_app <scenario>
//   all        every scenario below, in turn, with threads on every node (drust::on):
//     counter    a counter (a relaxed drust::std::atomic load + store, which loses updates unless
//                serialised) protected by a drust::std::mutex, incremented by 2 threads per node
//     cv         producers on every node hand values to a consumer on the last node through one
//                slot, a mutex and a condition_variable; every value arrives exactly once, in
//                order per producer
//     data       a sync::mutex<tally> whose data moves to each locker's node that writes: values
//                kept, drust::stats().moves grows on the node that locked it after another node
//                did; a lock through a const guard on another node reads the last write, moving
//                nothing
//     atomic     fetch_add from 2 threads per node loses no increment
//     latch      one thread per node: count_down, then wait; nobody passes before all arrived
//     barrier    one thread per node, 20 phases with a completion function pointer; arrivals of
//                every phase are complete when anyone passes; the completion ran once per phase
//     lease      mutex leases (docs/design/sync.md, "Leases"): a sync::mutex<tally> homed on node
//                0 and locked 50 times in a row on the last node is leased there (its stats count
//                the lease and the locks it served); node 0's try_lock then gets it (the lease is
//                recalled and given back); node 0's try_lock of a mutex a thread holds under a
//                lease is refused, its lock() waits; threads on every node lock the first in
//                bursts (leases granted and recalled back and forth: no update lost, the data
//                exact); a mutex destroyed while leased is forgotten by its leaseholder, and
//                mutexes made after it (whose state may reuse its address) are not lockable
//                there while node 0 holds them
//     shared     a shared_mutex homed on node 0 guarding two counters that a writer on every
//                node raises together under the exclusive lock; readers on every node, under
//                the shared lock, never see them differ; no write is lost
//   home-dies  (2 nodes) a thread on node 1 makes a mutex there, holds it, hands it to main and
//              exits its node; main, blocked in lock(), gets std::system_error naming node 1
// A check that fails throws, which ends the job with a message; main prints "result ok".
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>

#include <drust/interior_mutable>
#include <drust/relocatable>
#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/barrier>
#include <drust/std/condition_variable>
#include <drust/std/future>
#include <drust/std/latch>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/shared_mutex>
#include <drust/std/sync>
#include <drust/std/thread>

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

void require(bool condition, const std::string& what) {
  if (!condition) throw std::runtime_error("check failed on node " + std::to_string(drust::node_id()) + ": " + what);
}

// A counter that only a mutex keeps exact: its increment is a load and a store.
struct guarded_counter {
  dstd::mutex m;
  dstd::atomic<long> value{0};
};

// Two counters a writer raises together; readers check they are equal.
struct guarded_pair {
  dstd::shared_mutex m;
  dstd::atomic<long> first{0};
  dstd::atomic<long> second{0};
  dstd::atomic<long> torn{0};   // readers that saw them differ
  dstd::atomic<long> reads{0};
};

// One slot between producers and a consumer.
struct mailbox {
  dstd::mutex m;
  dstd::condition_variable changed;
  dstd::atomic<long> slot{0};  // 0: empty
};

struct tally {
  long total = 0;
  long by_node[8] = {};
  int last_node = -1;
};

}  // namespace

template <>
inline constexpr bool drust::interior_mutable<guarded_counter> = true;
template <>
inline constexpr bool drust::interior_mutable<mailbox> = true;
template <>
inline constexpr bool drust::interior_mutable<guarded_pair> = true;

namespace {

constexpr int counter_rounds = 300;
constexpr long values_per_producer = 100;

void run_counter() {
  const int nodes = drust::num_nodes();
  auto counter = dstd::make_shared<guarded_counter>();
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    for (int copy = 0; copy < 2; ++copy) {
      threads.emplace_back(drust::on(node), [](dstd::shared_ptr<guarded_counter> shared) {
        for (int i = 0; i < counter_rounds; ++i) {
          std::lock_guard hold(shared->m);
          const long seen = shared->value.load(std::memory_order_relaxed);
          shared->value.store(seen + 1, std::memory_order_relaxed);
        }
      }, counter);
    }
  }
  for (auto& thread : threads) thread.join();
  require(counter->value.load() == 2L * nodes * counter_rounds,
          "mutex counter: " + std::to_string(counter->value.load()) + " of " + std::to_string(2L * nodes * counter_rounds));
  std::printf("counter ok: %ld increments from %d nodes\n", counter->value.load(), nodes);
}

void run_cv() {
  const int nodes = drust::num_nodes();
  auto box = dstd::make_shared<mailbox>();
  auto errors = dstd::make_shared<dstd::atomic<long>>(0);
  // The consumer: on the last node, every value once, in order per producer.
  dstd::thread consumer(drust::on(nodes - 1), [](dstd::shared_ptr<mailbox> shared, dstd::shared_ptr<dstd::atomic<long>> bad,
                                                   int producers) {
    long next[8] = {};
    for (long received = 0; received < producers * values_per_producer; ++received) {
      std::unique_lock lock(shared->m);
      shared->changed.wait(lock, [&] { return shared->slot.load() != 0; });
      const long value = shared->slot.exchange(0);
      lock.unlock();
      shared->changed.notify_all();
      const long producer = value / 1000 - 1;
      const long index = value % 1000;
      if (producer < 0 || producer >= producers || next[producer] != index) bad->fetch_add(1);
      if (producer >= 0 && producer < producers) next[producer] = index + 1;
    }
  }, box, errors, nodes);
  std::vector<dstd::thread> producers;
  for (int node = 0; node < nodes; ++node) {
    producers.emplace_back(drust::on(node), [](dstd::shared_ptr<mailbox> shared, int producer) {
      for (long i = 0; i < values_per_producer; ++i) {
        std::unique_lock lock(shared->m);
        // A timed wait too: it must not lose the notify it races with.
        while (!shared->changed.wait_for(lock, 50ms, [&] { return shared->slot.load() == 0; })) {
        }
        shared->slot.store((producer + 1) * 1000 + i);
        lock.unlock();
        shared->changed.notify_all();
      }
    }, box, node);
  }
  for (auto& thread : producers) thread.join();
  consumer.join();
  require(errors->load() == 0, "cv: " + std::to_string(errors->load()) + " values out of order or unknown");
  std::printf("cv ok: %ld values from %d producers\n", nodes * values_per_producer, nodes);
}

void run_data() {
  const int nodes = drust::num_nodes();
  auto data = dstd::make_shared<dstd::sync::mutex<tally>>();
  {
    auto guard = data->lock();
    guard->total = 1;
    guard->last_node = drust::node_id();
  }
  auto moved = dstd::make_shared<dstd::atomic<long>>(0);
  for (int round = 0; round < 3; ++round) {
    for (int node = 1; node < nodes; ++node) {
      dstd::thread t(drust::on(node), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared, dstd::shared_ptr<dstd::atomic<long>> moves) {
        const auto before = drust::stats().moves;
        auto guard = shared->lock();
        const bool was_elsewhere = guard->last_node != drust::node_id();
        guard->total += 1;
        guard->by_node[drust::node_id()] += 1;
        guard->last_node = drust::node_id();
        // The data came here when it was elsewhere.
        if (was_elsewhere && drust::stats().moves > before) moves->fetch_add(1);
      }, data, moved);
      t.join();
    }
    const auto before = drust::stats().moves;
    auto guard = data->lock();
    require(guard->last_node == (nodes > 1 ? nodes - 1 : 0), "sync::mutex: the last locker's write is visible");
    require(nodes == 1 || drust::stats().moves > before, "sync::mutex: the data moved back to node 0");
    guard->by_node[0] += 1;
    guard->total += 1;
    guard->last_node = 0;
  }
  // A lock taken only to read (a const guard) reads the data where it is and moves nothing.
  for (int node = 1; node < nodes; ++node) {
    auto seen = dstd::async(drust::on(node), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared) {
      const auto before = drust::stats().moves;
      const auto guard = shared->lock();
      const long total = guard->total;
      const int last = guard->last_node;
      require(drust::stats().moves == before, "sync::mutex: a read through a const guard moved the data");
      return total * 100 + last;
    }, data);
    require(seen.get() == (1 + 3L * nodes) * 100, "sync::mutex: a const guard on node " + std::to_string(node) +
                                                      " read the last write");
  }
  auto guard = data->lock();
  require(guard->total == 1 + 3L * nodes, "sync::mutex: total " + std::to_string(guard->total));
  for (int node = 0; node < nodes; ++node) require(guard->by_node[node] == 3, "sync::mutex: per-node count");
  require(moved->load() == 3L * (nodes - 1), "sync::mutex: moves on the lockers' nodes: " + std::to_string(moved->load()));
  std::printf("data ok: total=%ld moves_seen=%ld\n", guard->total, moved->load());
}

void run_atomic() {
  const int nodes = drust::num_nodes();
  auto hits = dstd::make_shared<dstd::atomic<long>>(0);
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    for (int copy = 0; copy < 2; ++copy) {
      threads.emplace_back(drust::on(node), [](dstd::shared_ptr<dstd::atomic<long>> shared) {
        for (int i = 0; i < 500; ++i) shared->fetch_add(1);
      }, hits);
    }
  }
  for (auto& thread : threads) thread.join();
  require(hits->load() == 1000L * nodes, "atomic: " + std::to_string(hits->load()));
  std::printf("atomic ok: %ld\n", hits->load());
}

void run_latch() {
  const int nodes = drust::num_nodes();
  auto arrived = dstd::make_shared<dstd::atomic<long>>(0);
  auto errors = dstd::make_shared<dstd::atomic<long>>(0);
  auto gate = dstd::make_shared<dstd::latch>(nodes);
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    threads.emplace_back(drust::on(node), [](dstd::shared_ptr<dstd::latch> latch, dstd::shared_ptr<dstd::atomic<long>> count,
                                             dstd::shared_ptr<dstd::atomic<long>> bad, int expected) {
      count->fetch_add(1);
      latch->count_down();
      latch->wait();
      if (count->load() != expected || !latch->try_wait()) bad->fetch_add(1);
    }, gate, arrived, errors, nodes);
  }
  for (auto& thread : threads) thread.join();
  require(errors->load() == 0, "latch: a thread passed before every thread arrived");
  std::printf("latch ok\n");
}

// Per node: the completion runs on whichever node's thread completed the phase.
std::atomic<long> completions_here{0};
void on_phase_done() noexcept { completions_here.fetch_add(1); }

void run_barrier() {
  const int nodes = drust::num_nodes();
  constexpr int phases = 20;
  auto meet = dstd::make_shared<dstd::barrier<void (*)() noexcept>>(nodes, &on_phase_done);
  auto arrived = dstd::make_shared<dstd::atomic<long>>(0);
  auto errors = dstd::make_shared<dstd::atomic<long>>(0);
  auto completed = dstd::make_shared<dstd::atomic<long>>(0);
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    threads.emplace_back(drust::on(node), [](dstd::shared_ptr<dstd::barrier<void (*)() noexcept>> barrier,
                                             dstd::shared_ptr<dstd::atomic<long>> count, dstd::shared_ptr<dstd::atomic<long>> bad,
                                             dstd::shared_ptr<dstd::atomic<long>> done, int expected) {
      const long before = completions_here.load();
      for (long phase = 0; phase < phases; ++phase) {
        count->fetch_add(1);
        barrier->arrive_and_wait();
        if (count->load() < (phase + 1) * expected) bad->fetch_add(1);
        barrier->arrive_and_wait();  // nobody starts the next phase's count before all checked
      }
      done->fetch_add(completions_here.load() - before);
    }, meet, arrived, errors, completed, nodes);
  }
  for (auto& thread : threads) thread.join();
  require(errors->load() == 0, "barrier: a thread passed before every thread arrived");
  require(completed->load() == 2L * phases, "barrier: completions " + std::to_string(completed->load()));
  std::printf("barrier ok: %ld completions\n", completed->load());
}

// Locks `shared` `times` times in a row on this node, counting each lock in the tally.
void lock_in_a_row(const dstd::shared_ptr<dstd::sync::mutex<tally>>& shared, int times) {
  for (int i = 0; i < times; ++i) {
    auto guard = shared->lock();
    guard->total += 1;
    guard->by_node[drust::node_id()] += 1;
    guard->last_node = drust::node_id();
  }
}

// Locks `shared` in a row on this node until this node holds it leased (the home's streak: a
// few locks, more after leases the home took back at once); false if 200 locks did not do it.
bool lock_until_leased(const dstd::shared_ptr<dstd::sync::mutex<tally>>& shared) {
  const auto held_before = drust::stats().mutex_leases_held;
  for (int i = 0; i < 200; ++i) {
    lock_in_a_row(shared, 1);
    if (drust::stats().mutex_leases_held > held_before) return true;
  }
  return false;
}

// Polls this node's stats until `done` holds them, for at most 5 s.
template <class Done>
bool eventually(Done done) {
  for (int i = 0; i < 500; ++i) {
    if (done(drust::stats())) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void run_lease() {
  const int nodes = drust::num_nodes();
  if (nodes < 2) {
    std::printf("lease ok: one node, nothing to lease\n");
    return;
  }
  const int last = nodes - 1;
  auto data = dstd::make_shared<dstd::sync::mutex<tally>>();
  const auto home_before = drust::stats();
  // Locked in a row on one node: leased after its second lock, the rest served there.
  const long served = dstd::async(drust::on(last), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared) {
    const auto before = drust::stats();
    lock_in_a_row(shared, 50);
    const auto after = drust::stats();
    require(after.mutex_leases_held == 1, "lease: the last node holds the lease");
    return static_cast<long>(after.mutex_lease_locks - before.mutex_lease_locks);
  }, data).get();
  require(served >= 40, "lease: " + std::to_string(served) + " of 50 locks served by the lease");
  // Node 0 asks for it (a try_lock: it waits for the leaseholder's answer): the lease is recalled,
  // given back since it is free there, and the data comes back exact.
  {
    auto tried = data->try_lock();
    require(tried.has_value(), "lease: node 0's try_lock of a mutex leased and free elsewhere failed");
    auto& guard = *tried;
    require(guard->total == 50 && guard->by_node[last] == 50 && guard->last_node == last,
            "lease: node 0 reads the leaseholder's last write (total " + std::to_string(guard->total) + ")");
    guard->total += 1;
    guard->by_node[0] += 1;
    guard->last_node = 0;
  }
  const auto home_after = drust::stats();
  require(home_after.mutex_leases_granted > home_before.mutex_leases_granted, "lease: node 0 counted the lease");
  require(home_after.mutex_lease_recalls > home_before.mutex_lease_recalls, "lease: node 0 recalled it");
  require(dstd::async(drust::on(last), [] { return drust::stats().mutex_leases_held; }).get() == 0,
          "lease: the last node gave the lease back");

  // Held under a lease: node 0's try_lock is refused (it does not wait for that unlock), its
  // lock() waits for it. (A fresh mutex: node 0 took the first one back while leased, so its
  // home now leases it only after a long streak.)
  {
    auto other = dstd::make_shared<dstd::sync::mutex<tally>>();
    auto holding = dstd::make_shared<dstd::latch>(1);
    auto tried = dstd::make_shared<dstd::latch>(1);
    dstd::thread holder(drust::on(last), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared,
                                            dstd::shared_ptr<dstd::latch> held, dstd::shared_ptr<dstd::latch> done) {
      require(lock_until_leased(shared), "lease: the last node got a lease");
      auto guard = shared->lock();
      require(drust::stats().mutex_leases_held == 1, "lease: held under a lease");
      guard->total += 1000;
      held->count_down();
      done->wait();
    }, other, holding, tried);
    holding->wait();
    const bool taken = other->try_lock().has_value();
    tried->count_down();
    require(!taken, "lease: node 0's try_lock took a mutex a thread holds under a lease");
    auto guard = other->lock();
    require(guard->total > 1000, "lease: node 0 reads the holder's writes (total " + std::to_string(guard->total) + ")");
    holder.join();
  }

  // Bursts from every node at once: leases go back and forth, nothing is lost.
  constexpr int bursts = 10, burst = 20;
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    for (int copy = 0; copy < 2; ++copy) {
      threads.emplace_back(drust::on(node), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared) {
        for (int b = 0; b < bursts; ++b) {
          lock_in_a_row(shared, burst);
          std::this_thread::yield();
        }
      }, data);
    }
  }
  for (auto& thread : threads) thread.join();
  {
    auto guard = data->lock();
    const long expected = 51 + 2L * nodes * bursts * burst;
    require(guard->total == expected, "lease: total " + std::to_string(guard->total) + " of " + std::to_string(expected));
    for (int node = 0; node < nodes; ++node) {
      const long mine = 2L * bursts * burst + (node == last ? 50 : 0) + (node == 0 ? 1 : 0);
      require(guard->by_node[node] == mine, "lease: node " + std::to_string(node) + "'s count");
    }
  }

  // Destroyed while leased: the leaseholder forgets the lease before the state can be reused.
  for (int round = 0; round < 20; ++round) {
    auto doomed = dstd::make_shared<dstd::sync::mutex<tally>>();
    dstd::async(drust::on(last), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared) {
      require(lock_until_leased(shared), "lease: leased before the destruction");
    }, doomed).get();
    doomed.reset();  // the last reference: destroyed on node 0, its home
    require(dstd::async(drust::on(last), [] {
              return eventually([](const drust::runtime_stats& s) { return s.mutex_leases_held == 0; });
            }).get(),
            "lease: the leaseholder forgot the lease of a destroyed mutex");
    std::this_thread::sleep_for(20ms);  // let the home free the state, so that the next may reuse it
    auto fresh = dstd::make_shared<dstd::sync::mutex<tally>>();
    auto held = fresh->lock();
    const bool taken = dstd::async(drust::on(last), [](dstd::shared_ptr<dstd::sync::mutex<tally>> shared) {
      return shared->try_lock().has_value();
    }, fresh).get();
    require(!taken, "lease: a mutex held on node 0 was locked on node " + std::to_string(last) + " (a stale lease)");
  }
  std::printf("lease ok: %ld locks served by the lease, %d nodes\n", served, nodes);
}

void run_shared() {
  const int nodes = drust::num_nodes();
  constexpr int writes = 100;
  auto pair = dstd::make_shared<guarded_pair>();
  std::vector<dstd::thread> threads;
  for (int node = 0; node < nodes; ++node) {
    threads.emplace_back(drust::on(node), [](dstd::shared_ptr<guarded_pair> shared) {
      for (int i = 0; i < writes; ++i) {
        std::unique_lock writing(shared->m);
        const long first = shared->first.load(std::memory_order_relaxed);
        shared->first.store(first + 1, std::memory_order_relaxed);
        const long second = shared->second.load(std::memory_order_relaxed);
        shared->second.store(second + 1, std::memory_order_relaxed);
      }
    }, pair);
    threads.emplace_back(drust::on(node), [](dstd::shared_ptr<guarded_pair> shared) {
      for (int i = 0; i < 2 * writes; ++i) {
        std::shared_lock reading(shared->m);
        if (shared->first.load(std::memory_order_relaxed) != shared->second.load(std::memory_order_relaxed)) {
          shared->torn.fetch_add(1);
        }
        shared->reads.fetch_add(1);
      }
    }, pair);
  }
  for (auto& thread : threads) thread.join();
  require(pair->torn.load() == 0, "shared_mutex: " + std::to_string(pair->torn.load()) + " reads saw a half-made write");
  require(pair->first.load() == 1L * nodes * writes && pair->second.load() == 1L * nodes * writes,
          "shared_mutex: " + std::to_string(pair->first.load()) + " writes of " + std::to_string(nodes * writes));
  require(pair->m.try_lock_shared(), "shared_mutex: free at the end (shared)");
  pair->m.unlock_shared();
  require(pair->m.try_lock(), "shared_mutex: free at the end");
  pair->m.unlock();
  std::printf("shared ok: %ld writes, %ld reads from %d nodes\n", pair->first.load(), pair->reads.load(), nodes);
}

struct handoff {
  dstd::shared_ptr<dstd::mutex> mutex;
};

void run_home_dies() {
  require(drust::num_nodes() == 2, "home-dies runs on 2 nodes");
  // drun stops the other nodes (SIGTERM) right after it tells them a node failed: stay alive long
  // enough to report what lock() did.
  std::signal(SIGTERM, SIG_IGN);
  auto box = dstd::make_shared<dstd::sync::mutex<handoff>>();
  auto ready = dstd::make_shared<dstd::latch>(1);
  dstd::thread holder(drust::on(1), [](dstd::shared_ptr<dstd::sync::mutex<handoff>> shared, dstd::shared_ptr<dstd::latch> latch) {
    auto mine = dstd::make_shared<dstd::mutex>();  // homed here, on node 1
    mine->lock();
    shared->lock()->mutex = mine;
    latch->count_down();
    std::this_thread::sleep_for(500ms);
    std::fflush(nullptr);
    ::_exit(3);  // node 1 dies holding the mutex
  }, box, ready);
  holder.detach();
  ready->wait();
  dstd::shared_ptr<dstd::mutex> theirs = box->lock()->mutex;
  require(theirs && theirs->home_node() == 1, "home-dies: the mutex is homed on node 1");
  try {
    theirs->lock();
    std::printf("home-dies: lock() returned\n");
  } catch (const std::system_error& error) {
    std::printf("home-dies: lock() threw: %s\n", error.what());
  }
  std::fflush(stdout);
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "all";
  if (scenario == "home-dies") {
    run_home_dies();
  } else if (scenario == "all") {
    run_counter();
    run_cv();
    run_data();
    run_atomic();
    run_latch();
    run_barrier();
    run_lease();
    run_shared();
  } else if (scenario == "shared") {
    run_shared();
  } else if (scenario == "lease") {
    run_lease();
  } else if (scenario == "counter") {
    run_counter();
  } else if (scenario == "cv") {
    run_cv();
  } else if (scenario == "data") {
    run_data();
  } else if (scenario == "atomic") {
    run_atomic();
  } else if (scenario == "latch") {
    run_latch();
  } else if (scenario == "barrier") {
    run_barrier();
  } else {
    std::fprintf(stderr, "sync_app: unknown scenario '%s'\n", scenario.c_str());
    return 2;
  }
  std::printf("result ok\n");
  return 0;
}
