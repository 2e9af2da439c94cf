// The conformance cases: written once, as templates over a *flavour* (std's threading names or
// drust::std's), and run by conformance_app against std in one process and against drust::std on
// a cluster. Each case returns its observable result as text; the test compares the two runs line
// by line, and each case also checks what std promises (no lost update, every thread arrived, ...)
// and says "broken: ..." when it does not hold.
//
// The cases share state between threads the way a program ported to drust does: through
// shared_ptr copies of synchronisation objects (interior-mutable in drust), captured by value.
// Where drust needs a placement to spread threads over the nodes, the flavour's spawn(i, ...) puts
// thread i on node i % nodes; std ignores it. What differs by design is in docs/porting.md.
#pragma once

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/barrier>
#include <drust/std/condition_variable>
#include <drust/std/future>
#include <drust/std/latch>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/semaphore>
#include <drust/std/shared_mutex>
#include <drust/std/thread>

namespace conformance {

using namespace std::chrono_literals;

// std's names, as a program written for one machine uses them.
struct std_flavour {
  static constexpr const char* name = "std";
  template <class T>
  using atomic = std::atomic<T>;
  using mutex = std::mutex;
  using timed_mutex = std::timed_mutex;
  using recursive_mutex = std::recursive_mutex;
  using recursive_timed_mutex = std::recursive_timed_mutex;
  using shared_timed_mutex = std::shared_timed_mutex;
  using condition_variable = std::condition_variable;
  using condition_variable_any = std::condition_variable_any;
  using atomic_flag = std::atomic_flag;
  template <std::ptrdiff_t N>
  using counting_semaphore = std::counting_semaphore<N>;
  using binary_semaphore = std::binary_semaphore;
  using thread = std::thread;
  using jthread = std::jthread;
  using latch = std::latch;
  template <class F>
  using barrier = std::barrier<F>;
  template <class T>
  using future = std::future<T>;
  template <class T>
  using promise = std::promise<T>;

