// Internal part of <drust/std/sync>: Rust's std::sync::mpsc channels across nodes —
// sync::channel<T>(), sync::sync_channel<T>(bound), sync::sender<T>, sync::receiver<T>.
//
// A channel's queue lives at its *home*, the node that created it; senders and the receiver are
// handles (the home and the channel's id) that travel to threads on any node. A send from another
// node is one one-way message carrying the value's bytes (drust::detail::encode: a
// drust::std::unique_ptr inside moves its ownership, the object stays where it is); a receive at
// the home is local. T must be drust::sendable.
//
//   #include <drust/std/sync>
//   #include <drust/std/thread>
//   #include <string>
//   int main() {
//     auto [tx, rx] = drust::std::sync::channel<std::string>();
//     drust::std::thread t([](auto tx) { tx.send("hello"); }, tx);  // a copy of tx goes along
//     tx = {};                                                        // drop this node's sender
//     for (std::string message : rx) (void)message;                   // until every sender is gone
//     t.join();
//   }
//
// As in Rust: senders are copyable (many producers), the receiver is move-only (one consumer);
// recv() blocks and gives std::nullopt once every sender, on every node, is gone and the queue is
// empty; a send to a channel whose receiver is gone throws sync::send_error (the value is
// destroyed, where Rust hands it back). sync_channel(bound) blocks a send while `bound` values are
// queued; sync_channel(0) (Rust's rendezvous channel) is refused with std::invalid_argument.
// A thread blocked on a channel whose home, or a sending node, failed gets std::system_error
// naming the node. docs/design/sync.md ("Channels") has the protocol.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <drust/codec>
#include <drust/detail/handle.hpp>
#include <drust/detail/sync.hpp>
#include <drust/interior_mutable>
#include <drust/relocatable>
#include <drust/sendable>

namespace drust::detail {

// A channel end: the home node and the channel's id there (a serial number, not an address, so
// that the bytes mean the same on every node and a captured handle passes check_closure_words).
struct channel_handle {
  ::std::int32_t home = sync_process_local;
  ::std::uint32_t bounded = 0;  // 1: a sync_channel (a remote send waits for the home's answer)
  ::std::uint64_t id = 0;       // 0: an empty (moved-from) end

  bool empty() const noexcept { return id == 0; }
};
static_assert(::std::is_trivially_copyable_v<channel_handle> && sizeof(channel_handle) == 16);

// A handle in two words (its wire form).
inline ::std::uint64_t pack_channel_handle(const channel_handle& handle) noexcept {
  return static_cast<::std::uint64_t>(static_cast<::std::uint32_t>(handle.home)) |
         (static_cast<::std::uint64_t>(handle.bounded) << 32);
}
inline channel_handle unpack_channel_handle(::std::uint64_t first, ::std::uint64_t id) noexcept {
  return channel_handle{static_cast<::std::int32_t>(static_cast<::std::uint32_t>(first)),
                        static_cast<::std::uint32_t>(first >> 32), id};
}

// Destroys a value from its bytes (a queued value nobody will receive). Runs at the home only.
using channel_discard = void (*)(const char* bytes, ::std::size_t size) noexcept;

template <class T>
void discard_channel_value(const char* bytes, ::std::size_t size) noexcept {
  try {
    (void)decode<T>(::std::string_view(bytes, size));
  } catch (...) {
    // Bytes that do not decode own nothing drust could give back.
  }
}

enum class channel_outcome : ::std::uint32_t {
  done,          // sent, or a value received
  full,          // a bounded channel is full (try_send)
  empty,         // nothing queued (try_recv) or the deadline passed
  disconnected,  // send: the receiver is gone; recv: every sender is gone and the queue is empty
};

// A new channel homed here with one sender and one receiver. `bound` 0: unbounded.
channel_handle channel_create(::std::size_t bound, channel_discard discard);
// One more sender (a copy). Throws std::system_error when the home failed.
void channel_clone(const channel_handle& handle);
void channel_drop_sender(const channel_handle& handle) noexcept;
void channel_drop_receiver(const channel_handle& handle) noexcept;
// Queues `bytes` (done: they were taken). `block`: wait while a bounded channel is full.
// Throws std::system_error when the home failed, std::length_error when the value is too big.
channel_outcome channel_send(const channel_handle& handle, ::std::string& bytes, bool block);
// The next value into `bytes` (done), waiting until `deadline` (a past one: do not wait).
// Throws std::system_error when the home, or a node a sender may be on, failed.
channel_outcome channel_recv(const channel_handle& handle, sync_deadline deadline, ::std::string& bytes);

}  // namespace drust::detail

