// The home's side of drust::std::barrier: the expected count, the arrivals still missing in the
// current phase, and the threads waiting for a phase to complete.
//
// The last arrival of a phase does not run the completion here: it is told so, runs the
// completion function on its own thread (as std's barrier runs it on an arriving thread), then
// reports the phase complete, which wakes the phase's waiters. Arrivals that come meanwhile count
// towards the next phase.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <drust/detail/sync.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct barrier_state {
  absl::Mutex lock;
  ::std::ptrdiff_t expected ABSL_GUARDED_BY(lock) = 0;   // per phase, less the threads that dropped
  ::std::ptrdiff_t remaining ABSL_GUARDED_BY(lock) = 0;  // arrivals missing in the current phase
  ::std::uint64_t phase ABSL_GUARDED_BY(lock) = 0;       // the phase arrivals count towards now
  ::std::uint64_t completed ABSL_GUARDED_BY(lock) = 0;   // phases whose completion step is done
  ::std::vector<::std::pair<::std::uint64_t, waiter_ref>> waiters ABSL_GUARDED_BY(lock);
};

namespace barrier_table {

// Fails (false) when `update` is not positive or exceeds the arrivals missing (std: undefined).
bool arrive(barrier_state& state, ::std::ptrdiff_t update, bool drop, detail::barrier_arrival& arrival);
// The completion step of `phase` is done: the waiters to wake.
::std::vector<waiter_ref> complete(barrier_state& state, ::std::uint64_t phase);
// true: `phase` completed already; else `waiter` is registered until it does.
bool enter_wait(barrier_state& state, ::std::uint64_t phase, waiter_ref waiter);

}  // namespace barrier_table
}  // namespace drust::sync
