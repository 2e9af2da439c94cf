// drust's synchronisation types on a one-node runtime (every state homed here): std's semantics
// for mutex and timed_mutex with every std lock type, condition_variable (with and without a
// predicate, timed waits, notify_one and notify_all), atomic<T> for integers, bool and pointers
// (including wait/notify), latch and barrier with several threads (and a completion function),
// sync::mutex<T> (its data in the global heap), use through shared_ptr, objects made before the
// runtime started, the relocatable / interior_mutable traits, and destruction freeing the home
// state. Several nodes: tests/cluster/sync_test.cpp.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <drust/interior_mutable>
#include <drust/relocatable>
#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/barrier>
#include <drust/std/condition_variable>
#include <drust/std/latch>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/semaphore>
#include <drust/std/shared_mutex>

#include "sync/atomic_table.hpp"
#include <drust/std/sync>

#include "runtime/node_runtime.hpp"
#include "sync/sync_service.hpp"

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

// Made by a static initialiser, before the runtime started: a process-local mutex.
dstd::mutex early_mutex;

std::uint64_t states_now() { return drust::sync::sync_service::instance().counters().states.load(); }

template <class Work>
void on_threads(int count, Work work) {
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) threads.emplace_back(work, i);
  for (auto& thread : threads) thread.join();
}

struct counter_block {
  dstd::mutex m;
  long value = 0;
};

int completions = 0;  // only the completion step writes it, with every other thread blocked
void count_completion() noexcept { ++completions; }

}  // namespace

static_assert(drust::interior_mutable<dstd::mutex> && drust::interior_mutable<dstd::timed_mutex>);
static_assert(drust::interior_mutable<dstd::condition_variable> && drust::interior_mutable<dstd::atomic<long>>);
static_assert(drust::interior_mutable<dstd::latch> && drust::interior_mutable<dstd::barrier<>>);
static_assert(drust::interior_mutable<dstd::sync::mutex<long>>);
static_assert(drust::relocatable<dstd::mutex> && drust::relocatable<dstd::condition_variable>);
static_assert(drust::relocatable<dstd::atomic<int>> && drust::relocatable<dstd::latch>);
static_assert(drust::relocatable<dstd::barrier<>> && drust::relocatable<dstd::sync::mutex<long>>);
static_assert(drust::relocatable<counter_block>);  // an aggregate of them
static_assert(!std::is_copy_constructible_v<dstd::mutex> && !std::is_move_constructible_v<dstd::mutex>);
static_assert(sizeof(dstd::mutex) == 16 && sizeof(dstd::atomic<char>) == 16);
static_assert(drust::interior_mutable<dstd::shared_mutex> && drust::relocatable<dstd::shared_mutex>);
static_assert(!std::is_copy_constructible_v<dstd::shared_mutex> && sizeof(dstd::shared_mutex) == 16);
static_assert(drust::interior_mutable<dstd::recursive_mutex> && drust::relocatable<dstd::recursive_timed_mutex>);
static_assert(drust::interior_mutable<dstd::condition_variable_any> && drust::relocatable<dstd::condition_variable_any>);
static_assert(drust::interior_mutable<dstd::counting_semaphore<5>> && drust::relocatable<dstd::binary_semaphore>);
static_assert(drust::interior_mutable<dstd::atomic_flag> && drust::relocatable<dstd::atomic_flag>);
static_assert(drust::relocatable<dstd::shared_timed_mutex> && drust::interior_mutable<dstd::shared_timed_mutex>);
static_assert(drust::relocatable<dstd::atomic<double>> && drust::interior_mutable<dstd::atomic<float>>);
static_assert(dstd::binary_semaphore::max() == 1 && dstd::counting_semaphore<>::max() == PTRDIFF_MAX);

