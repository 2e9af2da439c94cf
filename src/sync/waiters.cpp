#include "sync/waiters.hpp"

#include <algorithm>

namespace drust::sync {

namespace {
// How often a waiter looks at its home's health itself, in case no failure notice comes.
constexpr auto health_check_interval = ::std::chrono::milliseconds(250);
}  // namespace

::std::uint64_t waiter_table::enter(int home) {
  absl::MutexLock hold(&lock_);
  const ::std::uint64_t ticket = next_ticket_++;
  auto entry = ::std::make_unique<slot>();
  entry->home = home;
  slots_.emplace(ticket, ::std::move(entry));
  return ticket;
}

void waiter_table::leave(::std::uint64_t ticket) {
  absl::MutexLock hold(&lock_);
  slots_.erase(ticket);
}

wait_outcome waiter_table::wait(::std::uint64_t ticket, ::std::chrono::steady_clock::time_point deadline,
                                absl::FunctionRef<::std::string(int)> failure_of, wake_value& value,
                                ::std::string& failure) {
  using clock = ::std::chrono::steady_clock;
  absl::MutexLock hold(&lock_);
  auto found = slots_.find(ticket);
  if (found == slots_.end()) {
    failure = "internal error: a waiter that never entered";
    return wait_outcome::failed;
  }
  slot& mine = *found->second;  // stays put: only its own thread erases it
  while (true) {
    if (mine.woken) {
      value = mine.value;
      return wait_outcome::woken;
    }
    if (mine.failed) {
      failure = mine.failure;
      return wait_outcome::failed;
    }
    const auto now = clock::now();
    if (now >= deadline) return wait_outcome::timed_out;
    const auto until = ::std::min(deadline, now + health_check_interval);
    if (mine.changed.WaitWithTimeout(&lock_, absl::FromChrono(until - now))) {
      // Nothing came this step: ask after the home (the transport's own lock, never taken
      // before this one elsewhere).
      ::std::string why = failure_of(mine.home);
      if (!why.empty() && !mine.woken && !mine.failed) {
        mine.failed = true;
        mine.failure = ::std::move(why);
      }
    }
  }
}

waiter_table::slot* waiter_table::unsettled(::std::uint64_t ticket) {
  auto found = slots_.find(ticket);
  if (found == slots_.end()) return nullptr;
  slot* waiting = found->second.get();
  return waiting->woken || waiting->failed ? nullptr : waiting;
}

bool waiter_table::wake(::std::uint64_t ticket, wake_value value) {
  absl::MutexLock hold(&lock_);
  slot* waiting = unsettled(ticket);
  if (waiting == nullptr) return false;
  waiting->woken = true;
  waiting->value = value;
  waiting->changed.Signal();
  return true;
}

bool waiter_table::fail(::std::uint64_t ticket, const ::std::string& reason) {
  absl::MutexLock hold(&lock_);
  slot* waiting = unsettled(ticket);
  if (waiting == nullptr) return false;
  waiting->failed = true;
  waiting->failure = reason;
  waiting->changed.Signal();
  return true;
}

void waiter_table::fail_node(int node, const ::std::string& reason) {
  absl::MutexLock hold(&lock_);
  for (auto& [ticket, entry] : slots_) {
    slot& waiting = *entry;
    if ((node >= 0 && waiting.home != node) || waiting.woken || waiting.failed) continue;
    waiting.failed = true;
    waiting.failure = reason;
    waiting.changed.Signal();
  }
}

::std::uint64_t waiter_table::waiting() const {
  absl::MutexLock hold(&lock_);
  return slots_.size();
}

}  // namespace drust::sync
