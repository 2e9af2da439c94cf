#include "sync/channel_service.hpp"

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/message_kinds.hpp"

namespace drust::sync {

namespace {

using clock = ::std::chrono::steady_clock;
using detail::channel_outcome;

// A message's bytes, built in a buffer of the calling thread that is reused, so that a send
// allocates nothing. A message built while the thread's buffer is in use (by a handler that runs
// while this thread waits to post: one dropping a sender) gets a buffer of its own.
class message_bytes {
 public:
  message_bytes(const channel_message& message, ::std::string_view value)
      : buffer_(::std::exchange(thread_buffer_in_use, true) ? &own_ : &thread_buffer) {
    buffer_->assign(reinterpret_cast<const char*>(&message), sizeof message);
    buffer_->append(value);
  }
  ~message_bytes() {
    if (buffer_ == &thread_buffer) thread_buffer_in_use = false;
  }
  message_bytes(const message_bytes&) = delete;
  message_bytes& operator=(const message_bytes&) = delete;
  operator ::std::string_view() const { return *buffer_; }

 private:
  static thread_local ::std::string thread_buffer;
  static thread_local bool thread_buffer_in_use;
  ::std::string own_;
  ::std::string* buffer_;
};
thread_local ::std::string message_bytes::thread_buffer;
thread_local bool message_bytes::thread_buffer_in_use = false;

// How long a thread that must wait on a channel of this node first polls the transport itself
// before it blocks on the channel's condition variable. A value from another node is queued by
// whichever thread polls the transport: left to the progress thread, it costs that thread a futex
// wake and the receiver a wake-up, several times the message's own latency (docs/PERFORMANCE.md,
// "Channels"); polled for by the receiver, it is queued and taken on the receiver's thread, as a
// caller waiting for its reply takes the reply. As long as such a caller polls before it sleeps
// (fabric/transport.cpp, caller_spin_window): a value that takes longer comes from a sender that
// was not sending, and then a wake-up adds little to the wait. (The progress thread polls too
// meanwhile; the transport parks it only for its own callers.) In the adaptive progress mode the
// receivers do not poll while their waits have been longer than this (fabric/spin_budget.hpp).
constexpr auto change_poll_window = ::std::chrono::microseconds(20);

// A remote wait polls the home: briefly at once, then backing off to a millisecond.
void back_off(int& round) {
  if (round < 16) {
    ::std::this_thread::yield();
  } else {
    ::std::this_thread::sleep_for(::std::chrono::microseconds(round < 64 ? 20 : 1000));
  }
  ++round;
}

}  // namespace

bool channel_service::wait_until(channel_state& state, clock::time_point deadline) {
  if (deadline != clock::time_point::max() && deadline <= clock::now()) return false;
  const ::std::uint64_t seen = state.changes.load(::std::memory_order_relaxed);
  bool changed = false;
  // Only another node's value comes through the transport: in a one-node job polling it would
  // only burn the core (or the CPU quota) that the sender needs.
  const bool polls = transport_ != nullptr && transport_->num_nodes() > 1;
  const auto started = polls ? clock::now() : clock::time_point();
  struct wait_timer {
    fabric::spin_budget* budget;
    clock::time_point started;
    ~wait_timer() {
      if (budget != nullptr) budget->waited(clock::now() - started);
    }
  } timer{polls ? &receive_spin_ : nullptr, started};
  const auto poll_for = polls ? receive_spin_.window() : ::std::chrono::microseconds::zero();
  if (poll_for > ::std::chrono::microseconds::zero() && !stopped_.load(::std::memory_order_acquire)) {
    state.lock.Unlock();
    const auto poll_until = ::std::min(deadline, started + poll_for);
    {
      // Ends before the lock is taken again: its last look may run handlers, which lock channels.
      fabric::transport::polling polling(*transport_);
      for (unsigned polls = 1;; ++polls) {
        if (state.changes.load(::std::memory_order_acquire) != seen) {
          changed = true;
          break;
        }
        // Reading the clock costs as much as an empty poll: every 16th time only.
        if ((polls & 15) == 0 && clock::now() >= poll_until) break;
        transport_->poll_once();
      }
    }
    state.lock.Lock();
  }
  if (changed || state.changes.load(::std::memory_order_relaxed) != seen) return true;
  if (deadline == clock::time_point::max()) {
    state.changed.Wait(&state.lock);
    return true;
  }
  const auto left = deadline - clock::now();
  if (left > clock::duration::zero()) state.changed.WaitWithTimeout(&state.lock, absl::FromChrono(left));
  return true;
}


channel_service& channel_service::instance() {
  static channel_service* service = new channel_service();  // never destroyed (see the header)
  return *service;
}

int channel_service::self() const { return detail::sync_node; }

bool channel_service::here(const detail::channel_handle& handle) const {
  return handle.home == self() || handle.home == detail::sync_process_local;
}

::std::shared_ptr<channel_state> channel_service::find(::std::uint64_t id) const {
  absl::ReaderMutexLock hold(&registry_lock_);
  auto found = channels_.find(id);
  return found == channels_.end() ? nullptr : found->second;
}

absl::Status channel_service::unavailable(const char* what, int node) const {
  if (stopped_.load(::std::memory_order_acquire)) {
    absl::ReaderMutexLock hold(&registry_lock_);
    return absl::UnavailableError(absl::StrCat(what, ": ", stop_reason_));
  }
  if (transport_ == nullptr || node < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the channel's home is node ", node,
                                                   ", which is not in this job (was the handle copied from another "
                                                   "program's memory?)"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The home's side

detail::channel_handle channel_service::create(::std::size_t bound, detail::channel_discard discard) {
  // Serial ids with a high bit set: never mistaken for an address by check_closure_words.
  const ::std::uint64_t id = (::std::uint64_t{1} << 62) | next_id_.fetch_add(1, ::std::memory_order_relaxed);
  {
    absl::MutexLock hold(&registry_lock_);
    channels_.emplace(id, ::std::make_shared<channel_state>(bound, discard));
  }
  counters_.channels.fetch_add(1, ::std::memory_order_relaxed);
  return detail::channel_handle{self(), bound == 0 ? 0u : 1u, id};
}

void channel_service::forget(::std::uint64_t id) {
  ::std::shared_ptr<channel_state> state;
  {
    absl::MutexLock hold(&registry_lock_);
    auto found = channels_.find(id);
    if (found == channels_.end()) return;
    state = ::std::move(found->second);
    channels_.erase(found);
  }
  counters_.channels.fetch_sub(1, ::std::memory_order_relaxed);
}

void channel_service::take_sender(::std::uint64_t id, const ::std::shared_ptr<channel_state>& state) {
  bool gone = false;
  {
    absl::MutexLock hold(&state->lock);
    if (--state->senders == 0) {
      state->announce_change();
      gone = !state->receiver;
    }
  }
  if (gone) forget(id);
}

void channel_service::take_receiver(::std::uint64_t id, const ::std::shared_ptr<channel_state>& state) {
  ::std::deque<::std::string> left;
  bool gone = false;
  {
    absl::MutexLock hold(&state->lock);
    state->receiver = false;
    left.swap(state->queue);
    state->announce_change();  // blocked senders learn that nobody receives
    gone = state->senders == 0;
  }
  // Values nobody will receive: destroyed here, which gives back what they own (unique_ptrs).
  for (const ::std::string& value : left) state->discard(value.data(), value.size());
  if (gone) forget(id);
}

channel_outcome channel_service::queue_value(const ::std::shared_ptr<channel_state>& state, ::std::string& bytes,
                                             bool block, clock::time_point deadline) {
  absl::MutexLock hold(&state->lock);
  while (state->receiver && state->bound != 0 && state->queue.size() >= state->bound) {
    if (!block || !state->failure.empty() || !wait_until(*state, deadline)) return channel_outcome::full;
  }
  if (!state->receiver) return channel_outcome::disconnected;
  state->queue.push_back(::std::move(bytes));
  state->announce_change();
  return channel_outcome::done;
}

void channel_service::apply_post(int source, const channel_message& message, ::std::string_view value) {
  ::std::shared_ptr<channel_state> state = find(message.id);
  if (state == nullptr) {
    ::std::fprintf(stderr, "drust: node %d: node %d sent a channel message for channel %llx, which this node does "
                           "not hold; ignored\n",
                   self(), source, static_cast<unsigned long long>(message.id));
    return;
  }
  switch (message.op) {
    case channel_operation::send: {
      ::std::string bytes(value);
      if (queue_value(state, bytes, false, clock::time_point::max()) == channel_outcome::disconnected) {
        state->discard(bytes.data(), bytes.size());
        // Tell the sending node, so that its next send throws send_error.
        if (transport_ != nullptr) {
          (void)transport_->send(source, message_kinds::channel_closed,
                                 ::std::string_view(reinterpret_cast<const char*>(&message.id), sizeof message.id));
        }
      }
      return;
    }
    case channel_operation::drop_sender:
      take_sender(message.id, state);
      return;
    case channel_operation::drop_receiver:
      take_receiver(message.id, state);
      return;
    default:
      ::std::fprintf(stderr, "drust: node %d: node %d posted channel operation %u, which needs an answer; ignored\n",
                     self(), source, static_cast<unsigned>(message.op));
  }
}

::std::string_view channel_service::order_post(int source, const channel_message& message, ::std::string_view value) {
  absl::MutexLock hold(&order_lock_);
  source_order& order = order_[source];
  if (message.sequence < order.next) return "its sequence number was used already";
  if (message.sequence - order.next > max_sequence_lead) return "its sequence number is far ahead of the next one";
  if (message.sequence != order.next) {
    if (!order.early.emplace(message.sequence, pending_post{message, ::std::string(value)}).second) {
      return "its sequence number was used already";
    }
    return {};
  }
  apply_post(source, message, value);
  ++order.next;
  for (auto next = order.early.find(order.next); next != order.early.end(); next = order.early.find(order.next)) {
    apply_post(source, next->second.message, next->second.value);
    order.early.erase(next);
    ++order.next;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Messages to other homes

absl::Status channel_service::post(const detail::channel_handle& handle, channel_operation op,
                                   ::std::string_view value, const char* what) {
  DRUST_RETURN_IF_ERROR(unavailable(what, handle.home));
  if (sizeof(channel_message) + value.size() > fabric::max_payload_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        what, ": the value takes ", value.size(), " bytes encoded, more than one message carries (",
        fabric::max_payload_bytes - sizeof(channel_message),
        "); send a drust::std::unique_ptr, vector or string instead (moved: its bytes stay in the global heap)"));
  }
  if (handle.home >= sequence_nodes_) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the channel's home is node ", handle.home,
                                                   ", and the job has ", sequence_nodes_, " nodes"));
  }
  channel_message message{handle.id, 0, op, 0};
  message.sequence = next_sequence_[static_cast<::std::size_t>(handle.home)].fetch_add(1, ::std::memory_order_relaxed);
  counters_.posts_sent.fetch_add(1, ::std::memory_order_relaxed);
  const absl::Status sent = transport_->send(handle.home, message_kinds::channel_post, message_bytes(message, value));
  if (!sent.ok()) return absl::Status(sent.code(), absl::StrCat(what, ": ", ::std::string(sent.message())));
  return absl::OkStatus();
}

