// Mutex leases, one process: the home's side (mutex_table: when a lease is granted, recalled once,
// ended by the leaseholder's unlock or by destruction) and the leaseholder's side (mutex_leases:
// locks served by the lease, a recall while free or held, a recall that overtakes its grant, and
// threads locking through a lease while it is recalled: never two holders, the lease given back
// exactly once). The cluster test runs the protocol between real nodes (sync_app "lease").
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "sync/mutex_leases.hpp"
#include "sync/mutex_table.hpp"

namespace {

using drust::sync::mutex_leases;
using drust::sync::mutex_lock_result;
using drust::sync::mutex_state;
using drust::sync::no_node;
using drust::sync::waiter_ref;
namespace mutex_table = drust::sync::mutex_table;

constexpr int home = 0;
constexpr mutex_table::lock_request remote_request{false, false};
constexpr mutex_table::lock_request home_request{true, false};
using outcome = mutex_table::try_lock_result::outcome;

// A recall's answer: the data word given back, or "busy" (counted).
struct recall_answer {
  std::optional<drust::detail::global_word> data;
  int busy = 0;
  std::uint64_t served = 0;  // the locks the lease served, when given back
};
recall_answer recall(mutex_leases& leases, int home_node, std::uint64_t state) {
  recall_answer answer;
  answer.data = leases.recall(home_node, state, [&] { ++answer.busy; }, &answer.served);
  return answer;
}

// Locks by `node` in a row (unlocking between) until one is granted leased; returns how many it
// took (0: none within twice the longest streak). The mutex is then held, leased.
int lease_to(mutex_state& state, int node) {
  for (int locks = 1; locks <= 2 * drust::sync::max_lease_streak; ++locks) {
    const mutex_lock_result granted = mutex_table::lock(state, waiter_ref{node, 1}, remote_request, home);
    REQUIRE(granted.granted);
    if (granted.leased) return locks;
    REQUIRE_FALSE(mutex_table::unlock(state, 0, home, node).has_value());
  }
  return 0;
}

}  // namespace

TEST_CASE("mutex_table: a remote node that locks a few times in a row gets a lease; the first asker recalls it once") {
  mutex_state state;
  for (int lock = 1; lock < drust::sync::first_lease_streak; ++lock) {
    mutex_lock_result first = mutex_table::lock(state, waiter_ref{1, 10}, remote_request, home);
    CHECK(first.granted);
    CHECK_FALSE(first.leased);
    CHECK_FALSE(mutex_table::unlock(state, 7, home, 1).has_value());
  }

  mutex_lock_result second = mutex_table::lock(state, waiter_ref{1, 11}, remote_request, home);
  CHECK(second.granted);
  CHECK(second.leased);
  CHECK(second.data == 7);
  CHECK(state.leased_to.load() == 1);
  CHECK(drust::detail::mutex_leased(&state));

  // While leased the home's word says held: a thread of the home queues and recalls the lease.
  mutex_lock_result local = mutex_table::lock(state, waiter_ref{home, 12}, home_request, home);
  CHECK_FALSE(local.granted);
  CHECK(local.recall == 1);
  // Once per lease.
  mutex_lock_result other = mutex_table::lock(state, waiter_ref{2, 13}, remote_request, home);
  CHECK_FALSE(other.granted);
  CHECK(other.recall == no_node);
  // A try_lock waits for the leaseholder's answer (queued, no second recall).
  const auto trying = mutex_table::try_lock(state, waiter_ref{3, 14}, home);
  CHECK(trying.status == outcome::queued);
  CHECK(trying.recall == no_node);

  // The leaseholder gives it back (an unlock from node 1): the lease ends and the first waiter,
  // on the home, is woken to retry.
  auto woken = mutex_table::unlock(state, 9, home, 1);
  REQUIRE(woken.has_value());
  CHECK(woken->waiter == waiter_ref{home, 12});
  CHECK(woken->retry);
  CHECK(state.leased_to.load() == no_node);
  CHECK_FALSE(drust::detail::mutex_leased(&state));
  CHECK(state.data == 9);
}

