// The home's side of drust::std::mutex (and timed_mutex, sync::mutex<T>): the states of the
// mutexes homed on this node and the algorithm on them, shared by this node's threads (their
// slow path) and other nodes' requests (docs/design/sync.md, "mutex").
//
// The state starts with detail::mutex_core, whose word the inline fast paths change with one
// atomic when the mutex is free or has no waiter. A thread that finds it held spins briefly when it
// is on the home node, then is queued here (FIFO) and the word says so (2): the holder's unlock
// then takes this slow path. How the first waiter gets the mutex depends on where it is:
//
//  - a waiter on another node is *handed* the mutex, with the data word: the mutex stays held
//    across the wake message, so a remote waiter needs one message, not a retry round trip;
//  - a waiter on the home node is woken to *retry*, and the mutex is released meanwhile, as a
//    futex mutex (std::mutex) does: a thread that is running may take it first. Handing it over
//    would make every acquisition under contention wait for a sleeping thread to be scheduled (a
//    lock convoy: on a busy node, a context switch per critical section). The retry skips the
//    fast path and keeps the waiter's place at the front of the queue, so its own unlock comes
//    back here and wakes the next.
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

// How a lock request came.
struct lock_request {
  bool on_home = false;   // from a thread of the home node: it may spin a little before queueing
  bool retrying = false;  // a waiter woken to retry (unlock's wake_retry): no fast path, front of the queue
};

// Granted at once (the mutex was free), or `waiter` is queued.
mutex_lock_result lock(mutex_state& state, waiter_ref waiter, lock_request how);
// The data word when the mutex was free and is now held by the caller.
::std::optional<detail::global_word> try_lock(mutex_state& state);
// The first waiter, taken off the queue by unlock: wake it with the data word, or to retry.
struct unlock_wake {
  waiter_ref waiter;
  bool retry = false;  // the mutex was released, not handed over: the waiter asks again
};

// Releases the mutex. When waiters are queued the first is taken off the queue and returned: a
// waiter on another node (`home` is this node's id) is handed the mutex, which stays held; a
// waiter on this node is to retry, and the mutex is released.
::std::optional<unlock_wake> unlock(mutex_state& state, detail::global_word data, int home);
// A timed lock gave up: true when `waiter` was still queued (now removed), false when it was
// taken off the queue already (its wake, a hand-over or a retry, is on the way).
bool cancel(mutex_state& state, waiter_ref waiter);
// The waiters still queued when the mutex is destroyed.
::std::vector<waiter_ref> take_waiters(mutex_state& state);

}  // namespace mutex_table
}  // namespace drust::sync
