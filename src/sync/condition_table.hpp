// The home's side of drust::std::condition_variable: the waiters registered at each condition
// homed on this node, in arrival order. A waiter registers here *before* it releases its mutex,
// so a notify that follows the release always finds it (docs/design/sync.md, "condition_variable").
#pragma once

#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct condition_state {
  absl::Mutex lock;
  ::std::deque<waiter_ref> waiters ABSL_GUARDED_BY(lock);
};

namespace condition_table {

void enter(condition_state& state, waiter_ref waiter);
// A timed wait gave up: true when the waiter was still registered (now removed), false when a
// notify took it already (its wake is on the way).
bool cancel(condition_state& state, waiter_ref waiter);
// The waiters to wake: the first one, or all.
::std::vector<waiter_ref> notify(condition_state& state, bool all);

}  // namespace condition_table
}  // namespace drust::sync