TEST_CASE("mutex: lock, try_lock, unlock and the std lock types") {
  dstd::mutex m;
  CHECK(m.home_node() == drust::node_id());
  m.lock();
  CHECK_FALSE(m.try_lock());
  m.unlock();
  CHECK(m.try_lock());
  m.unlock();
  {
    std::lock_guard hold(m);
    CHECK_FALSE(m.try_lock());
  }
  {
    std::unique_lock hold(m);
    CHECK(hold.owns_lock());
    hold.unlock();
    CHECK(hold.try_lock());
  }
  dstd::mutex other;
  {
    std::scoped_lock both(m, other);
    CHECK_FALSE(m.try_lock());
    CHECK_FALSE(other.try_lock());
  }
  CHECK(m.try_lock());
  m.unlock();
}

TEST_CASE("mutex: no lost update with 8 threads contending") {
  dstd::mutex m;
  long counter = 0;
  on_threads(8, [&](int) {
    for (int i = 0; i < 20000; ++i) {
      std::lock_guard hold(m);
      ++counter;
    }
  });
  CHECK(counter == 8 * 20000);
  CHECK(drust::sync::sync_service::instance().waiting() == 0);
}

TEST_CASE("shared_mutex: readers together, a writer alone, the std lock types, try_lock on both sides") {
  dstd::shared_mutex m;
  {
    std::shared_lock first(m);
    CHECK(m.try_lock_shared());  // readers share it
    CHECK_FALSE(m.try_lock());   // a writer does not get in
    m.unlock_shared();
  }
  {
    std::unique_lock writing(m);
    CHECK_FALSE(m.try_lock_shared());
    CHECK_FALSE(m.try_lock());
  }
  {
    std::lock_guard writing(m);
  }
  CHECK(m.try_lock());
  m.unlock();
  // Four readers hold it at the same moment: each waits (bounded) until all four are in.
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  on_threads(4, [&](int) {
    std::shared_lock reading(m);
    const int now = inside.fetch_add(1) + 1;
    for (auto until = std::chrono::steady_clock::now() + 2s; inside.load() < 4 && std::chrono::steady_clock::now() < until;) {
      std::this_thread::yield();
    }
    int seen = most.load();
    while (seen < std::max(now, inside.load()) && !most.compare_exchange_weak(seen, std::max(now, inside.load()))) {
    }
    inside.fetch_sub(1);
  });
  CHECK(most.load() == 4);
}

