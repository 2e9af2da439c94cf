// The messages of the sync service: one request layout for every operation on a home's state,
// one reply layout, and the operations' codes (docs/design/sync.md has the protocol).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace drust::sync {

// What a request asks of the state named by `state` (its kind is in the message kind).
enum class operation : ::std::uint32_t {
  // sync_mutex (requests)
  mutex_lock,
  mutex_try_lock,
  mutex_cancel,  // a timed lock gave up: leave the queue, or say the mutex was handed over already
  // sync_mutex_unlock (one-way)
  mutex_unlock,
  // sync_condition (requests)
  condition_enter,
  condition_cancel,
  // sync_condition_notify (one-way)
  condition_notify_one,
  condition_notify_all,
  // sync_atomic (requests): `op` of detail::atomic_op in `width`'s high half
  atomic_apply,
  atomic_wait,
  // sync_atomic_notify (one-way)
  atomic_notify_one,
  atomic_notify_all,
  // sync_latch (requests)
  latch_count_down,
  latch_try_wait,
  latch_wait,
  // sync_barrier (requests)
  barrier_arrive,
  barrier_arrive_and_drop,
  barrier_complete,
  barrier_wait,
  // Leases (one-way): the home recalls a mutex's lease, or has the leaseholder forget it (the mutex
  // is being destroyed); the leaseholder says it forgot it (the home may free the state), or
  // answers a recall with "busy" (a thread there holds the mutex; it gives it back at its unlock).
  mutex_recall,
  mutex_forget,
  mutex_forgotten,
  mutex_recall_busy,
  // sync_shared_mutex: lock and try_lock (requests), unlock (one-way); `detail` 1: the reader side
  shared_mutex_lock,
  shared_mutex_try_lock,
  shared_mutex_unlock,
};

// Whether `op` is one of the operations above, and whether it is one that a home applies without
// answering (sync_post; the lease operations go both ways). A peer's request is checked before
// it is served.
constexpr bool is_known_operation(operation op) {
  return static_cast<::std::uint32_t>(op) <= static_cast<::std::uint32_t>(operation::shared_mutex_unlock);
}
constexpr bool is_post_operation(operation op) {
  switch (op) {
    case operation::mutex_unlock:
    case operation::mutex_recall:
    case operation::mutex_forget:
    case operation::mutex_forgotten:
    case operation::mutex_recall_busy:
    case operation::shared_mutex_unlock:
    case operation::condition_notify_one:
    case operation::condition_notify_all:
    case operation::atomic_notify_one:
    case operation::atomic_notify_all:
      return true;
    default:
      return false;
  }
}

// Whether `op` passes between a mutex's home and its leaseholder (it names the home's state, which
// the leaseholder does not hold).
constexpr bool is_lease_operation(operation op) {
  return op == operation::mutex_recall || op == operation::mutex_forget || op == operation::mutex_forgotten ||
         op == operation::mutex_recall_busy;
}

struct request {
  ::std::uint64_t state;   // the state's address at the home
  ::std::uint64_t ticket;  // the requesting thread's waiter ticket, when it may have to wait
  ::std::uint64_t a;
  ::std::uint64_t b;
  operation op;
  ::std::uint32_t detail;  // an atomic's width and operation
};
static_assert(::std::is_trivially_copyable_v<request>);

// What a home answers.
enum class answer : ::std::uint64_t {
  done,     // granted, stored, open, completed: the caller goes on
  queued,   // the caller waits for a wake on its ticket
  refused,  // try_lock found it held; cancel found nothing to cancel
};

struct reply {
  answer status = answer::done;
  ::std::uint64_t a = 0;
  ::std::uint64_t b = 0;
};
static_assert(::std::is_trivially_copyable_v<reply>);

// A wake-up sent to a waiter's node (sync_wake), and a state's end (sync_destroy).
struct wake_message {
  ::std::uint64_t ticket;
  ::std::uint64_t first;
  ::std::uint64_t second;
  ::std::uint64_t failed;  // nonzero: the state went away while the thread waited
};
struct destroy_message {
  ::std::uint64_t state;
};

template <class Message>
::std::string_view bytes_of(const Message& message) {
  static_assert(::std::is_trivially_copyable_v<Message>);
  return {reinterpret_cast<const char*>(&message), sizeof message};
}

// A message read back from its bytes; false when they are the wrong size.
template <class Message>
bool read_message(::std::string_view bytes, Message& message) {
  if (bytes.size() != sizeof message) return false;
  ::std::memcpy(&message, bytes.data(), sizeof message);
  return true;
}

}  // namespace drust::sync
