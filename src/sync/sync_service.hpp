// The sync service of one node: the states of the synchronisation objects homed here (mutexes,
// conditions, atomics, latches, barriers), the waiters of this node, and the active messages
// between them (docs/design/sync.md).
//
// An operation on a state homed here runs the home's algorithm (the *_table files) directly; one
// on a state homed elsewhere is a round trip (sync_request) or a one-way message (sync_post:
// unlock, notify). A thread that must wait enters this node's waiter table first, then asks the
// home to queue it, and blocks until the home's sync_wake (or its own, when the home is here).
// Errors are statuses: UnavailableError when the home failed or this node's part of the job is
// over, InvalidArgumentError for misuse (the caller turns them into exceptions).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <drust/detail/sync.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "fabric/transport.hpp"
#include "sync/mutex_leases.hpp"
#include "sync/waiters.hpp"
#include "sync/wire.hpp"

namespace drust::sync {

struct sync_counters {
  ::std::atomic<::std::uint64_t> requests_sent{0};      // round trips to other nodes' homes
  ::std::atomic<::std::uint64_t> posts_sent{0};         // one-way unlocks, notifies, destroys
  ::std::atomic<::std::uint64_t> wakes_sent{0};         // wakes sent to other nodes' waiters
  ::std::atomic<::std::uint64_t> messages_received{0};  // sync messages other nodes sent here
  ::std::atomic<::std::uint64_t> waits{0};              // times a thread of this node blocked
  ::std::atomic<::std::uint64_t> states{0};             // states homed here now
  ::std::atomic<::std::uint64_t> leases_granted{0};     // mutexes this home leased to other nodes
  ::std::atomic<::std::uint64_t> recalls_sent{0};       // leases this home recalled
};

class sync_service {
 public:
  // One per process, never destroyed: objects made by static initialisers use it before the
  // runtime starts, and threads may outlive main.
  static sync_service& instance();

  // This process is node `node` (before: states are process-local). `leases`: whether mutexes
  // homed here may be leased to other nodes (mutex_table.hpp).
  void start(int node, bool leases = true);
  // Joins the cluster: registers the message handlers (before transport::connect).
  void attach(fabric::transport* transport);
  // This node's part of the job is over: waiters fail, remote operations fail from now on.
  void stop(const ::std::string& why);
  // The controller says `node` failed: every thread waiting on a state homed there gets an error.
  void fail_node(int node, const ::std::string& reason);

  detail::sync_handle create(detail::sync_kind kind, ::std::uint64_t initial);
  void destroy(const detail::sync_handle& handle);

  absl::StatusOr<detail::global_word> mutex_lock(const detail::sync_handle& handle);
  // nullopt: the mutex was held (or the deadline passed).
  absl::StatusOr<::std::optional<detail::global_word>> mutex_try_lock(const detail::sync_handle& handle);
  absl::StatusOr<::std::optional<detail::global_word>> mutex_lock_until(const detail::sync_handle& handle,
                                                                        detail::sync_deadline deadline);
  absl::Status mutex_unlock(const detail::sync_handle& handle, detail::global_word data);

  // `shared`: the reader side.
  absl::Status shared_mutex_lock(const detail::sync_handle& handle, bool shared);
  absl::StatusOr<bool> shared_mutex_try_lock(const detail::sync_handle& handle, bool shared);
  absl::Status shared_mutex_unlock(const detail::sync_handle& handle, bool shared);
  absl::StatusOr<::std::uint64_t> condition_enter(const detail::sync_handle& handle);
  absl::StatusOr<bool> condition_wait(const detail::sync_handle& handle, ::std::uint64_t ticket,
                                      detail::sync_deadline deadline);
  absl::Status condition_notify(const detail::sync_handle& handle, bool all);

  absl::StatusOr<::std::uint64_t> atomic_apply(const detail::sync_handle& handle, detail::atomic_op op, unsigned width,
                                               ::std::uint64_t a, ::std::uint64_t b, bool& success);
  absl::Status atomic_wait(const detail::sync_handle& handle, unsigned width, ::std::uint64_t old);
  absl::Status atomic_notify(const detail::sync_handle& handle, unsigned width, bool all);