TEST_CASE("shared_mutex: writers and readers contending: readers never see a half-made write, no writer starves") {
  dstd::shared_mutex m;
  long first = 0, second = 0;  // equal whenever no writer holds the mutex
  std::atomic<long> torn{0};
  std::atomic<long> reads{0};
  std::atomic<bool> writers_done{false};
  std::thread reader_pool([&] {
    on_threads(4, [&](int) {
      while (!writers_done.load()) {
        std::shared_lock reading(m);
        if (first != second) torn.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  });
  on_threads(3, [&](int) {
    for (int i = 0; i < 3000; ++i) {
      std::unique_lock writing(m);
      ++first;
      std::this_thread::yield();
      ++second;
    }
  });
  writers_done.store(true);
  reader_pool.join();
  CHECK(torn.load() == 0);
  CHECK(first == 9000);
  CHECK(second == 9000);
  CHECK(reads.load() > 0);
  CHECK(drust::sync::sync_service::instance().waiting() == 0);
}

TEST_CASE("timed_mutex: contended locks and timed locks that give up lose no update and strand no waiter") {
  // Waiters on the home node are released to retry (src/sync/mutex_table.hpp); a timed waiter
  // that gives up around its wake must neither take the mutex twice nor leave others queued.
  dstd::timed_mutex m;
  long counter = 0;
  std::atomic<long> gave_up{0};
  on_threads(6, [&](int thread) {
    for (int i = 0; i < 3000; ++i) {
      if (thread % 2 == 0) {
        std::lock_guard hold(m);
        ++counter;
      } else if (m.try_lock_for(std::chrono::microseconds(i % 7))) {
        ++counter;
        m.unlock();
      } else {
        gave_up.fetch_add(1);
      }
    }
  });
  CHECK(counter + gave_up.load() == 6 * 3000);
  CHECK(drust::sync::sync_service::instance().waiting() == 0);
  CHECK(m.try_lock());  // free at the end: no waiter kept it
  m.unlock();
}

TEST_CASE("mutex made before the runtime started works in this process") {
  CHECK(early_mutex.home_node() == drust::detail::sync_process_local);
  long counter = 0;
  on_threads(4, [&](int) {
    for (int i = 0; i < 5000; ++i) {
      std::lock_guard hold(early_mutex);
      ++counter;
    }
  });
  CHECK(counter == 4 * 5000);
}

TEST_CASE("timed_mutex: try_lock_for and try_lock_until time out, and succeed once free") {
  dstd::timed_mutex m;
  m.lock();
  std::thread other([&] {
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(m.try_lock_for(20ms));
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
    CHECK_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 10ms));
    CHECK(m.try_lock_for(10s));  // the main thread unlocks meanwhile
    m.unlock();
  });
  std::this_thread::sleep_for(50ms);
  m.unlock();
  other.join();
  std::unique_lock hold(m, 1s);
  CHECK(hold.owns_lock());
}

TEST_CASE("mutex through a shared_ptr, as std code shares one") {
  auto m = dstd::make_shared<dstd::mutex>();
  std::lock_guard second(*m);
  CHECK_FALSE(m->try_lock());
}

TEST_CASE("condition_variable: producer and consumer, with and without a predicate") {
  dstd::mutex m;
  dstd::condition_variable ready;
  std::vector<int> queue;
  bool done = false;
  std::vector<int> taken;
  std::thread consumer([&] {
    std::unique_lock lock(m);
    while (true) {
      ready.wait(lock, [&] { return !queue.empty() || done; });
      if (queue.empty()) break;
      taken.push_back(queue.front());
      queue.erase(queue.begin());
    }
  });
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard hold(m);
      queue.push_back(i);
    }
    ready.notify_one();
  }
  {
    std::lock_guard hold(m);
    done = true;
  }
  ready.notify_all();
  consumer.join();
  REQUIRE(taken.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(taken[static_cast<std::size_t>(i)] == i);

  // Plain wait() in a loop, as std code also writes it.
  bool flag = false;
  std::thread waiter([&] {
    std::unique_lock lock(m);
    while (!flag) ready.wait(lock);
  });
  std::this_thread::sleep_for(10ms);
  {
    std::lock_guard hold(m);
    flag = true;
  }
  ready.notify_all();
  waiter.join();
}

TEST_CASE("condition_variable: timed waits") {
  dstd::mutex m;
  dstd::condition_variable cv;
  std::unique_lock lock(m);
  CHECK(cv.wait_for(lock, 10ms) == std::cv_status::timeout);
  CHECK(lock.owns_lock());
  CHECK(cv.wait_until(lock, std::chrono::steady_clock::now() + 5ms) == std::cv_status::timeout);
  CHECK_FALSE(cv.wait_for(lock, 5ms, [] { return false; }));
  CHECK(cv.wait_for(lock, 5ms, [] { return true; }));
  CHECK_FALSE(cv.wait_until(lock, std::chrono::system_clock::now() + 5ms, [] { return false; }));

  bool go = false;
  std::thread notifier([&] {
    std::this_thread::sleep_for(20ms);
    {
      std::lock_guard hold(m);
      go = true;
    }
    cv.notify_all();
  });
  CHECK(cv.wait_for(lock, 10s, [&] { return go; }));
  lock.unlock();
  notifier.join();
  CHECK(drust::sync::sync_service::instance().waiting() == 0);
}

TEST_CASE("condition_variable: notify_all wakes every waiter, notify_one one at a time") {
  dstd::mutex m;
  dstd::condition_variable cv;
  int generation = 0;
  std::atomic<int> woken{0};
  std::atomic<int> waiting{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      std::unique_lock lock(m);
      waiting.fetch_add(1);
      cv.wait(lock, [&] { return generation > 0; });
      woken.fetch_add(1);
    });
  }
  while (waiting.load() < 6) std::this_thread::sleep_for(1ms);
  {
    std::lock_guard hold(m);
    generation = 1;
  }
  cv.notify_all();
  for (auto& thread : threads) thread.join();
  CHECK(woken.load() == 6);
}

