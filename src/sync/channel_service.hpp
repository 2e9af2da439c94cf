// The channel service of one node: the queues of the channels homed here, and the active
// messages that reach them from other nodes (docs/design/sync.md, "Channels").
//
// A channel's state (its queue of encoded values, how many senders are alive anywhere, whether
// the receiver is) lives at its home. Operations there touch it directly; from another node a
// send is one one-way message (channel_post), a bounded send, a copy of a sender and a remote
// receive are round trips (channel_request). The one-way messages of one node to one home carry a
// sequence number and are applied in that order (handlers may run on several threads at once), so
// values arrive in the order each node sent them and a sender's drop never overtakes its values.
// Errors are statuses: UnavailableError when a node failed or this node's part of the job is over.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include <drust/detail/channel.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "fabric/transport.hpp"
#include "sync/channel_wire.hpp"

namespace drust::sync {

// One channel at its home.
struct channel_state {
  explicit channel_state(::std::size_t bound_in, detail::channel_discard discard_in)
      : bound(bound_in), discard(discard_in) {}

  const ::std::size_t bound;  // 0: unbounded
  const detail::channel_discard discard;
  // Wakes whoever waits on `changed` and counts the change for a waiter that polls the transport
  // meanwhile (channel_service::wait_until): a value queued or taken, an end gone, a failure.
  void announce_change() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    changes.fetch_add(1, ::std::memory_order_release);
    changed.SignalAll();
  }

  absl::Mutex lock;
  absl::CondVar changed;
  // Bumped under `lock` with every signal of `changed`; read without it by a waiter that polls.
  ::std::atomic<::std::uint64_t> changes{0};
  ::std::deque<::std::string> queue ABSL_GUARDED_BY(lock);
  ::std::int64_t senders ABSL_GUARDED_BY(lock) = 1;
  bool receiver ABSL_GUARDED_BY(lock) = true;
  ::std::string failure ABSL_GUARDED_BY(lock);  // a node failed: a blocked receiver gives up
};

struct channel_counters {
  ::std::atomic<::std::uint64_t> posts_sent{0};         // one-way sends and drops to other homes
  ::std::atomic<::std::uint64_t> requests_sent{0};      // round trips to other homes
  ::std::atomic<::std::uint64_t> messages_received{0};  // channel messages other nodes sent here
  ::std::atomic<::std::uint64_t> channels{0};           // channels homed here now
};

class channel_service {
 public:
  // One per process, never destroyed (channels made before the runtime starts use it).
  static channel_service& instance();

  // Joins the cluster: registers the message handlers (before transport::connect).
  void attach(fabric::transport* transport, int nodes);
  // Receivers' waits on another node's value that ended within their spin window, and later
  // ones (fabric/spin_budget.hpp).
  ::std::uint64_t short_waits() const { return receive_spin_.short_waits(); }
  ::std::uint64_t long_waits() const { return receive_spin_.long_waits(); }
  // This node's part of the job is over: blocked receivers and senders fail.
  void stop(const ::std::string& why);
  // `node` failed: a receiver blocked here gives up (the senders there will never send or go).
  void fail_node(int node, const ::std::string& reason);

  detail::channel_handle create(::std::size_t bound, detail::channel_discard discard);
  absl::Status clone(const detail::channel_handle& handle);
  absl::Status drop_sender(const detail::channel_handle& handle);
  absl::Status drop_receiver(const detail::channel_handle& handle);
  // done: `bytes` were taken; full (only when !block); disconnected: the receiver is gone.
  absl::StatusOr<detail::channel_outcome> send(const detail::channel_handle& handle, ::std::string& bytes, bool block);
  // done: the value is in `bytes`; empty: the deadline passed; disconnected.
  absl::StatusOr<detail::channel_outcome> recv(const detail::channel_handle& handle,
                                               ::std::chrono::steady_clock::time_point deadline,
                                               ::std::string& bytes);

  const channel_counters& counters() const { return counters_; }

 private:
  channel_service() = default;

  int self() const;
  bool here(const detail::channel_handle& handle) const;
  ::std::shared_ptr<channel_state> find(::std::uint64_t id) const ABSL_LOCKS_EXCLUDED(registry_lock_);
  absl::Status unavailable(const char* what, int node) const;

  // Waits for a change of `state` (announce_change) until `deadline` (time_point::max(): without
  // one): first polls the transport for a moment, then blocks on `state.changed`. False when the
  // deadline passed.
  bool wait_until(channel_state& state, ::std::chrono::steady_clock::time_point deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.lock);

  // The home's side of each operation (for this node's threads and other nodes' messages alike).
  void apply_post(int source, const channel_message& message, ::std::string_view value);
  detail::channel_outcome queue_value(const ::std::shared_ptr<channel_state>& state, ::std::string& bytes, bool block,
                                      ::std::chrono::steady_clock::time_point deadline);
  void take_sender(::std::uint64_t id, const ::std::shared_ptr<channel_state>& state);
  void take_receiver(::std::uint64_t id, const ::std::shared_ptr<channel_state>& state);
  void forget(::std::uint64_t id) ABSL_LOCKS_EXCLUDED(registry_lock_);
  // Applies a one-way message from `source` in its sequence order; why it cannot (a sequence
  // number used already or far ahead), or empty.
  ::std::string_view order_post(int source, const channel_message& message, ::std::string_view value)
      ABSL_LOCKS_EXCLUDED(order_lock_);

  absl::Status post(const detail::channel_handle& handle, channel_operation op, ::std::string_view value,
                    const char* what);
  absl::StatusOr<::std::uint64_t> request(const detail::channel_handle& handle, channel_operation op,
                                          ::std::string_view value, ::std::string* received, const char* what);

  fabric::transport* transport_ = nullptr;
  // How long a receiver polls the transport before it blocks (channel_service.cpp, wait_until).
  fabric::spin_budget receive_spin_;
  ::std::atomic<bool> stopped_{false};
  ::std::atomic<::std::uint64_t> next_id_{1};
  channel_counters counters_;

  mutable absl::Mutex registry_lock_;
  absl::flat_hash_map<::std::uint64_t, ::std::shared_ptr<channel_state>> channels_ ABSL_GUARDED_BY(registry_lock_);
  ::std::string stop_reason_ ABSL_GUARDED_BY(registry_lock_);
  // Channels of other homes that told this node their receiver is gone; a send looks only once
  // there is one.
  absl::flat_hash_set<::std::uint64_t> closed_ ABSL_GUARDED_BY(registry_lock_);
  ::std::atomic<bool> any_closed_{false};

  // The sequence of this node's one-way messages towards each home (one counter per node, sized
  // by attach), and of each source's here.
  ::std::unique_ptr<::std::atomic<::std::uint64_t>[]> next_sequence_;
  int sequence_nodes_ = 0;
  struct pending_post {
    channel_message message;
    ::std::string value;
  };
  struct source_order {
    ::std::uint64_t next = 0;
    ::std::map<::std::uint64_t, pending_post> early;  // arrived before their predecessors
  };
  absl::Mutex order_lock_;
  absl::flat_hash_map<int, source_order> order_ ABSL_GUARDED_BY(order_lock_);
};

}  // namespace drust::sync