TEST_CASE("mutex_table: a try_lock of a leased mutex is handed it when given back, refused when busy") {
  mutex_state state;
  REQUIRE(lease_to(state, 1) > 0);

  // Free at the leaseholder: it gives the mutex back, and the try_lock (even one of the home's
  // threads) is handed it, not woken to retry.
  const auto first = mutex_table::try_lock(state, waiter_ref{home, 3}, home);
  CHECK(first.status == outcome::queued);
  CHECK(first.recall == 1);
  auto handed = mutex_table::unlock(state, 4, home, 1, /*served=*/5);
  REQUIRE(handed.has_value());
  CHECK(handed->waiter == waiter_ref{home, 3});
  CHECK_FALSE(handed->retry);
  CHECK(state.word.load() == 1);  // held by the try_lock now
  CHECK(state.data == 4);
  CHECK_FALSE(mutex_table::unlock(state, 4, home, home).has_value());

  // Leased again; held at the leaseholder: "busy" refuses the try_locks queued, keeps the lock
  // waiters, and later try_locks are refused at once until the lease ends.
  REQUIRE(lease_to(state, 2) > 0);
  CHECK(mutex_table::try_lock(state, waiter_ref{3, 7}, home).recall == 2);
  CHECK_FALSE(mutex_table::lock(state, waiter_ref{3, 8}, remote_request, home).granted);
  CHECK(mutex_table::try_lock(state, waiter_ref{home, 9}, home).status == outcome::queued);
  CHECK(mutex_table::lease_busy(state, 1).empty());  // not the leaseholder: ignored
  const std::vector<waiter_ref> refused = mutex_table::lease_busy(state, 2);
  CHECK(refused == std::vector<waiter_ref>{waiter_ref{3, 7}, waiter_ref{home, 9}});
  CHECK(mutex_table::try_lock(state, waiter_ref{3, 10}, home).status == outcome::refused);
  auto next = mutex_table::unlock(state, 1, home, 2);  // the holder there unlocks: given back
  REQUIRE(next.has_value());
  CHECK(next->waiter == waiter_ref{3, 8});
  CHECK(state.leased_to.load() == no_node);
}

TEST_CASE("mutex_table: no lease while others queue, after another node, or for the home; try_lock recalls") {
  mutex_state state;
  // Node 1, then node 2 in a row: the streak counts node 2's grants only.
  CHECK_FALSE(mutex_table::lock(state, waiter_ref{1, 1}, remote_request, home).leased);
  CHECK_FALSE(mutex_table::unlock(state, 0, home, 1).has_value());
  CHECK(lease_to(state, 2) == drust::sync::first_lease_streak);
  const auto trying = mutex_table::try_lock(state, waiter_ref{3, 9}, home);
  CHECK(trying.status == outcome::queued);
  CHECK(trying.recall == 2);  // a try_lock recalls too
  auto handed = mutex_table::unlock(state, 0, home, 2);
  REQUIRE(handed.has_value());
  CHECK(handed->waiter == waiter_ref{3, 9});
  CHECK_FALSE(mutex_table::unlock(state, 0, home, 3).has_value());
  CHECK(state.leased_to.load() == no_node);
  CHECK(mutex_table::try_lock(state, waiter_ref{3, 10}, home).status == outcome::granted);
  CHECK_FALSE(mutex_table::unlock(state, 0, home, 3).has_value());

  // The home's own threads never hold leases.
  for (int i = 0; i < 3; ++i) {
    mutex_lock_result mine = mutex_table::lock(state, waiter_ref{home, 3}, home_request, home);
    CHECK(mine.granted);
    CHECK_FALSE(mine.leased);
    CHECK_FALSE(mutex_table::unlock(state, 0, home, home).has_value());
  }

  // Node 1 twice in a row, but the second time a waiter is queued: handed over, not leased.
  CHECK(mutex_table::lock(state, waiter_ref{1, 4}, remote_request, home).granted);
  CHECK_FALSE(mutex_table::lock(state, waiter_ref{1, 5}, remote_request, home).granted);  // queued
  auto to_waiter = mutex_table::unlock(state, 0, home, 1);
  REQUIRE(to_waiter.has_value());
  CHECK(to_waiter->waiter == waiter_ref{1, 5});
  CHECK_FALSE(to_waiter->retry);
  CHECK(state.leased_to.load() == no_node);
}

