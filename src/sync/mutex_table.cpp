#include "sync/mutex_table.hpp"

#include <algorithm>

namespace drust::sync::mutex_table {

// The word: 0 free, 1 held, 2 held with waiters that may be queued. Invariant: the queue is
// non-empty only while the word is 2; the word leaves 2 only with queue_lock held.

mutex_lock_result lock(mutex_state& state, waiter_ref waiter) {
  if (detail::mutex_try_lock_fast(&state)) return {true, state.data};
  absl::MutexLock hold(&state.queue_lock);
  if (state.word.exchange(2, ::std::memory_order_acquire) == 0) {
    // Released meanwhile: ours. The queue is empty (the word was not 2), so no waiter to flag.
    state.word.store(1, ::std::memory_order_relaxed);
    return {true, state.data};
  }
  state.queue.push_back(waiter);
  return {false, 0};
}

::std::optional<detail::global_word> try_lock(mutex_state& state) {
  if (detail::mutex_try_lock_fast(&state)) return state.data;
  return ::std::nullopt;
}

::std::optional<waiter_ref> unlock(mutex_state& state, detail::global_word data) {
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
  state.word.store(state.queue.empty() ? 1 : 2, ::std::memory_order_relaxed);
  return next;
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
