// The home's side of drust::std::shared_mutex: its state and the algorithm on it, shared by this
// node's threads (their slow path) and other nodes' requests (docs/design/sync.md, "shared_mutex").
//
// The word (detail::shared_mutex_core) changes with one atomic on the inline fast paths while
// nobody is queued. A locker that cannot get in is queued here in arrival order and sets the
// waiting bit, after which every lock and unlock takes this slow path under the queue's lock. A
// release hands the mutex over in queue order: to the first waiter when it is a writer, else to
// every reader at the front of the queue, at once. A reader does not get in past a queued writer
// (no writer starves). Hand-overs go to waiters on the home node too: a shared_mutex is for
// read-mostly data, where the convoy a mutex avoids by waking local waiters to retry matters less
// than never re-queueing a reader.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include <drust/detail/sync.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct shared_mutex_state : detail::shared_mutex_core {
  struct queued {
    waiter_ref waiter;
    bool shared = false;
  };
  absl::Mutex queue_lock;
  ::std::deque<queued> queue ABSL_GUARDED_BY(queue_lock);
};

namespace shared_mutex_table {

// Granted at once, or `waiter` is queued (woken when the mutex is handed to it).
bool lock(shared_mutex_state& state, waiter_ref waiter, bool shared);
// Granted at once, or not at all.
bool try_lock(shared_mutex_state& state, bool shared);
// Releases the caller's hold; returns the waiters now holding it (wake them).
::std::vector<waiter_ref> unlock(shared_mutex_state& state, bool shared);
// The waiters still queued when the mutex is destroyed.
::std::vector<waiter_ref> take_waiters(shared_mutex_state& state);

}  // namespace shared_mutex_table
}  // namespace drust::sync
