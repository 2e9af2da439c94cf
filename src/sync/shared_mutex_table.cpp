#include "sync/shared_mutex_table.hpp"

namespace drust::sync::shared_mutex_table {

namespace {

using core = detail::shared_mutex_core;

// Once the waiting bit is set, only this file changes the word (under the queue's lock): every
// fast path fails on it. Before, the fast paths may change it at any time, hence the CAS loops.

// The mutex would admit this locker now: no writer, no readers for a writer, nobody queued.
bool admits(::std::uint32_t word, bool shared, bool queue_empty) {
  if (!queue_empty || (word & core::writer) != 0) return false;
  return shared ? (word & core::readers) != core::readers : (word & core::readers) == 0;
}

::std::uint32_t admitted(::std::uint32_t word, bool shared) { return shared ? word + 1 : core::writer; }

// Hands the released mutex (no holder left) to the front of the queue: a writer, or every reader
// there. The waiting bit stays while others are queued.
::std::vector<waiter_ref> hand_over(shared_mutex_state& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.queue_lock) {
  ::std::vector<waiter_ref> woken;
  ::std::uint32_t word = 0;
  if (!state.queue.empty() && !state.queue.front().shared) {
    woken.push_back(state.queue.front().waiter);
    state.queue.pop_front();
    word = core::writer;
  } else {
    while (!state.queue.empty() && state.queue.front().shared) {
      woken.push_back(state.queue.front().waiter);
      state.queue.pop_front();
      ++word;
    }
  }
  if (!state.queue.empty()) word |= core::waiting;
  state.word.store(word, ::std::memory_order_release);
  return woken;
}

}  // namespace

bool lock(shared_mutex_state& state, waiter_ref waiter, bool shared) {
  if (shared ? detail::shared_mutex_lock_shared_fast(&state) : detail::shared_mutex_lock_fast(&state)) return true;
  absl::MutexLock hold(&state.queue_lock);
  ::std::uint32_t word = state.word.load(::std::memory_order_relaxed);
  for (;;) {
    if (admits(word, shared, state.queue.empty())) {
      if (state.word.compare_exchange_weak(word, admitted(word, shared), ::std::memory_order_acquire,
                                           ::std::memory_order_relaxed)) {
        return true;
      }
    } else if (state.word.compare_exchange_weak(word, word | core::waiting, ::std::memory_order_relaxed,
                                                ::std::memory_order_relaxed)) {
      state.queue.push_back({waiter, shared});
      return false;
    }
  }
}

bool try_lock(shared_mutex_state& state, bool shared) {
  if (shared ? detail::shared_mutex_lock_shared_fast(&state) : detail::shared_mutex_lock_fast(&state)) return true;
  absl::MutexLock hold(&state.queue_lock);
  ::std::uint32_t word = state.word.load(::std::memory_order_relaxed);
  while (admits(word, shared, state.queue.empty())) {
    if (state.word.compare_exchange_weak(word, admitted(word, shared), ::std::memory_order_acquire,
                                         ::std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

::std::vector<waiter_ref> unlock(shared_mutex_state& state, bool shared) {
  if (shared ? detail::shared_mutex_unlock_shared_fast(&state) : detail::shared_mutex_unlock_fast(&state)) return {};
  absl::MutexLock hold(&state.queue_lock);
  // The waiting bit is set (the fast path failed on it), so the word is stable here.
  const ::std::uint32_t word = state.word.load(::std::memory_order_acquire);
  if (shared && (word & core::readers) > 1) {
    state.word.store(word - 1, ::std::memory_order_release);
    return {};
  }
  return hand_over(state);
}

::std::vector<waiter_ref> take_waiters(shared_mutex_state& state) {
  absl::MutexLock hold(&state.queue_lock);
  ::std::vector<waiter_ref> waiters;
  for (const auto& entry : state.queue) waiters.push_back(entry.waiter);
  state.queue.clear();
  return waiters;
}

}  // namespace drust::sync::shared_mutex_table
