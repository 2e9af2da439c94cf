// The transport: active messages and one-sided reads and writes between nodes, over one
// libfabric endpoint, with a progress engine and bounded waits.
//
// Threading: any thread may call `call`, `send`, `read` and `write`. A caller waiting for its
// operation drives progress itself (it polls the completion queue and runs the handlers of
// requests it finds), so a round trip costs no thread hand-off. The progress thread serves peers
// while every application thread is busy or blocked; when the node is idle it sleeps (see
// provider_traits::idle) instead of burning a core.
//
// Failure: every wait has a deadline. A peer that the controller reports dead, whose process is
// gone (same host), or that does not answer in time fails every pending and future operation
// towards it with UnavailableError or DeadlineExceededError, never a hang.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "fabric/active_message.hpp"
#include "fabric/doorbell.hpp"
#include "fabric/endpoint.hpp"
#include "fabric/spin_budget.hpp"
#include "fabric/wire_check.hpp"

namespace drust::fabric {

// How pollers wait. In `adaptive` (the default) and `sleep` a waiter spins briefly, then sleeps,
// which costs an idle node almost nothing but a wake-up on the next message, and on providers with
// a wait fd (tcp;ofi_rxm) 1-2 us per operation for the wait object; `adaptive` stops spinning
// while spins do not pay (spin_budget.hpp), `sleep` always spins its window. `spin` polls
// forever: lowest latency, one busy core per node.
enum class progress_mode { adaptive, sleep, spin };

// The mode DRUST_PROGRESS names ("adaptive", "sleep" or "spin"; unset: adaptive), or an error
// naming the fix.
absl::StatusOr<progress_mode> progress_mode_from_environment();

struct transport_options {
  endpoint_options endpoint;
  progress_mode progress = progress_mode::adaptive;
  ::std::uint64_t cookie = 0;  // carried by every message; others are dropped
  ::std::chrono::milliseconds operation_timeout{10000};
};

// What the transport needs to know about each node, from the controller's address table.
struct peer_info {
  ::std::string address;   // fabric address bytes
  remote_region region;    // its heap partition
  ::std::string host;
  int pid = 0;
  bool same_host = true;
};

struct incoming_message {
  int source;
  message_kind kind;
  ::std::string_view payload;
};

// A request handler returns the reply's payload, or an error that the caller receives.
using request_handler = ::std::function<absl::StatusOr<::std::string>(const incoming_message&)>;
// The same, writing the payload into `reply` (empty on entry, reused between requests, so a
// handler that writes into it allocates nothing).
using reply_handler = ::std::function<absl::Status(const incoming_message&, ::std::string& reply)>;
using message_handler = ::std::function<void(const incoming_message&)>;

struct transport_counters {
  ::std::atomic<::std::uint64_t> messages_sent{0};
  ::std::atomic<::std::uint64_t> messages_received{0};
  ::std::atomic<::std::uint64_t> messages_dropped{0};   // from strangers (wrong cookie)
  ::std::atomic<::std::uint64_t> messages_rejected{0};  // malformed (wire_check.hpp), logged
  ::std::atomic<::std::uint64_t> bytes_read{0};
  ::std::atomic<::std::uint64_t> bytes_written{0};
  ::std::atomic<::std::uint64_t> progress_sleeps{0};
};

class transport {
 public:
  static absl::StatusOr<::std::unique_ptr<transport>> open(const transport_options& options);
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  int node() const { return node_; }
  int num_nodes() const { return static_cast<int>(peers_.size()); }
  const ::std::string& address() const { return endpoint_->address(); }
  const provider_traits& provider() const { return endpoint_->provider(); }
  const transport_counters& counters() const { return counters_; }
  progress_mode progress() const { return progress_; }
  // Waits of this transport's pollers that ended within their spin window, and later ones
  // (spin_budget.hpp).
  ::std::uint64_t short_waits() const { return caller_spin_.short_waits() + progress_spin_.short_waits(); }
  ::std::uint64_t long_waits() const { return caller_spin_.long_waits() + progress_spin_.long_waits(); }

  // Registers memory that peers may read and write (the heap partition). Call before connect().
  absl::StatusOr<memory_region> expose(void* base, ::std::size_t length);

