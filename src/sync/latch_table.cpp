#include "sync/latch_table.hpp"

namespace drust::sync::latch_table {

bool count_down(latch_state& state, ::std::ptrdiff_t update, ::std::vector<waiter_ref>& opened) {
  absl::MutexLock hold(&state.lock);
  if (update < 0 || update > state.count) return false;
  state.count -= update;
  if (state.count == 0) opened.swap(state.waiters);
  return true;
}

bool is_open(latch_state& state) {
  absl::MutexLock hold(&state.lock);
  return state.count == 0;
}

bool enter_wait(latch_state& state, waiter_ref waiter) {
  absl::MutexLock hold(&state.lock);
  if (state.count == 0) return true;
  state.waiters.push_back(waiter);
  return false;
}

}  // namespace drust::sync::latch_table