  template <class T, class... Args>
  static auto make_shared(Args&&... args) {
    return std::make_shared<T>(std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  static thread spawn(int, F&& f, Args&&... args) {
    return thread(std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  static jthread spawn_jthread(int, F&& f, Args&&... args) {
    return jthread(std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  static auto async(int, F&& f, Args&&... args) {
    return std::async(std::launch::async, std::forward<F>(f), std::forward<Args>(args)...);
  }
  static unsigned cores() { return std::thread::hardware_concurrency(); }
};

// drust::std's names, the same program after the swaps; thread i runs on node i % nodes.
struct drust_flavour {
  static constexpr const char* name = "drust";
  template <class T>
  using atomic = drust::std::atomic<T>;
  using mutex = drust::std::mutex;
  using timed_mutex = drust::std::timed_mutex;
  using recursive_mutex = drust::std::recursive_mutex;
  using recursive_timed_mutex = drust::std::recursive_timed_mutex;
  using shared_timed_mutex = drust::std::shared_timed_mutex;
  using condition_variable = drust::std::condition_variable;
  using condition_variable_any = drust::std::condition_variable_any;
  using atomic_flag = drust::std::atomic_flag;
  template <std::ptrdiff_t N>
  using counting_semaphore = drust::std::counting_semaphore<N>;
  using binary_semaphore = drust::std::binary_semaphore;
  using thread = drust::std::thread;
  using jthread = drust::std::jthread;
  using latch = drust::std::latch;
  template <class F>
  using barrier = drust::std::barrier<F>;
  template <class T>
  using future = drust::std::future<T>;
  template <class T>
  using promise = drust::std::promise<T>;

  template <class T, class... Args>
  static auto make_shared(Args&&... args) {
    return drust::std::make_shared<T>(std::forward<Args>(args)...);
  }
  static drust::on node_for(int i) { return drust::on(i % drust::num_nodes()); }
  template <class F, class... Args>
  static thread spawn(int i, F&& f, Args&&... args) {
    return thread(node_for(i), std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  static jthread spawn_jthread(int i, F&& f, Args&&... args) {
    return jthread(node_for(i), std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  static auto async(int i, F&& f, Args&&... args) {
    return drust::std::async(node_for(i), std::launch::async, std::forward<F>(f), std::forward<Args>(args)...);
  }
  static unsigned cores() { return drust::std::thread::hardware_concurrency(); }
};

constexpr int thread_count = 8;

inline std::string broken(const std::string& what) { return "broken: " + what; }

// Runs body(i) on thread_count threads (thread i on node i % nodes under drust), then joins them.
template <class F, class Body>
void on_every_thread(Body body) {
  std::vector<typename F::thread> threads;
  for (int i = 0; i < thread_count; ++i) threads.push_back(F::spawn(i, body, i));
  for (auto& t : threads) t.join();
}

// What broke when `counter` did not count `rounds` per thread; empty when it did.
template <class Counter>
std::string lost_updates(const Counter& counter, int rounds) {
  const long counted = counter.load();
  return counted == long{thread_count} * rounds ? std::string() : broken("lost updates: " + std::to_string(counted));
}

// --- threads ---------------------------------------------------------------------------------

inline long square(long x) { return x * x; }

template <class F>
std::string threads_join_and_ids() {
  auto total = F::template make_shared<typename F::template atomic<long>>(0);
  std::vector<typename F::thread> threads;
  for (int i = 0; i < thread_count; ++i) {
    threads.push_back(F::spawn(i, [total](long x) { total->fetch_add(square(x)); }, long{i + 1}));
  }
  std::vector<typename F::thread::id> ids;
  for (auto& t : threads) {
    if (!t.joinable()) return broken("a started thread is not joinable");
    ids.push_back(t.get_id());
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (std::size_t j = i + 1; j < ids.size(); ++j) {
      if (ids[i] == ids[j]) return broken("two threads share an id");
    }
  }
  for (auto& t : threads) t.join();
  for (auto& t : threads) {
    if (t.joinable()) return broken("a joined thread is still joinable");
  }
  typename F::thread moved = F::spawn(1, [] {});
  typename F::thread other(std::move(moved));
  const bool moved_ok = !moved.joinable() && other.joinable();
  other.join();
  return "sum of squares " + std::to_string(total->load()) + ", ids distinct, moved " + (moved_ok ? "ok" : "wrong") +
         ", cores>0 " + (F::cores() > 0 ? "yes" : "no");
}

template <class F>
std::string jthread_stop_token() {
  auto iterations = F::template make_shared<typename F::template atomic<long>>(0);
  auto saw_stop = F::template make_shared<typename F::template atomic<int>>(0);
  {
    typename F::jthread worker = F::spawn_jthread(1, [iterations, saw_stop](std::stop_token stop) {
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      while (!stop.stop_requested() && std::chrono::steady_clock::now() < deadline) {
        iterations->fetch_add(1);
        std::this_thread::sleep_for(1ms);
      }
      saw_stop->store(stop.stop_requested() ? 1 : 0);
    });
    while (iterations->load() == 0) std::this_thread::sleep_for(1ms);
    const bool requested = worker.request_stop();
    if (!requested) return broken("request_stop returned false on the first request");
    if (!worker.get_stop_token().stop_requested()) return broken("the token does not show the request");
  }  // the destructor joins
  return std::string("the running thread saw the stop: ") + (saw_stop->load() == 1 ? "yes" : "no");
}

// --- futures -----------------------------------------------------------------------------------

inline long fails(long x) {
  if (x > 0) throw std::runtime_error("boom " + std::to_string(x));
  return x;
}

template <class F>
std::string async_and_futures() {
  std::vector<typename F::template future<long>> results;
  for (int i = 0; i < thread_count; ++i) results.push_back(F::async(i, square, long{i}));
  long sum = 0;
  for (auto& r : results) {
    if (!r.valid()) return broken("a future from async is not valid");
    sum += r.get();
    if (r.valid()) return broken("a future is still valid after get");
  }
  std::string thrown = "nothing";
  auto failing = F::async(3, fails, long{7});
  if (failing.wait_for(60s) != std::future_status::ready) return broken("async did not finish");
  try {
    (void)failing.get();
  } catch (const std::exception& error) {
    const std::string what = error.what();
    thrown = what.find("boom 7") != std::string::npos ? "the message" : "another message: " + what;
  }
  return "sum " + std::to_string(sum) + ", get rethrew " + thrown;
}

template <class F>
std::string promise_fulfilled_by_a_thread() {
  typename F::template promise<long> promise;
  auto result = promise.get_future();
  auto t = F::spawn(2, [](typename F::template promise<long> p, long x) { p.set_value(x * 3); }, std::move(promise), 14L);
  const long value = result.get();
  t.join();
  typename F::template future<long> broken_one;
  {
    typename F::template promise<long> dropped;
    broken_one = dropped.get_future();
  }
  std::string broken_text = "no error";
  try {
    (void)broken_one.get();
  } catch (const std::future_error& error) {
    broken_text = error.code() == std::future_errc::broken_promise ? "broken_promise" : "another future_error";
  }
  return "value " + std::to_string(value) + ", dropped promise gives " + broken_text;
}

// --- mutual exclusion ------------------------------------------------------------------------

// A read-modify-write in two steps: only mutual exclusion keeps updates from being lost.
template <class Counter>
void unsafe_increment(Counter& counter) {
  const long seen = counter.load(std::memory_order_relaxed);
  std::this_thread::yield();
  counter.store(seen + 1, std::memory_order_relaxed);
}

template <class F>
std::string mutex_with_every_lock_type() {
  constexpr int rounds = 200;
  auto m = F::template make_shared<typename F::mutex>();
  auto n = F::template make_shared<typename F::mutex>();
  auto counter = F::template make_shared<typename F::template atomic<long>>(0);
  auto second = F::template make_shared<typename F::template atomic<long>>(0);
  on_every_thread<F>([m, n, counter, second](int kind) {
    for (int r = 0; r < rounds; ++r) {
      if (kind % 3 == 0) {
        std::lock_guard<typename F::mutex> hold(*m);
        unsafe_increment(*counter);
      } else if (kind % 3 == 1) {
        std::unique_lock<typename F::mutex> hold(*m, std::defer_lock);
        hold.lock();
        unsafe_increment(*counter);
        hold.unlock();
      } else {
        std::scoped_lock hold(*m, *n);
        unsafe_increment(*counter);
        unsafe_increment(*second);
      }
    }
  });
  if (std::string lost = lost_updates(*counter, rounds); !lost.empty()) return lost;
  const bool free_after = m->try_lock();
  if (free_after) m->unlock();
  return "counter " + std::to_string(counter->load()) + ", scoped_lock pairs " + std::to_string(second->load()) +
         ", try_lock after " + (free_after ? "succeeds" : "fails");
}

// Locks *m `depth` times on thread 1 (node 1 under drust) and holds it: what the timed-lock cases
// try against. Returns once it is held; calling the result lets it go and joins the thread.
template <class F, class Shared>
auto hold_on_another_thread(Shared m, int depth = 1) {
  auto holding = F::template make_shared<typename F::template atomic<int>>(0);
  auto release = F::template make_shared<typename F::template atomic<int>>(0);
  auto holder = F::spawn(1, [m, holding, release, depth] {
    for (int d = 0; d < depth; ++d) m->lock();
    holding->store(1);
    while (release->load() == 0) std::this_thread::sleep_for(1ms);
    for (int d = 0; d < depth; ++d) m->unlock();
  });
  while (holding->load() == 0) std::this_thread::sleep_for(1ms);
  return [holder = std::move(holder), release]() mutable {
    release->store(1);
    holder.join();
  };
}

template <class F>
std::string timed_mutex_times_out() {
  auto m = F::template make_shared<typename F::timed_mutex>();
  auto let_go = hold_on_another_thread<F>(m);
  const bool while_held = m->try_lock_for(20ms);
  let_go();
  const bool after = m->try_lock_for(10s);
  if (after) m->unlock();
  return std::string("try_lock_for while held: ") + (while_held ? "acquired" : "timed out") +
         ", after release: " + (after ? "acquired" : "timed out");
}

template <class F>
std::string recursive_mutex_nests() {
  constexpr int rounds = 100;
  auto m = F::template make_shared<typename F::recursive_mutex>();
  auto counter = F::template make_shared<typename F::template atomic<long>>(0);
  auto nested_try = F::template make_shared<typename F::template atomic<int>>(0);
  on_every_thread<F>([m, counter, nested_try](int) {
    for (int r = 0; r < rounds; ++r) {
      std::lock_guard<typename F::recursive_mutex> outer(*m);
      std::unique_lock<typename F::recursive_mutex> inner(*m);  // the owner locks it again
      unsafe_increment(*counter);
      if (m->try_lock()) {  // and again, without waiting
        nested_try->fetch_add(1);
        m->unlock();
      }
    }
  });
  if (std::string lost = lost_updates(*counter, rounds); !lost.empty()) return lost;

  // A recursive_timed_mutex held by another thread times out; free, it nests.
  auto timed = F::template make_shared<typename F::recursive_timed_mutex>();
  auto let_go = hold_on_another_thread<F>(timed, 2);
  const bool while_held = timed->try_lock_for(20ms);
  let_go();
  const bool after = timed->try_lock_for(10s);
  const bool nested = after && timed->try_lock_until(std::chrono::steady_clock::now() + 10s);
  if (nested) timed->unlock();
  if (after) timed->unlock();
  const bool free_at_end = timed->try_lock();
  if (free_at_end) timed->unlock();
  return "counter " + std::to_string(counter->load()) + ", nested try_lock " + std::to_string(nested_try->load()) +
         ", timed while held: " + (while_held ? "acquired" : "timed out") + ", after: " + (after ? "acquired" : "timed out") +
         ", nested: " + (nested ? "yes" : "no") + ", free at the end: " + (free_at_end ? "yes" : "no");
}

template <class F>
std::string shared_timed_mutex_times_out() {
  auto m = F::template make_shared<typename F::shared_timed_mutex>();
  auto readers_in = F::template make_shared<typename F::template atomic<int>>(0);
  auto most_readers = F::template make_shared<typename F::template atomic<int>>(0);
  // Readers on every node share it (with timed locks); each waits until all four are in.
  std::vector<typename F::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.push_back(F::spawn(i, [m, readers_in, most_readers] {
      if (!m->try_lock_shared_for(10s)) return;
      const int in = readers_in->fetch_add(1) + 1;
      int seen = most_readers->load();
      while (in > seen && !most_readers->compare_exchange_strong(seen, in)) {
      }
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (readers_in->load() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
      m->unlock_shared();
    }));
  }
  for (auto& t : readers) t.join();
  // A writer elsewhere keeps both timed locks out until it lets go.
  auto let_go = hold_on_another_thread<F>(m);
  const bool shared_while_held = m->try_lock_shared_for(20ms);
  const bool exclusive_while_held = m->try_lock_until(std::chrono::steady_clock::now() + 20ms);
  let_go();
  const bool shared_after = m->try_lock_shared_until(std::chrono::steady_clock::now() + 10s);
  if (shared_after) m->unlock_shared();
  const bool exclusive_after = m->try_lock_for(10s);
  if (exclusive_after) m->unlock();
  return "readers together " + std::to_string(most_readers->load()) + ", while a writer holds it: shared " +
         (shared_while_held ? "acquired" : "timed out") + ", exclusive " + (exclusive_while_held ? "acquired" : "timed out") +
         "; after: shared " + (shared_after ? "acquired" : "timed out") + ", exclusive " +
         (exclusive_after ? "acquired" : "timed out");
}

// --- waiting -----------------------------------------------------------------------------------

template <class F>
std::string condition_variable_ping_pong() {
  constexpr long exchanges = 50;
  auto m = F::template make_shared<typename F::mutex>();
  auto cv = F::template make_shared<typename F::condition_variable>();
  auto turn = F::template make_shared<typename F::template atomic<long>>(0);  // even: main's, odd: the other's
  auto other = F::spawn(3, [m, cv, turn] {
    for (long i = 0; i < exchanges; ++i) {
      std::unique_lock<typename F::mutex> hold(*m);
      cv->wait(hold, [&] { return turn->load() % 2 == 1; });
      turn->fetch_add(1);
      cv->notify_all();
    }
  });
  for (long i = 0; i < exchanges; ++i) {
    std::unique_lock<typename F::mutex> hold(*m);
    turn->fetch_add(1);
    cv->notify_all();
    cv->wait(hold, [&] { return turn->load() % 2 == 0; });
  }
  other.join();
  std::unique_lock<typename F::mutex> hold(*m);
  const bool woke = cv->wait_for(hold, 20ms, [] { return false; });
  const std::cv_status status = cv->wait_for(hold, 5ms);
  return "turns " + std::to_string(turn->load()) + ", wait_for a false predicate returns " + (woke ? "true" : "false") +
         ", wait_for with nobody notifying: " + (status == std::cv_status::timeout ? "timeout" : "no_timeout");
}

template <class F>
std::string atomic_operations() {
  auto value = F::template make_shared<typename F::template atomic<long>>(10);
  auto winners = F::template make_shared<typename F::template atomic<int>>(0);
  std::vector<typename F::thread> threads;
  for (int i = 0; i < thread_count; ++i) {
    threads.push_back(F::spawn(i, [value, winners] {
      for (int r = 0; r < 100; ++r) value->fetch_add(2);
      long expected = -1;
      if (value->compare_exchange_strong(expected, 0)) winners->fetch_add(1);  // never: the value is never -1
    }));
  }
  for (auto& t : threads) t.join();
  const long before = value->exchange(5);
  long expected = 5;
  const bool swapped = value->compare_exchange_strong(expected, 6);
  long wrong = 100;
  const bool not_swapped = !value->compare_exchange_strong(wrong, 7);
  value->fetch_sub(1);
  (*value)++;
  *value += 4;
  return "after fetch_add " + std::to_string(before) + ", cas " + (swapped ? "swapped" : "failed") + ", failed cas loads " +
         std::to_string(wrong) + (not_swapped ? "" : " (swapped!)") + ", final " + std::to_string(value->load()) +
         ", cas winners " + std::to_string(winners->load());
}

template <class F>
std::string floating_point_atomics() {
  constexpr int rounds = 50;
  auto sum = F::template make_shared<typename F::template atomic<double>>(0.0);
  auto scale = F::template make_shared<typename F::template atomic<float>>(1.0f);
  on_every_thread<F>([sum, scale](int i) {
    for (int r = 0; r < rounds; ++r) {
      sum->fetch_add(0.5);  // exact in binary: no rounding to differ by order
      *sum -= 0.25;
    }
    if (i == 0) scale->store(2.5f);
  });
  double one = 1.0;
  auto value = F::template make_shared<typename F::template atomic<double>>(1.0);
  const bool swapped = value->compare_exchange_strong(one, -0.0);
  double positive_zero = 0.0;
  const bool zero_signs_differ = !value->compare_exchange_strong(positive_zero, 3.0);  // -0.0 is not +0.0's bits
  const double before = value->exchange(4.0);
  return "sum " + std::to_string(sum->load()) + ", float " + std::to_string(scale->load()) + ", cas " +
         (swapped ? "swapped" : "failed") + ", -0.0 against +0.0 " + (zero_signs_differ ? "differs" : "equal") +
         ", exchange gave " + std::to_string(before) + ", now " + std::to_string(value->load());
}

template <class F>
std::string latch_counts_down() {
  auto done = F::template make_shared<typename F::latch>(thread_count);
  auto arrived = F::template make_shared<typename F::template atomic<int>>(0);
  std::vector<typename F::thread> threads;
  for (int i = 0; i < thread_count; ++i) {
    threads.push_back(F::spawn(i, [done, arrived] {
      arrived->fetch_add(1);
      done->count_down();
    }));
  }
  done->wait();
  const int seen = arrived->load();
  const bool ready = done->try_wait();
  for (auto& t : threads) t.join();
  return "arrived before wait returned " + std::to_string(seen) + ", try_wait " + (ready ? "true" : "false");
}

template <class F>
std::string condition_variable_any_with_a_recursive_lock() {
  constexpr long items = 40;
  auto m = F::template make_shared<typename F::recursive_mutex>();
  auto cv = F::template make_shared<typename F::condition_variable_any>();
  auto queued = F::template make_shared<typename F::template atomic<long>>(0);
  auto taken = F::template make_shared<typename F::template atomic<long>>(0);
  auto consumer = F::spawn(2, [m, cv, queued, taken] {
    for (long i = 0; i < items; ++i) {
      std::unique_lock<typename F::recursive_mutex> hold(*m);
      cv->wait(hold, [&] { return queued->load() > taken->load(); });
      taken->fetch_add(1);
      cv->notify_all();
    }
  });
  for (long i = 0; i < items; ++i) {
    std::unique_lock<typename F::recursive_mutex> hold(*m);
    cv->wait(hold, [&] { return queued->load() == taken->load(); });  // one item at a time
    queued->fetch_add(1);
    cv->notify_one();
  }
  consumer.join();
  std::unique_lock<typename F::recursive_mutex> hold(*m);
  const bool woke = cv->wait_for(hold, 20ms, [] { return false; });
  const std::cv_status status = cv->wait_until(hold, std::chrono::steady_clock::now() + 5ms);
  // The lock is held again after the waits: a nested lock by the same thread succeeds at once.
  const bool relocked = m->try_lock();
  if (relocked) m->unlock();
  return "taken " + std::to_string(taken->load()) + ", wait_for a false predicate returns " + (woke ? "true" : "false") +
         ", wait_until with nobody notifying: " + (status == std::cv_status::timeout ? "timeout" : "no_timeout") +
         ", held after the wait: " + (relocked ? "yes" : "no");
}

template <class F>
std::string semaphores() {
  // At most three holders at a time, from eight threads.
  constexpr int rounds = 20;
  auto slots = F::template make_shared<typename F::template counting_semaphore<3>>(3);
  auto inside = F::template make_shared<typename F::template atomic<int>>(0);
  auto too_many = F::template make_shared<typename F::template atomic<int>>(0);
  auto passes = F::template make_shared<typename F::template atomic<long>>(0);
  on_every_thread<F>([slots, inside, too_many, passes](int) {
    for (int r = 0; r < rounds; ++r) {
      slots->acquire();
      if (inside->fetch_add(1) + 1 > 3) too_many->fetch_add(1);
      std::this_thread::yield();
      inside->fetch_sub(1);
      passes->fetch_add(1);
      slots->release();
    }
  });
  if (std::string lost = lost_updates(*passes, rounds); !lost.empty()) return lost;
  if (too_many->load() != 0) return broken("more than three holders at once");

  // release(n) lets n waiters through.
  auto gate = F::template make_shared<typename F::template counting_semaphore<8>>(0);
  auto through = F::template make_shared<typename F::template atomic<int>>(0);
  std::vector<typename F::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(F::spawn(i, [gate, through] {
      gate->acquire();
      through->fetch_add(1);
    }));
  }
  std::this_thread::sleep_for(10ms);
  const int before = through->load();
  gate->release(4);
  for (auto& t : waiters) t.join();

  // A binary semaphore as a signal from another thread.
  auto signal = F::template make_shared<typename F::binary_semaphore>(0);
  const bool early = signal->try_acquire();
  const bool timed_out = !signal->try_acquire_for(20ms);
  auto sender = F::spawn(3, [signal] { signal->release(); });
  const bool signalled = signal->try_acquire_for(10s);
  sender.join();
  const bool again = signal->try_acquire_until(std::chrono::steady_clock::now() + 5ms);
  return "passes " + std::to_string(passes->load()) + ", through the gate before release " + std::to_string(before) +
         ", after " + std::to_string(through->load()) + ", max " + std::to_string(F::binary_semaphore::max()) +
         ", try_acquire at 0 " + (early ? "true" : "false") + ", try_acquire_for at 0 " + (timed_out ? "timed out" : "acquired") +
         ", after a release " + (signalled ? "acquired" : "timed out") + ", then " + (again ? "acquired" : "timed out");
}

template <class F>
std::string atomic_flag_as_a_lock() {
  constexpr int rounds = 50;
  auto busy = F::template make_shared<typename F::atomic_flag>();
  auto counter = F::template make_shared<typename F::template atomic<long>>(0);
  on_every_thread<F>([busy, counter](int) {
    for (int r = 0; r < rounds; ++r) {
      while (busy->test_and_set()) busy->wait(true);
      unsafe_increment(*counter);
      busy->clear();
      busy->notify_one();
    }
  });
  if (std::string lost = lost_updates(*counter, rounds); !lost.empty()) return lost;
  const bool clear_at_end = !busy->test();
  const bool first = busy->test_and_set();
  const bool second = busy->test_and_set();
  // A waiter on another thread wakes when the flag changes.
  busy->clear();
  auto woken = F::template make_shared<typename F::template atomic<int>>(0);
  auto waiter = F::spawn(2, [busy, woken] {
    busy->wait(false);
    woken->store(1);
  });
  std::this_thread::sleep_for(10ms);
  busy->test_and_set();
  busy->notify_all();
  waiter.join();
  return "counter " + std::to_string(counter->load()) + ", clear at the end " + (clear_at_end ? "yes" : "no") +
         ", test_and_set gives " + (first ? "true" : "false") + " then " + (second ? "true" : "false") + ", waiter woke " +
         (woken->load() == 1 ? "yes" : "no");
}

inline void phase_completed() noexcept {}

template <class F>
std::string barrier_phases() {
  constexpr int phases = 5;
  constexpr int parties = 4;
  using barrier_type = typename F::template barrier<void (*)() noexcept>;
  auto meet = F::template make_shared<barrier_type>(parties, &phase_completed);
  auto progress = F::template make_shared<typename F::template atomic<long>>(0);
  auto out_of_step = F::template make_shared<typename F::template atomic<int>>(0);
  std::vector<typename F::thread> threads;
  for (int i = 0; i < parties; ++i) {
    threads.push_back(F::spawn(i, [meet, progress, out_of_step] {
      for (int p = 0; p < phases; ++p) {
        progress->fetch_add(1);
        meet->arrive_and_wait();
        // Every party arrived for phase p before anyone passes it.
        if (progress->load() < long{parties} * (p + 1)) out_of_step->fetch_add(1);
        meet->arrive_and_wait();
      }
      meet->arrive_and_drop();
    }));
  }
  for (auto& t : threads) t.join();
  return "arrivals " + std::to_string(progress->load()) + ", passed a phase early " + std::to_string(out_of_step->load());
}

// Every case, in the order the app runs them.
template <class F>
std::vector<std::pair<std::string, std::function<std::string()>>> cases() {
  return {
      {"thread", threads_join_and_ids<F>},
      {"jthread", jthread_stop_token<F>},
      {"async", async_and_futures<F>},
      {"promise", promise_fulfilled_by_a_thread<F>},
      {"mutex", mutex_with_every_lock_type<F>},
      {"timed_mutex", timed_mutex_times_out<F>},
      {"recursive_mutex", recursive_mutex_nests<F>},
      {"shared_timed_mutex", shared_timed_mutex_times_out<F>},
      {"condition_variable", condition_variable_ping_pong<F>},
      {"condition_variable_any", condition_variable_any_with_a_recursive_lock<F>},
      {"semaphore", semaphores<F>},
      {"atomic_flag", atomic_flag_as_a_lock<F>},
      {"atomic", atomic_operations<F>},
      {"atomic<double>", floating_point_atomics<F>},
      {"latch", latch_counts_down<F>},
      {"barrier", barrier_phases<F>},
  };
}

}  // namespace conformance
