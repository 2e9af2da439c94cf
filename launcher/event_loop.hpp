// A single-threaded poll loop with timers: the heart of drun.
//
// drun watches its children, their output, the controller's sockets and its own signals from one
// thread, so its state needs no locks and every decision happens in a known order.
//
//   event_loop loop;
//   loop.watch(fd, [&] { on_readable(); });
//   auto timer = loop.add_timer(::std::chrono::seconds(2), [&] { kill_leftovers(); });
//   while (!done) loop.run_once(::std::chrono::milliseconds(100));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>

namespace drust::launcher {

class event_loop {
 public:
  using callback = ::std::function<void()>;
  using timer_id = ::std::uint64_t;
  using clock = ::std::chrono::steady_clock;

  // Calls `on_readable` whenever `fd` is readable or hung up. A callback may watch and unwatch
  // any fd, this one included.
  void watch(int fd, callback on_readable);
  void unwatch(int fd);
  bool watching(int fd) const { return watched_.count(fd) != 0; }

  // Calls `on_expiry` once, `delay` from now. Returns an id for cancel_timer.
  timer_id add_timer(clock::duration delay, callback on_expiry);
  void cancel_timer(timer_id id);

  // Waits until an fd is readable, a timer expires or `longest_wait` passes, then runs the
  // callbacks that are due.
  void run_once(clock::duration longest_wait);

 private:
  struct watched_fd {
    ::std::uint64_t generation = 0;  // tells a re-watched fd from the one poll saw
    callback on_readable;
  };
  struct timer {
    clock::time_point expiry;
    callback on_expiry;
  };

  ::std::map<int, watched_fd> watched_;
  ::std::map<timer_id, timer> timers_;
  ::std::uint64_t next_generation_ = 1;
  timer_id next_timer_ = 1;
};

}  // namespace drust::launcher