TEST_CASE("atomic: integer operations") {
  dstd::atomic<long> a(5);
  CHECK(a.is_lock_free());
  CHECK(a.load() == 5);
  a.store(7);
  CHECK(a == 7);
  CHECK(a.exchange(9) == 7);
  long expected = 1;
  CHECK_FALSE(a.compare_exchange_strong(expected, 2));
  CHECK(expected == 9);
  CHECK(a.compare_exchange_weak(expected, 2));
  CHECK(a.load() == 2);
  CHECK(a.fetch_add(3) == 2);
  CHECK(a.fetch_sub(1) == 5);
  CHECK(++a == 5);
  CHECK(a++ == 5);
  CHECK(--a == 5);
  CHECK((a += 10) == 15);
  CHECK((a -= 5) == 10);
  CHECK(a.fetch_and(0b1100) == 10);
  CHECK(a.fetch_or(0b0001) == 0b1000);
  CHECK(a.fetch_xor(0b1111) == 0b1001);
  CHECK(a.load() == 0b0110);
  CHECK((a |= 1) == 7);
  CHECK((a &= 3) == 3);
  CHECK((a ^= 1) == 2);
  a = -4;
  CHECK(a.load() == -4);

  dstd::atomic<std::int8_t> small(127);
  CHECK(small.fetch_add(1) == 127);
  CHECK(small.load() == -128);  // wraps as std::atomic's do
  dstd::atomic<unsigned short> medium(0);
  CHECK(medium.fetch_sub(1) == 0);
  CHECK(medium.load() == 65535);
  dstd::atomic<bool> flag(false);
  CHECK(flag.exchange(true) == false);
  CHECK(flag.load());
}

TEST_CASE("atomic: pointers move in elements") {
  long values[4] = {1, 2, 3, 4};
  dstd::atomic<long*> p(values);
  CHECK(p.fetch_add(2) == values);
  CHECK(p.load() == values + 2);
  CHECK(*(--p) == 2);
  CHECK((p += 2) == values + 3);
}

TEST_CASE("atomic: fetch_add from 8 threads loses nothing; wait and notify") {
  dstd::atomic<int> counter(0);
  on_threads(8, [&](int) {
    for (int i = 0; i < 10000; ++i) counter.fetch_add(1, std::memory_order_relaxed);
  });
  CHECK(counter.load() == 80000);

  dstd::atomic<int> state(0);
  std::thread waiter([&] {
    state.wait(0);
    CHECK(state.load() == 1);
  });
  std::this_thread::sleep_for(10ms);
  state.store(1);
  state.notify_all();
  waiter.join();
}

TEST_CASE("latch: count_down, try_wait, wait, arrive_and_wait from several threads") {
  dstd::latch done(4);
  CHECK_FALSE(done.try_wait());
  std::atomic<int> past{0};
  on_threads(4, [&](int) {
    done.arrive_and_wait();
    past.fetch_add(1);
  });
  CHECK(past.load() == 4);
  CHECK(done.try_wait());
  done.wait();

  dstd::latch two(2);
  two.count_down(2);
  CHECK(two.try_wait());
  CHECK_THROWS_AS(two.count_down(), std::system_error);  // below zero: std says undefined
  CHECK_THROWS_AS(dstd::latch(-1), std::invalid_argument);
  dstd::latch zero(0);
  CHECK(zero.try_wait());
}

