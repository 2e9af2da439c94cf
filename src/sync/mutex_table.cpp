#include "sync/mutex_table.hpp"

#include <algorithm>

namespace drust::sync::mutex_table {

// The word: 0 free, 1 held, 2 held with waiters that may be queued. Invariant: the queue is
// non-empty while the word is not 2 only when a waiter woken to retry is on its way back; its retry
// sets the word to 2 again (it takes the mutex with the queue non-empty, or queues itself).

namespace {

// How often a thread of the home node tries again before it queues: about a microsecond, enough
// for a short critical section on a running holder to end, too little to matter when it does not.
constexpr int spins_before_queueing = 100;

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

bool spin_for_free(mutex_state& state) {
  for (int i = 0; i < spins_before_queueing; ++i) {
    cpu_relax();
    if (state.word.load(::std::memory_order_relaxed) == 0 && detail::mutex_try_lock_fast(&state)) return true;
  }
  return false;
}

}  // namespace

mutex_lock_result lock(mutex_state& state, waiter_ref waiter, lock_request how) {
  if (!how.retrying) {
    if (detail::mutex_try_lock_fast(&state)) return {true, state.data};
    if (how.on_home && spin_for_free(state)) return {true, state.data};
  }
  absl::MutexLock hold(&state.queue_lock);
  if (state.word.exchange(2, ::std::memory_order_acquire) == 0) {
    // Free: ours. Others may still queue (behind a retrying waiter), and then our unlock must come
    // here to wake them.
    state.word.store(state.queue.empty() ? 1 : 2, ::std::memory_order_relaxed);
    return {true, state.data};
  }
  if (how.retrying) {
    state.queue.push_front(waiter);
  } else {
    state.queue.push_back(waiter);
  }
  return {false, 0};
}

::std::optional<detail::global_word> try_lock(mutex_state& state) {
  if (detail::mutex_try_lock_fast(&state)) return state.data;
  return ::std::nullopt;
}

::std::optional<unlock_wake> unlock(mutex_state& state, detail::global_word data, int home) {
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
  if (next.node == home || next.node == detail::sync_process_local) {
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
  return waiters;
}

}  // namespace drust::sync::mutex_table
