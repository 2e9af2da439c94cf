// The home's side of drust::std::atomic<T>: the value's bits (detail::atomic_core, which this
// node's threads change in place with std::atomic_ref) and the other nodes' waiters of wait().
// Requests from other nodes are applied here with the same atomic_apply as the fast path.
#pragma once

#include <cstdint>
#include <vector>

#include <drust/detail/sync.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sync/waiters.hpp"

namespace drust::sync {

struct atomic_state : detail::atomic_core {
  absl::Mutex lock;
  ::std::vector<waiter_ref> waiters ABSL_GUARDED_BY(lock);  // other nodes' wait(), until a notify
};

namespace atomic_table {

// One operation on `width` bytes (1, 2, 4 or 8), sequentially consistent; the value before.
::std::uint64_t apply(atomic_state& state, detail::atomic_op op, unsigned width, ::std::uint64_t a,
                      ::std::uint64_t b, bool& success);
// wait(old) from another node: false when the value differs from `old` already; else `waiter`
// is registered and woken by the next notify.
bool enter_wait(atomic_state& state, unsigned width, ::std::uint64_t old, waiter_ref waiter);
// The remote waiters to wake (one or all), after this node's own waiters were woken.
::std::vector<waiter_ref> notify(atomic_state& state, unsigned width, bool all);
// Whether `width` is one of the sizes drust::std::atomic keeps.
bool valid_width(unsigned width);

}  // namespace atomic_table
}  // namespace drust::sync