TEST_CASE("barrier: phases with a completion function, arrive_and_drop") {
  completions = 0;
  constexpr int threads = 4;
  constexpr int phases = 50;
  dstd::barrier<void (*)() noexcept> meet(threads, &count_completion);
  std::atomic<int> in_phase[phases] = {};
  std::atomic<int> errors{0};
  on_threads(threads, [&](int) {
    for (int phase = 0; phase < phases; ++phase) {
      in_phase[phase].fetch_add(1);
      meet.arrive_and_wait();
      // Everyone arrived, and the completion ran, before anyone went on.
      if (in_phase[phase].load() != threads || completions < phase + 1) errors.fetch_add(1);
    }
  });
  CHECK(errors.load() == 0);
  CHECK(completions == phases);

  // A lambda completion, arrive + wait with tokens, and threads dropping out.
  int lambda_runs = 0;
  int* runs = &lambda_runs;
  dstd::barrier drop_out(3, [runs]() noexcept { ++*runs; });
  std::thread leaver([&] { drop_out.arrive_and_drop(); });
  std::thread stayer([&] {
    auto token = drop_out.arrive();
    drop_out.wait(std::move(token));
    drop_out.arrive_and_wait();  // the next phase expects 2
  });
  drop_out.arrive_and_wait();
  drop_out.arrive_and_wait();
  leaver.join();
  stayer.join();
  CHECK(lambda_runs == 2);
}

TEST_CASE("sync::mutex<T>: the data lives in the heap, lock gives access, try_lock, into_inner") {
  const auto live_before = drust::stats().live_objects;
  {
    dstd::sync::mutex<long> m(5);
    {
      auto guard = m.lock();
      CHECK(*guard == 5);
      *guard = 6;
      CHECK_FALSE(m.try_lock().has_value());
    }
    {
      auto maybe = m.try_lock();
      REQUIRE(maybe.has_value());
      CHECK(**maybe == 6);
      maybe->unlock();
      CHECK(maybe->get() == nullptr);
    }
    on_threads(8, [&](int) {
      for (int i = 0; i < 5000; ++i) ++*m.lock();
    });
    CHECK(*m.lock() == 6 + 8 * 5000);
    CHECK(std::move(m).into_inner() == 6 + 8 * 5000);

    struct pair_of {
      int first;
      int second;
    };
    auto shared = dstd::make_shared<dstd::sync::mutex<pair_of>>(pair_of{1, 2});
    {
      auto guard = shared->lock();
      guard->second = 7;
    }
    CHECK(shared->lock()->second == 7);
  }
  CHECK(drust::stats().live_objects == live_before);
}

TEST_CASE("destruction frees the home's state") {
  const auto before = states_now();
  {
    dstd::mutex m;
    dstd::timed_mutex t;
    dstd::condition_variable cv;
    dstd::atomic<int> a;
    dstd::latch l(1);
    dstd::barrier<> b(1);
    dstd::sync::mutex<int> data(0);
    dstd::shared_mutex s;
    CHECK(states_now() == before + 8);
  }
  CHECK(states_now() == before);
}

TEST_CASE("the home's atomic operations (what a remote node asks for) on every width") {
  // sync_service runs these for other nodes; a node's own threads take the inline fast path
  // instead, so only this test runs them in one process. Each read-modify-write must store its
  // result and return the value before it.
  drust::sync::atomic_state state;
  using drust::detail::atomic_op;
  for (unsigned width : {1u, 2u, 4u, 8u}) {
    CAPTURE(width);
    bool success = false;
    auto apply = [&](atomic_op op, std::uint64_t a, std::uint64_t b = 0) {
      return drust::sync::atomic_table::apply(state, op, width, a, b, success);
    };
    apply(atomic_op::store, 0b0101);
    CHECK(apply(atomic_op::fetch_or, 0b0010) == 0b0101);
    CHECK(apply(atomic_op::load, 0) == 0b0111);
    CHECK(apply(atomic_op::fetch_and, 0b0110) == 0b0111);
    CHECK(apply(atomic_op::load, 0) == 0b0110);
    CHECK(apply(atomic_op::fetch_xor, 0b0011) == 0b0110);
    CHECK(apply(atomic_op::load, 0) == 0b0101);
    CHECK(apply(atomic_op::fetch_add, 10) == 0b0101);
    CHECK(apply(atomic_op::fetch_sub, 3) == 15);
    CHECK(apply(atomic_op::exchange, 42) == 12);
    CHECK(apply(atomic_op::compare_exchange, 41, 7) == 42);
    CHECK_FALSE(success);
    CHECK(apply(atomic_op::compare_exchange, 42, 7) == 42);
    CHECK(success);
    CHECK(apply(atomic_op::load, 0) == 7);
  }
}

