#include "sync/mutex_table.hpp"

#include "common/cpu_relax.hpp"

#include <algorithm>

namespace drust::sync::mutex_table {

// The word: 0 free, 1 held, 2 held with waiters that may be queued. Invariant: the queue is
// non-empty while the word is not 2 only when a waiter woken to retry is on its way back; its retry
// sets the word to 2 again (it takes the mutex with the queue non-empty, or queues itself).

namespace {

// How often a thread of the home node tries again before it queues: about a microsecond, enough
// for a short critical section on a running holder to end, too little to matter when it does not.
constexpr int spins_before_queueing = 100;

bool spin_for_free(mutex_state& state) {
  for (int i = 0; i < spins_before_queueing; ++i) {
    cpu_relax();
    if (state.word.load(::std::memory_order_relaxed) == 0 && detail::mutex_try_lock_fast(&state)) return true;
  }
  return false;
}

// The waiter's node has the mutex now: a remote node that had it last too, with nobody queued,
// gets it leased.
mutex_lock_result grant(mutex_state& state, waiter_ref waiter, int home, bool may_lease)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  mutex_lock_result granted{true, state.data};
  const bool remote = waiter.node != home && waiter.node != detail::sync_process_local;
  state.streak = state.last_holder == waiter.node ? state.streak + 1 : 1;
  if (may_lease && remote && state.streak >= state.lease_streak && state.queue.empty() &&
      state.word.load(::std::memory_order_relaxed) == 1) {
    state.leased_to.store(waiter.node, ::std::memory_order_relaxed);
    state.leased.store(1, ::std::memory_order_release);
    state.recalled = false;
    state.lease_busy = false;
    granted.leased = true;
  }
  state.last_holder = waiter.node;
  return granted;
}

void clear_lease(mutex_state& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  state.leased_to.store(no_node, ::std::memory_order_relaxed);
  state.leased.store(0, ::std::memory_order_release);
  state.recalled = false;
  state.lease_busy = false;
  state.wanted_at_home = false;
}

// Under the queue's lock: takes the mutex if it is free. The word becomes 2 first, so that when
// others are still queued (behind a retrying waiter) the taker's unlock comes here to wake them.
bool take_if_free(mutex_state& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  if (state.word.exchange(2, ::std::memory_order_acquire) != 0) return false;
  state.word.store(state.queue.empty() ? 1 : 2, ::std::memory_order_relaxed);
  return true;
}

// Whether `waiter` is a queued try_lock; if so it is no longer one.
bool take_try(mutex_state& state, waiter_ref waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  auto found = ::std::find(state.tries.begin(), state.tries.end(), waiter);
  if (found == state.tries.end()) return false;
  state.tries.erase(found);
  return true;
}

// The leaseholder to recall, once per lease.
int take_recall(mutex_state& state, waiter_ref asker, int home) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  const int leaseholder = state.leased_to.load(::std::memory_order_relaxed);
  if (leaseholder != no_node && (asker.node == home || asker.node == detail::sync_process_local)) {
    state.wanted_at_home = true;
  }
  if (leaseholder == no_node || state.recalled) return no_node;
  state.recalled = true;
  return leaseholder;
}

}  // namespace

mutex_lock_result lock(mutex_state& state, waiter_ref waiter, lock_request how, int home) {
  if (!how.retrying) {
    const bool taken = detail::mutex_try_lock_fast(&state) || (how.on_home && spin_for_free(state));
    if (taken) {
      absl::MutexLock hold(&state.queue_lock);
      return grant(state, waiter, home, how.may_lease);
    }
  }
  absl::MutexLock hold(&state.queue_lock);
  if (take_if_free(state)) return grant(state, waiter, home, how.may_lease);
  if (how.retrying) {
    state.queue.push_front(waiter);
  } else {
    state.queue.push_back(waiter);
  }
  mutex_lock_result queued;
  queued.recall = take_recall(state, waiter, home);
  return queued;
}