TEST_CASE("mutex_table: a lease that served little, or that the home wanted, makes the next one take a longer streak") {
  mutex_state state;
  // Locks in a row by node 1 until one is leased; returns how many it took.
  constexpr int first = drust::sync::first_lease_streak;
  auto streak_to_lease = [&](int node) { return lease_to(state, node); };
  CHECK(streak_to_lease(1) == first);
  (void)mutex_table::unlock(state, 0, home, 1, /*served=*/0);  // recalled before it served a lock
  CHECK(streak_to_lease(1) == 2 * first);
  (void)mutex_table::unlock(state, 0, home, 1, /*served=*/1);
  CHECK(streak_to_lease(1) == 4 * first);
  (void)mutex_table::unlock(state, 0, home, 1, /*served=*/10);  // worth it: back to the first streak
  CHECK(streak_to_lease(1) == first);
  for (int wasted = 0; wasted < 10; ++wasted) {
    (void)mutex_table::unlock(state, 0, home, 1, 0);
    REQUIRE(streak_to_lease(1) > 0);
  }
  (void)mutex_table::unlock(state, 0, home, 1, 0);
  CHECK(streak_to_lease(1) == drust::sync::max_lease_streak);  // capped
  // Another node's grant breaks a streak.
  (void)mutex_table::unlock(state, 0, home, 1, 0);
  CHECK_FALSE(mutex_table::lock(state, waiter_ref{2, 1}, remote_request, home).leased);
  (void)mutex_table::unlock(state, 0, home, 2);
  CHECK(streak_to_lease(1) == drust::sync::max_lease_streak);
  (void)mutex_table::unlock(state, 0, home, 1, 10);
  CHECK(streak_to_lease(1) == first);

  // A thread of the home asked for it while leased: the longest streak at once, however much
  // the lease served.
  CHECK_FALSE(mutex_table::lock(state, waiter_ref{home, 2}, home_request, home).granted);
  auto retry = mutex_table::unlock(state, 0, home, 1, /*served=*/10);
  REQUIRE(retry.has_value());
  CHECK(retry->retry);
  CHECK(mutex_table::lock(state, waiter_ref{home, 2}, mutex_table::lock_request{true, true}, home).granted);
  (void)mutex_table::unlock(state, 0, home, home);
  CHECK(streak_to_lease(1) == drust::sync::max_lease_streak);
}

TEST_CASE("mutex_table: destruction ends a lease and names the leaseholder") {
  mutex_state state;
  CHECK(mutex_table::end_lease(state) == no_node);
  REQUIRE(lease_to(state, 3) > 0);
  CHECK(mutex_table::end_lease(state) == 3);
  CHECK(state.leased_to.load() == no_node);
}

