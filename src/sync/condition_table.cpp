#include "sync/condition_table.hpp"

#include <algorithm>

namespace drust::sync::condition_table {

void enter(condition_state& state, waiter_ref waiter) {
  absl::MutexLock hold(&state.lock);
  state.waiters.push_back(waiter);
}

bool cancel(condition_state& state, waiter_ref waiter) {
  absl::MutexLock hold(&state.lock);
  auto found = ::std::find(state.waiters.begin(), state.waiters.end(), waiter);
  if (found == state.waiters.end()) return false;
  state.waiters.erase(found);
  return true;
}

::std::vector<waiter_ref> notify(condition_state& state, bool all) {
  absl::MutexLock hold(&state.lock);
  ::std::vector<waiter_ref> woken;
  if (state.waiters.empty()) return woken;
  if (all) {
    woken.assign(state.waiters.begin(), state.waiters.end());
    state.waiters.clear();
  } else {
    woken.push_back(state.waiters.front());
    state.waiters.pop_front();
  }
  return woken;
}

}  // namespace drust::sync::condition_table