try_lock_result try_lock(mutex_state& state, waiter_ref waiter, int home) {
  using outcome = try_lock_result::outcome;
  if (detail::mutex_try_lock_fast(&state)) return {outcome::granted, state.data};
  if (state.leased_to.load(::std::memory_order_relaxed) == no_node) return {};
  absl::MutexLock hold(&state.queue_lock);
  if (state.leased_to.load(::std::memory_order_relaxed) == no_node) {
    // The lease ended meanwhile: as an ordinary try_lock, under the queue's rules.
    if (take_if_free(state)) return {outcome::granted, state.data};
    return {};
  }
  if (state.lease_busy) return {};
  state.word.store(2, ::std::memory_order_relaxed);  // held (leased); the lease's end comes here
  state.queue.push_back(waiter);
  state.tries.push_back(waiter);
  return {outcome::queued, 0, take_recall(state, waiter, home)};
}

::std::vector<waiter_ref> lease_busy(mutex_state& state, int source) {
  absl::MutexLock hold(&state.queue_lock);
  if (state.leased_to.load(::std::memory_order_relaxed) != source) return {};  // the lease ended first
  state.lease_busy = true;
  ::std::vector<waiter_ref> refused;
  refused.swap(state.tries);
  for (const waiter_ref& waiter : refused) {
    state.queue.erase(::std::find(state.queue.begin(), state.queue.end(), waiter));
  }
  if (state.queue.empty()) state.word.store(1, ::std::memory_order_relaxed);
  return refused;
}

int end_lease(mutex_state& state) {
  absl::MutexLock hold(&state.queue_lock);
  const int leaseholder = state.leased_to.load(::std::memory_order_relaxed);
  clear_lease(state);
  return leaseholder;
}

::std::optional<unlock_wake> unlock(mutex_state& state, detail::global_word data, int home, int source,
                                    ::std::uint64_t served) {
  if (state.leased_to.load(::std::memory_order_relaxed) == source && source != no_node) {
    // The leaseholder gives the mutex back (it was recalled): from here on an ordinary unlock. A
    // lease that saved less than its recall cost makes the next one harder to earn.
    absl::MutexLock hold(&state.queue_lock);
    if (state.wanted_at_home) {
      state.lease_streak = max_lease_streak;
    } else {
      state.lease_streak = served < 2 ? ::std::min(2 * state.lease_streak, max_lease_streak) : first_lease_streak;
    }
    clear_lease(state);
    state.streak = 0;
  }
  state.data = data;
  if (detail::mutex_unlock_fast(&state)) return ::std::nullopt;
  absl::MutexLock hold(&state.queue_lock);
  if (state.queue.empty()) {
    // Waiters came and gave up (timed locks).
    state.word.store(0, ::std::memory_order_release);
    return ::std::nullopt;
  }
  const waiter_ref next = state.queue.front();
  state.queue.pop_front();
  // A try_lock is handed the mutex wherever it is: woken to retry, it could lose the mutex to a
  // running thread and would then have to queue, which a try_lock must not.
  const bool trying = take_try(state, next);
  if (!trying && (next.node == home || next.node == detail::sync_process_local)) {
    state.word.store(0, ::std::memory_order_release);
    return unlock_wake{next, true};
  }
  state.word.store(state.queue.empty() ? 1 : 2, ::std::memory_order_relaxed);
  return unlock_wake{next, false};
}

bool cancel(mutex_state& state, waiter_ref waiter) {
  absl::MutexLock hold(&state.queue_lock);
  auto found = ::std::find(state.queue.begin(), state.queue.end(), waiter);
  if (found == state.queue.end()) return false;
  state.queue.erase(found);
  return true;
}

::std::vector<waiter_ref> take_waiters(mutex_state& state) {
  absl::MutexLock hold(&state.queue_lock);
  ::std::vector<waiter_ref> waiters(state.queue.begin(), state.queue.end());
  state.queue.clear();
  state.tries.clear();
  return waiters;
}

}  // namespace drust::sync::mutex_table