TEST_CASE("recursive_mutex: the owner nests, another thread waits, misuse is reported") {
  dstd::recursive_mutex m;
  m.lock();
  CHECK(m.try_lock());  // the owner, again
  {
    std::lock_guard<dstd::recursive_mutex> third(m);
  }
  std::atomic<int> other_got{-1};
  std::thread other([&] { other_got = m.try_lock() ? 1 : 0; });
  other.join();
  CHECK(other_got == 0);  // held twice by this thread
  m.unlock();
  std::thread still([&] { other_got = m.try_lock() ? 1 : 0; });
  still.join();
  CHECK(other_got == 0);  // held once
  m.unlock();
  std::thread free_now([&] {
    other_got = m.try_lock() ? 1 : 0;
    if (other_got == 1) m.unlock();
  });
  free_now.join();
  CHECK(other_got == 1);
  // Unlocking a mutex the thread does not hold: std leaves it undefined, drust says so.
  CHECK_THROWS_AS(m.unlock(), std::system_error);

  // Two recursive mutexes held at once, released in either order, are counted apart.
  dstd::recursive_timed_mutex a;
  dstd::recursive_mutex b;
  a.lock();
  b.lock();
  CHECK(a.try_lock_for(1ms));
  a.unlock();
  a.unlock();
  std::thread check([&] {
    other_got = a.try_lock() ? 1 : 0;
    if (other_got == 1) a.unlock();
  });
  check.join();
  CHECK(other_got == 1);
  b.unlock();
}

TEST_CASE("recursive_mutex: no lost update with 8 threads nesting") {
  dstd::recursive_mutex m;
  long value = 0;
  on_threads(8, [&](int) {
    for (int i = 0; i < 2000; ++i) {
      std::scoped_lock outer(m);
      std::scoped_lock inner(m);
      ++value;
    }
  });
  CHECK(value == 16000);
}

TEST_CASE("condition_variable_any: waits with a shared_lock and with a program's own lock type") {
  dstd::shared_mutex rw;
  dstd::condition_variable_any cv;
  dstd::atomic<int> stage{0};
  std::thread producer([&] {
    std::this_thread::sleep_for(5ms);
    {
      std::unique_lock writing(rw);
      stage = 1;
    }
    cv.notify_all();
  });
  {
    std::shared_lock reading(rw);
    cv.wait(reading, [&] { return stage.load() == 1; });
    CHECK(reading.owns_lock());
  }
  producer.join();

  // Any BasicLockable: here a lock that counts its calls.
  struct counting_lock {
    dstd::mutex& m;
    int locks = 0;
    int unlocks = 0;
    void lock() {
      m.lock();
      ++locks;
    }
    void unlock() {
      ++unlocks;
      m.unlock();
    }
  };
  dstd::mutex plain;
  counting_lock own{plain};
  own.lock();
  CHECK_FALSE(cv.wait_for(own, 2ms, [] { return false; }));
  CHECK(cv.wait_until(own, std::chrono::steady_clock::now() + 1ms) == std::cv_status::timeout);
  CHECK(own.unlocks >= 2);
  CHECK(own.locks == own.unlocks + 1);  // held again after every wait
  own.unlock();
}