  absl::Status latch_count_down(const detail::sync_handle& handle, ::std::ptrdiff_t update);
  absl::StatusOr<bool> latch_try_wait(const detail::sync_handle& handle);
  absl::Status latch_wait(const detail::sync_handle& handle);

  absl::StatusOr<detail::barrier_arrival> barrier_arrive(const detail::sync_handle& handle, ::std::ptrdiff_t update,
                                                         bool drop);
  absl::Status barrier_complete(const detail::sync_handle& handle, ::std::uint64_t phase);
  absl::Status barrier_wait(const detail::sync_handle& handle, ::std::uint64_t phase);

  const sync_counters& counters() const { return counters_; }
  // The mutexes homed elsewhere that this node holds leased (mutex_leases.hpp).
  const mutex_leases& leases() const { return leases_; }
  ::std::uint64_t waiting() const { return waiters_.waiting(); }

 private:
  sync_service() = default;

  bool here(const detail::sync_handle& handle) const;
  int self() const { return node_.load(::std::memory_order_relaxed); }
  ::std::string failure_of(int node) const;

  // The home's side, for this node's threads and other nodes' messages alike.
  absl::Status serve(int source, const request& asked, reply& answered);
  void serve_post(int source, const request& asked);
  // `source`: the node that destroyed it (a leaseholder that did has forgotten its lease itself).
  void destroy_here(::std::uint64_t state, int source);
  // Leases: a one-way lease message (recall, forget, forgotten, or a leaseholder's unlock), and
  // the handling of one that came.
  // `served`: with a leaseholder's unlock, the locks its lease served (the home's lease policy).
  void send_lease_message(int node, operation op, ::std::uint64_t state, detail::global_word data,
                          ::std::uint64_t served = 0);
  void serve_lease_message(int source, const request& asked);
  // Wakes a waiter here, or sends its node a sync_wake.
  void deliver(waiter_ref waiter, wake_value value);
  void deliver_failure(waiter_ref waiter, const ::std::string& reason);

  // A request to the home of `handle` (here: served directly).
  absl::StatusOr<reply> ask(const detail::sync_handle& handle, const request& asked, const char* what);
  absl::Status post(const detail::sync_handle& handle, const request& asked, const char* what);
  // Blocks the ticket's thread until woken, failed or the deadline; nullopt on the deadline.
  absl::StatusOr<::std::optional<wake_value>> await(::std::uint64_t ticket,
                                                    ::std::chrono::steady_clock::time_point deadline,
                                                    const char* what);
  // A request that may queue the caller: ask, then wait for the wake when queued. The ticket is
  // the caller's; nullopt: the deadline passed while queued (the caller cancels).
  absl::StatusOr<::std::optional<wake_value>> ask_and_wait(const detail::sync_handle& handle, request asked,
                                                           ::std::chrono::steady_clock::time_point deadline,
                                                           const char* what);
  // Locks a mutex by ask_and_wait, asking again each time the home wakes the caller to retry
  // rather than handing the mutex over; the data word, or nullopt when the deadline passed.
  absl::StatusOr<::std::optional<detail::global_word>> lock_mutex(const detail::sync_handle& handle,
                                                                  ::std::chrono::steady_clock::time_point deadline,
                                                                  const char* what);

  // Looks up a state named by another node's message.
  bool live(::std::uint64_t state, detail::sync_kind kind) const ABSL_LOCKS_EXCLUDED(live_lock_);

  ::std::atomic<int> node_{detail::sync_process_local};
  ::std::atomic<bool> leases_enabled_{true};
  fabric::transport* transport_ = nullptr;
  ::std::atomic<bool> stopped_{false};
  waiter_table waiters_;
  mutex_leases leases_;
  sync_counters counters_;

  mutable absl::Mutex live_lock_;
  absl::flat_hash_map<::std::uint64_t, detail::sync_kind> live_ ABSL_GUARDED_BY(live_lock_);
  // Destroyed mutexes whose leaseholder has not yet said it forgot the lease: freed when it has.
  absl::flat_hash_set<::std::uint64_t> forgetting_ ABSL_GUARDED_BY(live_lock_);
  ::std::string stop_reason_ ABSL_GUARDED_BY(live_lock_);
};

}  // namespace drust::sync
