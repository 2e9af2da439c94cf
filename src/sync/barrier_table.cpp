#include "sync/barrier_table.hpp"

#include <algorithm>

namespace drust::sync::barrier_table {

bool arrive(barrier_state& state, ::std::ptrdiff_t update, bool drop, detail::barrier_arrival& arrival) {
  absl::MutexLock hold(&state.lock);
  if (update <= 0 || update > state.remaining) return false;
  if (drop) --state.expected;
  state.remaining -= update;
  arrival.phase = state.phase;
  arrival.last = state.remaining == 0;
  if (arrival.last) {
    ++state.phase;
    state.remaining = state.expected;
  }
  return true;
}

::std::vector<waiter_ref> complete(barrier_state& state, ::std::uint64_t phase) {
  absl::MutexLock hold(&state.lock);
  state.completed = ::std::max(state.completed, phase + 1);
  const ::std::uint64_t completed = state.completed;
  ::std::vector<waiter_ref> woken;
  auto still_waiting = ::std::stable_partition(state.waiters.begin(), state.waiters.end(),
                                               [completed](const auto& entry) { return entry.first >= completed; });
  for (auto it = still_waiting; it != state.waiters.end(); ++it) woken.push_back(it->second);
  state.waiters.erase(still_waiting, state.waiters.end());
  return woken;
}

bool enter_wait(barrier_state& state, ::std::uint64_t phase, waiter_ref waiter) {
  absl::MutexLock hold(&state.lock);
  if (state.completed > phase) return true;
  state.waiters.emplace_back(phase, waiter);
  return false;
}

}  // namespace drust::sync::barrier_table