  // Handlers, registered before connect(); they run on whichever thread polls the completion
  // queue, so they must be short and must not block on the network.
  void on_request(message_kind kind, request_handler handler);
  void on_request(message_kind kind, reply_handler handler);
  void on_message(message_kind kind, message_handler handler);
  // What a one-way handler calls for a payload it cannot use: logs and counts the rejection.
  // (A request handler returns malformed_message(...) instead; the transport logs that.)
  void reject(const incoming_message& message, ::std::string_view what);

  // Learns every node (index = node id), posts receives and starts the progress thread.
  absl::Status connect(::std::vector<peer_info> peers);
  // Removes this node's doorbell name from /dev/shm, once every peer has mapped it.
  void forget_doorbell_name() { own_doorbell_.unlink(); }
  // Stops the progress thread; no handler runs after this returns.
  void stop();

  // A request and its reply.
  absl::StatusOr<::std::string> call(int peer, message_kind kind, ::std::string_view payload);
  // The same, the reply written into `reply` (whose capacity is reused: no allocation on a hot path).
  absl::Status call(int peer, message_kind kind, ::std::string_view payload, ::std::string& reply);
  // A one-way message.
  absl::Status send(int peer, message_kind kind, ::std::string_view payload);
  // One-sided reads and writes of a peer's exposed memory.
  // Whether `local` may be any memory of this process (shm, tcp), not only registered memory.
  bool reads_into_any_memory() const { return !endpoint_->needs_local_registration(); }
  absl::Status read(int peer, void* local, ::std::size_t length, ::std::uint64_t remote_address);
  absl::Status write(int peer, const void* local, ::std::size_t length, ::std::uint64_t remote_address);

  template <typed_message M>
  absl::Status send(int peer, const M& message, ::std::string_view tail = {}) {
    return send(peer, M::kind, encode(message, tail));
  }
  template <typed_message M>
  absl::StatusOr<::std::string> call(int peer, const M& message, ::std::string_view tail = {}) {
    return call(peer, M::kind, encode(message, tail));
  }

  // Fails every pending and future operation towards `peer` (the controller said it died, or
  // this node saw it go), and tells the peer-failure observer, once per peer.
  void mark_peer_failed(int peer, const ::std::string& reason);
  // Called once for each peer that fails, with the reason, outside the transport's locks and
  // before any operation towards the peer reports the failure. The node runtime passes it on to
  // drun, so that drun hears of a failure this node saw before a consequence of it (docs/RELIABILITY.md).
  // Set before connect().
  void on_peer_failure(::std::function<void(int peer, const ::std::string& reason)> observer) {
    peer_failure_observer_ = ::std::move(observer);
  }
  // Empty when the peer is fine, else why it failed.
  ::std::string peer_failure(int peer) const;

  // Polls the completion queue once and handles what it finds. Returns the completions handled.
  int poll_once();

  // While one lives, the calling thread polls the completion queue itself (calling poll_once
  // until what it waits for comes): the progress thread parks, and peers do not ring this node's
  // doorbell for the messages the poller takes anyway (doorbell.hpp, "Pollers"). A channel
  // receiver waiting for another node's value holds one; callers waiting for replies do the same
  // inside the transport.
  class polling {
   public:
    explicit polling(transport& owner) : owner_(owner) { owner_.start_polling(); }
    ~polling() { owner_.stop_polling(); }
    polling(const polling&) = delete;
    polling& operator=(const polling&) = delete;

   private:
    transport& owner_;
  };

  struct operation;  // one posted libfabric operation (defined in transport.cpp)

 private:
  struct pending_call;
  struct send_slot_pool;
  struct receive_slot;

