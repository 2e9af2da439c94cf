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
//
// A *lease* (docs/design/sync.md, "Leases"): a remote node that locks the mutex twice in a row
// (more after leases that served it little: `lease_streak`) with nobody queued is granted it leased: it keeps the mutex after its unlocks, and its threads
// lock and unlock it there with one atomic each (src/sync/mutex_leases.hpp), until the home
// *recalls* it because another thread asks for it (lock, try_lock) or the mutex is destroyed.
// While leased, the home's word says held; the leaseholder's unlock after the recall (a
// `mutex_unlock` from it) ends the lease and is then an ordinary unlock. A try_lock of a leased
// mutex waits for the leaseholder's answer to the recall: the mutex (given back at once when it
// was free there) or *busy* (a thread there holds it), which refuses the try_lock.
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

inline constexpr int no_node = -1;
inline constexpr int first_lease_streak = 4;
inline constexpr int max_lease_streak = 64;

struct mutex_state : detail::mutex_core {
  absl::Mutex queue_lock;
  ::std::deque<waiter_ref> queue ABSL_GUARDED_BY(queue_lock);
  // The node the mutex is leased to, or no_node; changed under queue_lock, read without it by the
  // unlock's check for a lease's end.
  ::std::atomic<int> leased_to{no_node};
  bool recalled ABSL_GUARDED_BY(queue_lock) = false;  // the recall was sent (once per lease)
  bool lease_busy ABSL_GUARDED_BY(queue_lock) = false;  // the leaseholder answered: held there
  bool wanted_at_home ABSL_GUARDED_BY(queue_lock) = false;  // a thread of the home asked meanwhile
  int last_holder ABSL_GUARDED_BY(queue_lock) = no_node;  // granted last through this table
  int streak ABSL_GUARDED_BY(queue_lock) = 0;             // grants in a row to last_holder
  // The streak that earns a lease: first_lease_streak, doubled (up to max_lease_streak) each time a
  // lease served its node fewer than 2 locks before it was recalled, back to first_lease_streak
  // when one served more; max_lease_streak at once when a thread of the home asked for it while
  // leased (its locks there cost one atomic when the mutex is not leased away).
  int lease_streak ABSL_GUARDED_BY(queue_lock) = first_lease_streak;
  // The queued waiters that are try_locks (in the queue too): handed the mutex, or refused when
  // the leaseholder is busy.
  ::std::vector<waiter_ref> tries ABSL_GUARDED_BY(queue_lock);
};

struct mutex_lock_result {
  bool granted = false;  // else queued: the waiter is woken when the mutex is handed to it
  detail::global_word data = 0;
  bool leased = false;   // granted as a lease to the waiter's node
  int recall = no_node;  // the leaseholder the caller must send a recall to (once per lease)
};

namespace mutex_table {

// How a lock request came.
struct lock_request {
  bool on_home = false;   // from a thread of the home node: it may spin a little before queueing
  bool retrying = false;  // a waiter woken to retry (unlock's wake_retry): no fast path, front of the queue
  bool may_lease = true;  // the home leases mutexes (DRUST_MUTEX_LEASES)
};

// Granted at once (the mutex was free), or `waiter` is queued. `home` is this node's id.
mutex_lock_result lock(mutex_state& state, waiter_ref waiter, lock_request how, int home);
// A try_lock: granted (the mutex was free), refused (held), or, when the mutex is leased to
// another node and may be free there, `waiter` is queued until the leaseholder answers the
// recall (`recall`: the leaseholder to send it to, once per lease).
struct try_lock_result {
  enum class outcome { granted, refused, queued } status = outcome::refused;
  detail::global_word data = 0;
  int recall = no_node;
};
try_lock_result try_lock(mutex_state& state, waiter_ref waiter, int home);
// The leaseholder `source` answered the recall: a thread there holds the mutex (it gives it back
// at its unlock). Returns the try_locks queued meanwhile, taken off the queue: refuse them.
::std::vector<waiter_ref> lease_busy(mutex_state& state, int source);
// The first waiter, taken off the queue by unlock: wake it with the data word, or to retry.
struct unlock_wake {
  waiter_ref waiter;
  bool retry = false;  // the mutex was released, not handed over: the waiter asks again
};

// Releases the mutex, sent by node `source` (a lease's end when it is the leaseholder). When
// waiters are queued the first is taken off the queue and returned: a waiter on another node
// (`home` is this node's id), or a try_lock, is handed the mutex, which stays held; a waiter on
// this node is to retry, and the mutex is released.
// `served`: when the unlock ends a lease, the locks the lease served its node.
::std::optional<unlock_wake> unlock(mutex_state& state, detail::global_word data, int home, int source,
                                    ::std::uint64_t served = 0);
// The mutex is being destroyed: the leaseholder that must forget its lease, or no_node. The
// lease ends here either way.
int end_lease(mutex_state& state);
// A timed lock gave up: true when `waiter` was still queued (now removed), false when it was
// taken off the queue already (its wake, a hand-over or a retry, is on the way).
bool cancel(mutex_state& state, waiter_ref waiter);
// The waiters still queued when the mutex is destroyed.
::std::vector<waiter_ref> take_waiters(mutex_state& state);

}  // namespace mutex_table
}  // namespace drust::sync
