// The threads of this node that wait for a home (this node's or another's) to wake them: a
// mutex handed over, a condition notified, a latch opened, a barrier phase completed.
//
// A waiter enters the table before it asks the home to queue it, so that a wake-up that arrives
// before the home's reply is kept, then blocks on its own condition variable (no spinning): the
// wake comes from whichever thread handles the home's message, usually the progress thread. A
// waiter never waits without bound for a node that failed: fail_node() wakes every waiter of
// that home with the reason, and a waiter also asks `failure_of(home)` every few hundred ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace drust::sync {

// What a wake-up carries (a mutex's data word, a barrier's phase).
struct wake_value {
  ::std::uint64_t first = 0;
  ::std::uint64_t second = 0;
};

// Who waits: a node and the ticket its waiter table gave the thread.
struct waiter_ref {
  int node = 0;
  ::std::uint64_t ticket = 0;
  friend bool operator==(const waiter_ref&, const waiter_ref&) = default;
};

enum class wait_outcome { woken, failed, timed_out };

class waiter_table {
 public:
  waiter_table() = default;
  waiter_table(const waiter_table&) = delete;
  waiter_table& operator=(const waiter_table&) = delete;

  // A new waiter on `home`; returns its ticket. The caller must leave() it.
  ::std::uint64_t enter(int home) ABSL_LOCKS_EXCLUDED(lock_);
  void leave(::std::uint64_t ticket) ABSL_LOCKS_EXCLUDED(lock_);

  // Blocks until the ticket is woken, its home fails or `deadline` passes. A wake that came
  // before the call counts. `failure_of(home)`: why the home failed, empty while it is fine.
  wait_outcome wait(::std::uint64_t ticket, ::std::chrono::steady_clock::time_point deadline,
                    absl::FunctionRef<::std::string(int)> failure_of, wake_value& value, ::std::string& failure)
      ABSL_LOCKS_EXCLUDED(lock_);

  // Wakes the ticket's waiter; false when there is none (it timed out and left).
  bool wake(::std::uint64_t ticket, wake_value value) ABSL_LOCKS_EXCLUDED(lock_);
  // Fails the ticket's waiter with `reason` (the state it waited on went away).
  bool fail(::std::uint64_t ticket, const ::std::string& reason) ABSL_LOCKS_EXCLUDED(lock_);
  // Fails every waiter whose home is `node` (node < 0: every waiter) with `reason`.
  void fail_node(int node, const ::std::string& reason) ABSL_LOCKS_EXCLUDED(lock_);

  ::std::uint64_t waiting() const ABSL_LOCKS_EXCLUDED(lock_);

 private:
  struct slot {
    int home = 0;
    bool woken = false;
    bool failed = false;
    wake_value value;
    ::std::string failure;
    absl::CondVar changed;
  };

  // The ticket's slot while it waits (not yet woken or failed), else nullptr.
  slot* unsettled(::std::uint64_t ticket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);

  mutable absl::Mutex lock_;
  ::std::uint64_t next_ticket_ ABSL_GUARDED_BY(lock_) = 1;
  absl::flat_hash_map<::std::uint64_t, ::std::unique_ptr<slot>> slots_ ABSL_GUARDED_BY(lock_);
};

}  // namespace drust::sync