TEST_CASE("mutex_leases: locks served here, a recall while free, while held, and before the grant") {
  mutex_leases leases;
  drust::detail::global_word data = 0;
  CHECK_FALSE(leases.try_lock(0, 0x1000, data));
  CHECK(leases.unlock(0, 0x1000, 1) == mutex_leases::unlock_result::not_leased);

  leases.enter(0, 0x1000);  // granted to this thread: held
  CHECK(leases.held() == 1);
  CHECK_FALSE(leases.try_lock(0, 0x1000, data));  // held (it spins a little, then gives up)
  CHECK(leases.unlock(0, 0x1000, 5) == mutex_leases::unlock_result::kept);
  CHECK(leases.try_lock(0, 0x1000, data));
  CHECK(data == 5);
  CHECK(leases.unlock(0, 0x1000, 6) == mutex_leases::unlock_result::kept);
  CHECK(leases.lease_locks() == 1);
  // The same address homed on another node is another mutex.
  CHECK_FALSE(leases.try_lock(1, 0x1000, data));

  // Recalled while free: given back at once, with the data word.
  const recall_answer free_answer = recall(leases, 0, 0x1000);
  CHECK(free_answer.data == std::optional<drust::detail::global_word>(6));
  CHECK(free_answer.busy == 0);
  CHECK(free_answer.served == 1);
  CHECK(leases.held() == 0);
  CHECK_FALSE(leases.try_lock(0, 0x1000, data));

  // Recalled while held: the holder's unlock gives it back.
  CHECK_FALSE(leases.enter(0, 0x2000));
  const recall_answer held_answer = recall(leases, 0, 0x2000);
  CHECK_FALSE(held_answer.data.has_value());
  CHECK(held_answer.busy == 1);
  CHECK_FALSE(leases.try_lock(0, 0x2000, data));  // recalled: ask the home
  std::uint64_t served = 99;
  CHECK(leases.unlock(0, 0x2000, 8, &served) == mutex_leases::unlock_result::release);
  CHECK(served == 0);  // only the granted lock, which the lease did not serve
  CHECK(leases.held() == 0);

  // The recall came before the grant reached its thread: the lease is entered recalled.
  const recall_answer early = recall(leases, 0, 0x3000);
  CHECK_FALSE(early.data.has_value());
  CHECK(early.busy == 0);
  CHECK(leases.enter(0, 0x3000));  // the caller says busy
  CHECK(leases.unlock(0, 0x3000, 0) == mutex_leases::unlock_result::release);

  // forget and forget_home drop leases, and recalls kept for them.
  leases.enter(0, 0x4000);
  leases.enter(2, 0x5000);
  CHECK_FALSE(recall(leases, 2, 0x6000).data.has_value());
  leases.forget(0, 0x4000);
  CHECK(leases.unlock(0, 0x4000, 0) == mutex_leases::unlock_result::not_leased);
  leases.forget_home(2);
  CHECK(leases.held() == 0);
  leases.enter(2, 0x6000);  // the kept recall went with its home
  CHECK(leases.unlock(2, 0x6000, 0) == mutex_leases::unlock_result::kept);
}

TEST_CASE("mutex_leases: threads locking through a lease while it is recalled never overlap, and give it back once") {
  mutex_leases leases;
  leases.enter(0, 0x1000);
  REQUIRE(leases.unlock(0, 0x1000, 0) == mutex_leases::unlock_result::kept);
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> releases{0};
  std::atomic<int> after_release{0};  // locks that succeeded once the lease was seen given back
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  long counter = 0;  // written only by the lease's holder: TSan checks the hand-offs
  std::vector<std::thread> lockers;
  for (int t = 0; t < 3; ++t) {
    lockers.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        const bool given_back = releases.load() != 0;
        drust::detail::global_word data = 0;
        if (!leases.try_lock(0, 0x1000, data)) continue;
        if (given_back) after_release.fetch_add(1);
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        ++counter;
        inside.fetch_sub(1);
        const auto result = leases.unlock(0, 0x1000, static_cast<drust::detail::global_word>(counter));
        if (result == mutex_leases::unlock_result::release) releases.fetch_add(1);
      }
    });
  }
  go.store(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const long before_recall = [&] {
    // Some locks went through the lease before the recall (read under the lease, so no race).
    drust::detail::global_word data = 0;
    while (!leases.try_lock(0, 0x1000, data)) std::this_thread::yield();
    const long seen = counter;
    REQUIRE(leases.unlock(0, 0x1000, data) == mutex_leases::unlock_result::kept);
    return seen;
  }();
  if (recall(leases, 0, 0x1000).data.has_value()) releases.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop.store(true);
  for (auto& thread : lockers) thread.join();
  CHECK(before_recall > 0);
  CHECK(after_release.load() == 0);
  CHECK(overlaps.load() == 0);
  CHECK(releases.load() == 1);
  CHECK(leases.held() == 0);
  drust::detail::global_word data = 0;
  CHECK_FALSE(leases.try_lock(0, 0x1000, data));
  CHECK(counter >= 1);
}