namespace drust::std::sync {

// Thrown by sender<T>::send and try_send when the channel's receiver is gone (Rust: SendError).
class send_error : public ::std::runtime_error {
 public:
  using ::std::runtime_error::runtime_error;
};

template <class T>
class receiver;

template <class T>
class sender {
 public:
  sender() noexcept = default;  // an empty sender, sends nothing (assign one to it)
  sender(const sender& other) : handle_(other.handle_) {
    if (!handle_.empty()) drust::detail::channel_clone(handle_);
  }
  sender(sender&& other) noexcept : handle_(::std::exchange(other.handle_, {})) {}
  sender& operator=(sender other) noexcept {
    ::std::swap(handle_, other.handle_);
    return *this;
  }
  ~sender() { reset(); }

  // Queues `value` for the receiver (a bounded channel: waits while it is full). Throws
  // send_error (the value destroyed) when the receiver is gone, std::system_error when the
  // channel's home failed.
  void send(T value) const {
    ::std::string bytes = drust::detail::encode(::std::move(value));
    if (drust::detail::channel_send(checked(), bytes, true) != drust::detail::channel_outcome::done) {
      refuse(bytes);
    }
  }
  // Queues `value` unless a bounded channel is full: then false, and `value` is as it was.
  bool try_send(T&& value) const requires ::std::is_move_assignable_v<T> {
    ::std::string bytes = drust::detail::encode(::std::move(value));
    switch (drust::detail::channel_send(checked(), bytes, false)) {
      case drust::detail::channel_outcome::done:
        return true;
      case drust::detail::channel_outcome::full:
        value = drust::detail::decode<T>(bytes);
        return false;
      default:
        refuse(bytes);
    }
  }

  // Drops this sender now (Rust: drop(tx)); it is empty afterwards.
  void reset() noexcept {
    if (!handle_.empty()) drust::detail::channel_drop_sender(::std::exchange(handle_, {}));
  }
  explicit operator bool() const noexcept { return !handle_.empty(); }
  // drust: the node that keeps the channel's queue.
  int home_node() const noexcept { return handle_.home; }

 private:
  template <class U>
  friend ::std::pair<sender<U>, receiver<U>> make_channel(::std::size_t bound);
  friend struct drust::detail::wire_traits<sender>;
  explicit sender(drust::detail::channel_handle handle) noexcept : handle_(handle) {}

  const drust::detail::channel_handle& checked() const {
    if (handle_.empty()) {
      throw send_error("drust::std::sync::sender::send: this sender is empty (moved from or reset); send through "
                       "a sender that came from channel() or sync_channel(), or a copy of one");
    }
    return handle_;
  }
  [[noreturn]] void refuse(const ::std::string& bytes) const {
    drust::detail::discard_channel_value<T>(bytes.data(), bytes.size());
    throw send_error("drust::std::sync::sender::send: the channel's receiver is gone (destroyed), so nobody would "
                     "receive the value; keep the receiver alive while senders send, or stop sending when "
                     "send_error is thrown");
  }

