// Whether a waiter should spin before it sleeps, learnt from how long recent waits took.
//
// A poller that waits for something from another node (a reply, the next request, a channel
// value) can spin, which is cheapest when the thing comes within a few microseconds, or sleep,
// which costs a wake-up when it comes. On a node with a core to spare and an awake peer, spins
// pay. On a node that has more threads than cores, or runs under a CPU quota (drun --cpu-quota, a
// container's limit), the peer is often not running: the spin runs out, and every microsecond of
// it was taken from the node's own threads. The SocialNet port under a quota of 0.25 cores lost
// a third of its throughput that way (docs/PERFORMANCE.md, "Spinning that does not pay").
//
// So each place that spins keeps a spin_budget and reports how long each wait took, spun or
// slept. A wait that ended within the spin window is one that a spin catches: it earns a credit.
// A longer one loses two. While no credit is left, waits do not spin at all. Spinning thus goes
// on while at least two of three waits are short. Waits that slept still count, so a change back
// is noticed when waits get short again (the load drops, a peer gets its core back). Not when two
// nodes sleep on each other: each wait is then the other's wake-up, 40-160 us on a VM, longer than
// the window, and neither starts spinning again (docs/PERFORMANCE.md, "Spinning that does not pay").
//
// Thread-safe; the counts are racy by design (a lost update only shifts a later decision).
//
//   fabric::spin_budget budget;
//   budget.configure(microseconds(20), /*adaptive=*/true);
//   const auto started = steady_clock::now();
//   ... spin for at most budget.window(), then sleep until it comes ...
//   budget.waited(steady_clock::now() - started);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace drust::fabric {

class spin_budget {
 public:
  static constexpr int max_credit = 8;
  static constexpr int cost_of_long_wait = 2;

  // Waits spin for at most `window`; not `adaptive`, every wait spins for the whole window
  // (DRUST_PROGRESS=sleep, the fixed policy). Before any thread waits.
  void configure(::std::chrono::microseconds window, bool adaptive) {
    window_ = window;
    adaptive_ = adaptive;
  }

  // How long the next wait may spin: the window, or zero while waits have been long.
  ::std::chrono::microseconds window() const {
    if (!adaptive_ || credit_.load(::std::memory_order_relaxed) > 0) return window_;
    return ::std::chrono::microseconds::zero();
  }
  // A wait ended after `took` (whether it spun or slept).
  void waited(::std::chrono::steady_clock::duration took) {
    const int credit = credit_.load(::std::memory_order_relaxed);
    if (took <= window_) {
      short_waits_.fetch_add(1, ::std::memory_order_relaxed);
      if (credit < max_credit) credit_.store(credit + 1, ::std::memory_order_relaxed);
    } else {
      long_waits_.fetch_add(1, ::std::memory_order_relaxed);
      credit_.store(credit > cost_of_long_wait ? credit - cost_of_long_wait : 0, ::std::memory_order_relaxed);
    }
  }

  ::std::uint64_t short_waits() const { return short_waits_.load(::std::memory_order_relaxed); }
  ::std::uint64_t long_waits() const { return long_waits_.load(::std::memory_order_relaxed); }

 private:
  ::std::chrono::microseconds window_{0};
  bool adaptive_ = true;
  ::std::atomic<int> credit_{max_credit};
  ::std::atomic<::std::uint64_t> short_waits_{0};
  ::std::atomic<::std::uint64_t> long_waits_{0};
};

}  // namespace drust::fabric