  transport() = default;
  absl::Status post_receives();
  // Posts with `post` until it stops saying -FI_EAGAIN, driving progress meanwhile.
  // `wake_peer`: ring the peer's doorbell afterwards (not needed for replies, nor for one-sided
  // operations on providers that complete them without the target).
  absl::Status post_with_retry(int peer, const char* what, bool wake_peer, absl::FunctionRef<ssize_t()> post);
  absl::Status send_framed(int peer, message_kind kind, ::std::uint16_t flags,
                           ::std::uint64_t request_id, ::std::string_view payload);
  absl::Status one_sided(bool is_read, int peer, void* local, ::std::size_t length,
                         ::std::uint64_t remote_address);
  // Waits until `done` is settled, driving progress, checking the peer and the deadline. In
  // sleep mode the caller spins briefly, then sleeps (wait_asleep) while the progress thread polls.
  absl::Status wait_until(::std::atomic<int>& done, int peer, ::std::chrono::steady_clock::time_point deadline,
                          const char* what);
  absl::Status wait_asleep(::std::atomic<int>& done, int peer, ::std::chrono::steady_clock::time_point deadline,
                           const char* what);
  // A waiter's periodic checks: the peer failed or its process is gone, or the deadline passed.
  absl::Status check_waited_peer(const ::std::atomic<int>& done, int peer,
                                 ::std::chrono::steady_clock::time_point now,
                                 ::std::chrono::steady_clock::time_point deadline,
                                 ::std::chrono::steady_clock::time_point& next_liveness_check, const char* what);
  absl::Status check_peer(int peer);
  // A thread starts or stops polling for itself (class polling).
  void start_polling();
  void stop_polling();
  void handle_completion(operation* op, ::std::size_t length, const ::std::string& error);
  void handle_receive(receive_slot& slot, ::std::size_t length);
  void dispatch(const wire_header& header, ::std::string_view payload);
  void run_deferred();
  void progress_loop();
  // Sleeps until there may be work; true when woken by work rather than by the timeout.
  bool idle_wait();
  void ring(int peer);
  // After posting a reply: rings the peer when it has callers asleep for replies.
  void ring_for_reply(int peer);
  void* local_descriptor(const void* address, ::std::size_t length) const;

  int node_ = 0;
  ::std::uint64_t cookie_ = 0;
  ::std::chrono::milliseconds operation_timeout_{10000};
  ::std::unique_ptr<endpoint> endpoint_;
  ::std::string doorbell_prefix_;
  doorbell own_doorbell_;
  ::std::vector<doorbell> peer_doorbells_;
  ::std::vector<peer_info> peers_;
  ::std::vector<memory_region> exposed_;

  // libfabric is opened with FI_THREAD_DOMAIN: every call into the endpoint holds this lock.
  mutable absl::Mutex endpoint_lock_;

  ::std::array<reply_handler, max_message_kinds> request_handlers_;
  ::std::array<message_handler, max_message_kinds> message_handlers_;

  ::std::unique_ptr<::std::byte[]> message_arena_;  // receive buffers, then send slots
  memory_region arena_region_;
  ::std::vector<receive_slot*> receive_slots_;
  ::std::unique_ptr<send_slot_pool> send_slots_;

  // Calls waiting for their reply, in the slot `request_id % call_slots`: a fixed table is
  // cheaper on the round-trip path than a hash map, and a full one only makes callers retry.
  static constexpr ::std::size_t call_slots = 1024;
  absl::Mutex calls_lock_;
  ::std::uint64_t next_request_id_ ABSL_GUARDED_BY(calls_lock_) = 1;
  ::std::array<pending_call*, call_slots> calls_ ABSL_GUARDED_BY(calls_lock_){};

  // Requests that arrived while their poller was itself inside a handler; the progress thread
  // runs them.
  absl::Mutex deferred_lock_;
  ::std::deque<::std::pair<wire_header, ::std::string>> deferred_ ABSL_GUARDED_BY(deferred_lock_);
  ::std::atomic<bool> has_deferred_{false};

  mutable absl::Mutex peers_lock_;
  ::std::vector<::std::string> peer_failures_ ABSL_GUARDED_BY(peers_lock_);
  ::std::function<void(int peer, const ::std::string& reason)> peer_failure_observer_;
  ::std::atomic<bool> any_peer_failed_{false};

  progress_mode progress_ = progress_mode::adaptive;
  // Waits of callers for their replies, and of the progress thread for the next message.
  spin_budget caller_spin_;
  spin_budget progress_spin_;
  ::std::atomic<int> active_waiters_{0};  // threads polling for themselves (class polling, wait_until)
  ::std::atomic<bool> stopping_{false};
  ::std::thread progress_thread_;
  transport_counters counters_;
};

// Folds a job cookie (hex text) into the 64 bits every message carries.
::std::uint64_t fold_cookie(::std::string_view cookie);

}  // namespace drust::fabric