  drust::detail::channel_handle handle_{};
};

template <class T>
class receiver {
 public:
  receiver() noexcept = default;
  receiver(receiver&& other) noexcept : handle_(::std::exchange(other.handle_, {})) {}
  receiver& operator=(receiver&& other) noexcept {
    receiver gone(::std::move(*this));
    handle_ = ::std::exchange(other.handle_, {});
    return *this;
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  // Values still queued are destroyed; later sends throw send_error.
  ~receiver() {
    if (!handle_.empty()) drust::detail::channel_drop_receiver(::std::exchange(handle_, {}));
  }

  // The next value; waits for one. std::nullopt once every sender is gone and nothing is queued.
  // Throws std::system_error when the channel's home, or a node with senders, failed.
  ::std::optional<T> recv() { return receive(drust::detail::no_deadline); }
  // The next value if one is queued now, else std::nullopt (empty or disconnected).
  ::std::optional<T> try_recv() { return receive(0); }
  // The next value, waiting at most `timeout` (Rust: recv_timeout); std::nullopt when none came
  // or every sender is gone.
  template <class Rep, class Period>
  ::std::optional<T> recv_for(const ::std::chrono::duration<Rep, Period>& timeout) {
    return receive(drust::detail::to_sync_deadline(timeout));
  }
  template <class Clock, class Duration>
  ::std::optional<T> recv_until(const ::std::chrono::time_point<Clock, Duration>& time) {
    return receive(drust::detail::to_sync_deadline(time));
  }
  template <class Rep, class Period>
  ::std::optional<T> recv_timeout(const ::std::chrono::duration<Rep, Period>& timeout) {
    return recv_for(timeout);
  }

  // Range-for over the values until every sender is gone (Rust: rx.iter()).
  class iterator {
   public:
    using iterator_category = ::std::input_iterator_tag;
    using value_type = T;
    using difference_type = ::std::ptrdiff_t;
    iterator() = default;
    T& operator*() { return *current_; }
    T* operator->() { return &*current_; }
    iterator& operator++() {
      current_ = owner_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(::std::default_sentinel_t) const { return !current_.has_value(); }

   private:
    friend class receiver;
    explicit iterator(receiver* owner) : owner_(owner), current_(owner->recv()) {}
    receiver* owner_ = nullptr;
    ::std::optional<T> current_;
  };
  iterator begin() { return iterator(this); }
  ::std::default_sentinel_t end() const noexcept { return {}; }

  explicit operator bool() const noexcept { return !handle_.empty(); }
  int home_node() const noexcept { return handle_.home; }

 private:
  template <class U>
  friend ::std::pair<sender<U>, receiver<U>> make_channel(::std::size_t bound);
  friend struct drust::detail::wire_traits<receiver>;
  explicit receiver(drust::detail::channel_handle handle) noexcept : handle_(handle) {}

  ::std::optional<T> receive(drust::detail::sync_deadline deadline) {
    if (handle_.empty()) {
      throw ::std::logic_error("drust::std::sync::receiver: this receiver is empty (moved from); receive through the "
                               "receiver that channel() or sync_channel() returned, or where it was moved to");
    }
    thread_local ::std::string bytes;
    if (drust::detail::channel_recv(handle_, deadline, bytes) != drust::detail::channel_outcome::done) {
      return ::std::nullopt;
    }
    return ::std::optional<T>(drust::detail::decode<T>(bytes));
  }

  drust::detail::channel_handle handle_{};
};

template <class T>
::std::pair<sender<T>, receiver<T>> make_channel(::std::size_t bound) {
  static_assert(drust::detail::require_sendable<T>());
  const drust::detail::channel_handle handle =
      drust::detail::channel_create(bound, &drust::detail::discard_channel_value<T>);
  return {sender<T>(handle), receiver<T>(handle)};
}

// An unbounded channel (Rust: mpsc::channel): send never waits.
template <class T>
::std::pair<sender<T>, receiver<T>> channel() {
  return make_channel<T>(0);
}

// A bounded channel (Rust: mpsc::sync_channel): send waits while `bound` values are queued.
template <class T>
::std::pair<sender<T>, receiver<T>> sync_channel(::std::size_t bound) {
  if (bound == 0) {
    throw ::std::invalid_argument(
        "drust::std::sync::sync_channel(0): a rendezvous channel (Rust's bound 0) is not supported; use "
        "sync_channel(1), whose send returns once the value is queued");
  }
  return make_channel<T>(bound);
}

}  // namespace drust::std::sync

// The ends travel to other nodes' threads as their handles; shipping moves them (no count changes).
template <class T>
struct drust::detail::wire_traits<drust::std::sync::sender<T>> {
  using wire = handle_wire<drust::std::sync::sender<T>, 2>;
  static wire to_wire(drust::std::sync::sender<T>&& value) {
    const channel_handle handle = ::std::exchange(value.handle_, {});
    return {{pack_channel_handle(handle), handle.id}};
  }
  static drust::std::sync::sender<T> from_wire(wire value) {
    return drust::std::sync::sender<T>(
        unpack_channel_handle(value.words[0], value.words[1]));
  }
};
template <class T>
struct drust::detail::wire_traits<drust::std::sync::receiver<T>> {
  using wire = handle_wire<drust::std::sync::receiver<T>, 2>;
  static wire to_wire(drust::std::sync::receiver<T>&& value) {
    const channel_handle handle = ::std::exchange(value.handle_, {});
    return {{pack_channel_handle(handle), handle.id}};
  }
  static drust::std::sync::receiver<T> from_wire(wire value) {
    return drust::std::sync::receiver<T>(
        unpack_channel_handle(value.words[0], value.words[1]));
  }
};

// Their bytes mean the same on every node (a node number and a serial id): they may move as bytes
// (a captured sender in a relocated lambda) and sit in global-heap objects.
template <class T>
inline constexpr bool drust::enable_relocatable<drust::std::sync::sender<T>> = true;
template <class T>
inline constexpr bool drust::enable_relocatable<drust::std::sync::receiver<T>> = true;
template <class T>
inline constexpr bool drust::interior_mutable<drust::std::sync::sender<T>> = true;
template <class T>
inline constexpr bool drust::interior_mutable<drust::std::sync::receiver<T>> = true;
