// The home's side of drust::std::latch: the count and the threads (of any node) waiting for it
// to reach zero.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct latch_state {
  absl::Mutex lock;
  ::std::ptrdiff_t count ABSL_GUARDED_BY(lock) = 0;
  ::std::vector<waiter_ref> waiters ABSL_GUARDED_BY(lock);
};

namespace latch_table {

// The waiters to wake when this count_down opened the latch. Fails (false) when `update` is
// negative or larger than the count, which std leaves undefined.
bool count_down(latch_state& state, ::std::ptrdiff_t update, ::std::vector<waiter_ref>& opened);
bool is_open(latch_state& state);
// true: open already; else `waiter` is registered and woken when it opens.
bool enter_wait(latch_state& state, waiter_ref waiter);

}  // namespace latch_table
}  // namespace drust::sync
