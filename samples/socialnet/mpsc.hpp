// mpsc: channels between std threads, for the std original of the social network.
//
// std has no channels; this is the smallest one, shaped like Rust's std::sync::mpsc and like
// drust::std::sync's (<drust/std/sync>): channel<T>() returns a (sender, receiver) pair; senders
// are copyable (many producers), the receiver is move-only (one consumer); send(T) is const and
// throws send_error once the receiver is gone; recv() waits and returns std::nullopt once every
// sender is gone and the queue is empty. So the port replaces this header by <drust/std/sync>
// and names drust::std::sync as mpsc (`namespace mpsc = drust::std::sync;`), and no use site
// changes. Only what socialnet_std.cpp uses is here (no sync_channel, try_recv, recv_for).
//
//   auto [tx, rx] = mpsc::channel<int>();
//   std::thread producer([](mpsc::sender<int> out) { out.send(42); }, tx);
//   tx.reset();                          // this thread's sender goes: rx ends when producer's does
//   while (std::optional<int> v = rx.recv()) std::printf("%d\n", *v);
//   producer.join();
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace mpsc {

// Thrown by sender<T>::send when the channel's receiver is gone (Rust: SendError).
class send_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// What the ends of one channel share.
template <class T>
struct channel_state {
  std::mutex mutex;
  std::condition_variable ready;  // a value was queued, or the last sender went
  std::deque<T> queue;
  std::size_t senders = 1;
  bool receiver_alive = true;
};

}  // namespace detail

template <class T>
class sender;
template <class T>
class receiver;
template <class T>
std::pair<sender<T>, receiver<T>> channel();

template <class T>
class sender {
 public:
  sender() noexcept = default;  // an empty sender (assign one to it)
  sender(const sender& other) : state_(other.state_) {
    if (!state_) return;
    const std::lock_guard hold(state_->mutex);
    ++state_->senders;
  }
  sender(sender&& other) noexcept = default;  // leaves `other` empty
  sender& operator=(sender other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~sender() { reset(); }

  // Queues `value` for the receiver. Throws send_error (the value destroyed) when it is gone.
  void send(T value) const {
    if (!state_) throw send_error("mpsc::sender::send: this sender is empty (moved from or reset)");
    {
      const std::lock_guard hold(state_->mutex);
      if (!state_->receiver_alive)
        throw send_error("mpsc::sender::send: the channel's receiver is gone");
      state_->queue.push_back(std::move(value));
    }
    state_->ready.notify_one();
  }

  // Drops this sender now (Rust: drop(tx)); it is empty afterwards.
  void reset() noexcept {
    if (!state_) return;
    bool last = false;
    {
      const std::lock_guard hold(state_->mutex);
      last = --state_->senders == 0;
    }
    if (last) state_->ready.notify_all();
    state_.reset();
  }
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend std::pair<sender, receiver<T>> channel<T>();
  explicit sender(std::shared_ptr<detail::channel_state<T>> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<detail::channel_state<T>> state_;
};

template <class T>
class receiver {
 public:
  receiver() noexcept = default;
  receiver(receiver&& other) noexcept = default;  // leaves `other` empty
  receiver& operator=(receiver&& other) noexcept {
    receiver gone(std::move(*this));
    state_ = std::move(other.state_);
    return *this;
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  // Values still queued are destroyed; later sends throw send_error.
  ~receiver() {
    if (!state_) return;
    const std::lock_guard hold(state_->mutex);
    state_->receiver_alive = false;
    state_->queue.clear();
  }

  // The next value; waits for one. std::nullopt once every sender is gone and nothing is queued.
  std::optional<T> recv() {
    std::unique_lock hold(state_->mutex);
    state_->ready.wait(hold, [this] { return !state_->queue.empty() || state_->senders == 0; });
    if (state_->queue.empty()) return std::nullopt;
    std::optional<T> value(std::move(state_->queue.front()));
    state_->queue.pop_front();
    return value;
  }

 private:
  friend std::pair<sender<T>, receiver<T>> channel<T>();
  explicit receiver(std::shared_ptr<detail::channel_state<T>> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<detail::channel_state<T>> state_;
};

// An unbounded channel (Rust: mpsc::channel): send never waits.
template <class T>
std::pair<sender<T>, receiver<T>> channel() {
  auto state = std::make_shared<detail::channel_state<T>>();
  return {sender<T>(state), receiver<T>(state)};
}

}  // namespace mpsc
