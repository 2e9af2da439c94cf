// The home's side of drust::std::mutex (and timed_mutex, sync::mutex<T>): the states of the
// mutexes homed on this node and the algorithm on them, shared by this node's threads (their
// slow path) and other nodes' requests (docs/design/sync.md, "mutex").
//
// The state starts with detail::mutex_core, whose word the inline fast paths change with one
// atomic when the mutex is free or has no waiter. A thread that finds it held is queued here
// (FIFO) and the word says so (2): the holder's unlock then takes this slow path and hands the
// mutex, with the data word, to the first waiter, so no waiter starves and a remote waiter needs
// one wake message, not a retry.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include <drust/detail/sync.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct mutex_state : detail::mutex_core {
  absl::Mutex queue_lock;
  ::std::deque<waiter_ref> queue ABSL_GUARDED_BY(queue_lock);
};

struct mutex_lock_result {
  bool granted = false;  // else queued: the waiter is woken when the mutex is handed to it
  detail::global_word data = 0;
};

namespace mutex_table {

// Granted at once (the mutex was free), or `waiter` is queued.
mutex_lock_result lock(mutex_state& state, waiter_ref waiter);
// The data word when the mutex was free and is now held by the caller.
::std::optional<detail::global_word> try_lock(mutex_state& state);
// Releases the mutex; when waiters are queued, it goes to the first (returned; wake it with the
// data word) and stays held.
::std::optional<waiter_ref> unlock(mutex_state& state, detail::global_word data);
// A timed lock gave up: true when `waiter` was still queued (now removed), false when the mutex
// was handed to it already (its wake is on the way).
bool cancel(mutex_state& state, waiter_ref waiter);
// The waiters still queued when the mutex is destroyed.
::std::vector<waiter_ref> take_waiters(mutex_state& state);

}  // namespace mutex_table
}  // namespace drust::sync