TEST_CASE("counting_semaphore and binary_semaphore: counts, waits, and misuse") {
  dstd::counting_semaphore<4> slots(2);
  CHECK(slots.try_acquire());
  CHECK(slots.try_acquire());
  CHECK_FALSE(slots.try_acquire());
  CHECK_FALSE(slots.try_acquire_for(2ms));
  slots.release(4);
  CHECK_THROWS_AS(slots.release(), std::invalid_argument);  // past max() = 4
  CHECK_THROWS_AS(slots.release(-1), std::invalid_argument);
  for (int i = 0; i < 4; ++i) CHECK(slots.try_acquire());
  CHECK_FALSE(slots.try_acquire());
  CHECK_THROWS_AS(dstd::binary_semaphore(2), std::invalid_argument);
  CHECK_THROWS_AS(dstd::counting_semaphore<>(-1), std::invalid_argument);

  // acquire() blocks until a release from another thread; release(n) wakes n waiters.
  dstd::counting_semaphore<> gate(0);
  std::atomic<int> through{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      gate.acquire();
      ++through;
    });
  }
  std::this_thread::sleep_for(5ms);
  CHECK(through == 0);
  gate.release(3);
  for (auto& t : waiters) t.join();
  CHECK(through == 3);
  CHECK_FALSE(gate.try_acquire());
}

TEST_CASE("atomic_flag: test, test_and_set, clear, wait and notify") {
  dstd::atomic_flag flag;
  CHECK_FALSE(flag.test());
  CHECK_FALSE(flag.test_and_set());
  CHECK(flag.test_and_set());
  CHECK(flag.test());
  std::atomic<int> woke{0};
  std::thread waiter([&] {
    flag.wait(true);  // until cleared
    woke = 1;
  });
  std::this_thread::sleep_for(5ms);
  CHECK(woke == 0);
  flag.clear();
  flag.notify_one();
  waiter.join();
  CHECK(woke == 1);
  CHECK_FALSE(flag.test());
}

TEST_CASE("atomic<double> and atomic<float>: load, store, exchange, compare-exchange, fetch_add from 8 threads") {
  dstd::atomic<double> sum{0.0};
  on_threads(8, [&](int) {
    for (int i = 0; i < 1000; ++i) sum.fetch_add(0.5);  // exact in binary
  });
  CHECK(sum.load() == 4000.0);
  CHECK(sum.fetch_sub(1000.0) == 4000.0);
  CHECK((sum -= 0.5) == 2999.5);
  CHECK((sum += 0.25) == 2999.75);
  dstd::atomic<float> f{1.5f};
  CHECK(f.exchange(-2.25f) == 1.5f);
  float expected = 0.0f;
  CHECK_FALSE(f.compare_exchange_strong(expected, 7.0f));
  CHECK(expected == -2.25f);
  CHECK(f.compare_exchange_weak(expected, 7.0f));
  CHECK(f.load() == 7.0f);
  // wait returns once the value changes; a notify from another thread wakes it.
  std::thread changer([&] {
    std::this_thread::sleep_for(2ms);
    f.store(8.0f);
    f.notify_all();
  });
  f.wait(7.0f);
  CHECK(f.load() == 8.0f);
  changer.join();
}

TEST_CASE("shared_timed_mutex: timed locks on both sides time out while a writer holds it, and succeed once free") {
  dstd::shared_timed_mutex m;
  CHECK(m.try_lock_shared_for(1ms));
  CHECK(m.try_lock_shared_until(std::chrono::system_clock::now() + 1ms));  // readers share it
  std::atomic<int> writer_got{-1};
  std::thread writer([&] { writer_got = m.try_lock_for(3ms) ? 1 : 0; });
  writer.join();
  CHECK(writer_got == 0);
  m.unlock_shared();
  m.unlock_shared();
  m.lock();
  std::atomic<int> reader_got{-1};
  std::thread reader([&] {
    const auto started = std::chrono::steady_clock::now();
    reader_got = m.try_lock_shared_for(5ms) ? 1 : 0;
    CHECK(std::chrono::steady_clock::now() - started >= 5ms);
  });
  reader.join();
  CHECK(reader_got == 0);
  std::thread late_reader([&] {
    reader_got = m.try_lock_shared_for(10s) ? 1 : 0;
    if (reader_got == 1) m.unlock_shared();
  });
  std::this_thread::sleep_for(3ms);
  m.unlock();
  late_reader.join();
  CHECK(reader_got == 1);
  CHECK(m.try_lock_until(std::chrono::steady_clock::now() + 1ms));
  m.unlock();
}