absl::StatusOr<::std::uint64_t> channel_service::request(const detail::channel_handle& handle, channel_operation op,
                                                         ::std::string_view value, ::std::string* received,
                                                         const char* what) {
  DRUST_RETURN_IF_ERROR(unavailable(what, handle.home));
  if (sizeof(channel_message) + value.size() > fabric::max_payload_bytes) {
    return absl::OutOfRangeError(absl::StrCat(what, ": the value takes ", value.size(),
                                              " bytes encoded, more than one message carries; send a "
                                              "drust::std::unique_ptr, vector or string instead"));
  }
  counters_.requests_sent.fetch_add(1, ::std::memory_order_relaxed);
  thread_local ::std::string reply;
  const absl::Status called = transport_->call(handle.home, message_kinds::channel_request,
                                               message_bytes(channel_message{handle.id, 0, op, 0}, value), reply);
  if (!called.ok()) return absl::Status(called.code(), absl::StrCat(what, ": ", ::std::string(called.message())));
  ::std::uint64_t outcome = 0;
  if (reply.size() < sizeof outcome) {
    return absl::InternalError(absl::StrCat(what, ": node ", handle.home, " sent a malformed answer"));
  }
  ::std::memcpy(&outcome, reply.data(), sizeof outcome);
  if (received != nullptr) received->assign(reply, sizeof outcome);
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// The operations

absl::Status channel_service::clone(const detail::channel_handle& handle) {
  if (here(handle)) {
    ::std::shared_ptr<channel_state> state = find(handle.id);
    if (state == nullptr) return absl::FailedPreconditionError("drust::std::sync::sender: copy of a dead channel");
    absl::MutexLock hold(&state->lock);
    ++state->senders;
    return absl::OkStatus();
  }
  // A round trip: the home counts the copy before it exists, so its drop can never overtake it.
  return request(handle, channel_operation::clone, {}, nullptr, "drust::std::sync::sender (copy)").status();
}

absl::Status channel_service::drop_sender(const detail::channel_handle& handle) {
  if (here(handle)) {
    if (auto state = find(handle.id)) take_sender(handle.id, state);
    return absl::OkStatus();
  }
  return post(handle, channel_operation::drop_sender, {}, "drust::std::sync::sender (drop)");
}

absl::Status channel_service::drop_receiver(const detail::channel_handle& handle) {
  if (here(handle)) {
    if (auto state = find(handle.id)) take_receiver(handle.id, state);
    return absl::OkStatus();
  }
  return post(handle, channel_operation::drop_receiver, {}, "drust::std::sync::receiver (drop)");
}

absl::StatusOr<channel_outcome> channel_service::send(const detail::channel_handle& handle, ::std::string& bytes,
                                                      bool block) {
  const char* what = "drust::std::sync::sender::send";
  if (here(handle)) {
    ::std::shared_ptr<channel_state> state = find(handle.id);
    if (state == nullptr) return channel_outcome::disconnected;
    return queue_value(state, bytes, block, clock::time_point::max());
  }
  if (any_closed_.load(::std::memory_order_acquire)) {
    absl::ReaderMutexLock hold(&registry_lock_);
    if (closed_.contains(handle.id)) return channel_outcome::disconnected;
  }
  if (handle.bounded == 0) {
    // One one-way message; the home applies it in this node's order.
    DRUST_RETURN_IF_ERROR(post(handle, channel_operation::send, bytes, what));
    bytes.clear();
    return channel_outcome::done;
  }
  // Bounded: the home answers whether the value found room; a full channel is asked again.
  for (int round = 0;; back_off(round)) {
    DRUST_ASSIGN_OR_RETURN(::std::uint64_t outcome, request(handle, channel_operation::send_bounded, bytes, nullptr, what));
    const auto answer = static_cast<channel_outcome>(outcome);
    if (answer == channel_outcome::full && block) continue;
    if (answer == channel_outcome::done) bytes.clear();
    return answer;
  }
}

absl::StatusOr<channel_outcome> channel_service::recv(const detail::channel_handle& handle,
                                                      clock::time_point deadline, ::std::string& bytes) {
  const char* what = "drust::std::sync::receiver::recv";
  if (here(handle)) {
    ::std::shared_ptr<channel_state> state = find(handle.id);
    if (state == nullptr) return channel_outcome::disconnected;
    absl::MutexLock hold(&state->lock);
    while (state->queue.empty()) {
      if (state->senders == 0) return channel_outcome::disconnected;
      if (!state->failure.empty()) return absl::UnavailableError(absl::StrCat(what, ": ", state->failure));
      if (!wait_until(*state, deadline)) return channel_outcome::empty;
    }
    bytes = ::std::move(state->queue.front());
    state->queue.pop_front();
    if (state->bound != 0) state->announce_change();  // a blocked sender may go on
    return channel_outcome::done;
  }
  // The receiver moved to this node: it asks the home, and polls while nothing is queued.
  for (int round = 0;; back_off(round)) {
    DRUST_ASSIGN_OR_RETURN(::std::uint64_t outcome, request(handle, channel_operation::try_recv, {}, &bytes, what));
    const auto answer = static_cast<channel_outcome>(outcome);
    if (answer != channel_outcome::empty || clock::now() >= deadline) return answer;
  }
}

// ---------------------------------------------------------------------------------------------
// Joining and leaving the cluster

void channel_service::attach(fabric::transport* transport, int nodes) {
  transport_ = transport;
  next_sequence_ = ::std::make_unique<::std::atomic<::std::uint64_t>[]>(static_cast<::std::size_t>(nodes));
  sequence_nodes_ = nodes;
  receive_spin_.configure(change_poll_window, transport->progress() == fabric::progress_mode::adaptive);
  transport->on_request(message_kinds::channel_request,
                        [this](const fabric::incoming_message& incoming, ::std::string& out) -> absl::Status {
                          counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
                          channel_message message;
                          ::std::string_view value;
                          if (::std::string_view why = read_channel_message(incoming.payload, incoming.kind, message, value);
                              !why.empty()) {
                            return fabric::malformed_message(why);
                          }
                          ::std::shared_ptr<channel_state> state = find(message.id);
                          ::std::uint64_t outcome = static_cast<::std::uint64_t>(channel_outcome::disconnected);
                          ::std::string taken;
                          if (state == nullptr) {
                            if (message.op == channel_operation::clone) {
                              return absl::FailedPreconditionError(absl::StrCat(
                                  "node ", self(), " holds no channel ", absl::Hex(message.id),
                                  ": a sender was copied after its channel ended"));
                            }
                          } else if (message.op == channel_operation::clone) {
                            absl::MutexLock hold(&state->lock);
                            ++state->senders;
                            outcome = static_cast<::std::uint64_t>(channel_outcome::done);
                          } else if (message.op == channel_operation::send_bounded) {
                            ::std::string bytes(value);
                            outcome = static_cast<::std::uint64_t>(queue_value(state, bytes, false, clock::time_point::max()));
                            if (outcome == static_cast<::std::uint64_t>(channel_outcome::disconnected)) {
                              state->discard(bytes.data(), bytes.size());
                            }
                          } else if (message.op == channel_operation::try_recv) {
                            absl::MutexLock hold(&state->lock);
                            if (!state->queue.empty()) {
                              taken = ::std::move(state->queue.front());
                              state->queue.pop_front();
                              state->announce_change();
                              outcome = static_cast<::std::uint64_t>(channel_outcome::done);
                            } else if (state->senders != 0) {
                              outcome = static_cast<::std::uint64_t>(channel_outcome::empty);
                            }
                          }
                          out.resize(sizeof outcome);
                          ::std::memcpy(out.data(), &outcome, sizeof outcome);
                          out.append(taken);
                          return absl::OkStatus();
                        });
  transport->on_message(message_kinds::channel_post, [this](const fabric::incoming_message& incoming) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    channel_message message;
    ::std::string_view value;
    if (::std::string_view why = read_channel_message(incoming.payload, incoming.kind, message, value); !why.empty()) {
      return transport_->reject(incoming, why);
    }
    if (::std::string_view why = order_post(incoming.source, message, value); !why.empty()) {
      transport_->reject(incoming, why);
    }
  });
  transport->on_message(message_kinds::channel_closed, [this](const fabric::incoming_message& incoming) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    ::std::uint64_t id = 0;
    if (incoming.payload.size() != sizeof id) return transport_->reject(incoming, "not one channel id");
    ::std::memcpy(&id, incoming.payload.data(), sizeof id);
    absl::MutexLock hold(&registry_lock_);
    closed_.insert(id);
    any_closed_.store(true, ::std::memory_order_release);
  });
}

void channel_service::stop(const ::std::string& why) {
  {
    absl::MutexLock hold(&registry_lock_);
    stop_reason_ = why;
  }
  stopped_.store(true, ::std::memory_order_release);
  fail_node(-1, why);
}

void channel_service::fail_node(int node, const ::std::string& reason) {
  ::std::vector<::std::shared_ptr<channel_state>> all;
  {
    absl::ReaderMutexLock hold(&registry_lock_);
    for (const auto& entry : channels_) all.push_back(entry.second);
  }
  const ::std::string failure =
      node < 0 ? reason
               : absl::StrCat("node ", node, " failed (", reason,
                              "): senders there will never send or go, so the channel cannot end normally");
  for (const auto& state : all) {
    absl::MutexLock hold(&state->lock);
    state->failure = failure;
    state->announce_change();
  }
}

}  // namespace drust::sync
