// Internal: the boundary between drust's synchronisation types (<drust/std/mutex>,
// <drust/std/condition_variable>, <drust/std/atomic>, <drust/std/latch>, <drust/std/barrier>,
// <drust/std/sync>) and the runtime's sync service (src/sync, docs/design/sync.md).
//
// Every synchronisation object is a *handle*: the node that keeps its state (its *home*) and the
// address of that state there. The handle's bytes never change after construction, so a handle
// may sit in a global-heap object, be read from a cached copy on another node, or move by
// copying its bytes. Operations on a state homed on this node touch it directly (the fast paths
// below are inline); the others are calls into libdrust, which sends active messages to the home.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>

#include <drust/detail/heap.hpp>

namespace drust::detail {

// The home of a synchronisation object made before the runtime started (a global constructed by
// a static initialiser): this process only. Such an object is never shipped (globals are per node).
inline constexpr int sync_process_local = -2;

// This process's node once the runtime has started; sync_process_local before.
extern int sync_node;

enum class sync_kind : ::std::uint32_t { mutex = 1, condition = 2, atomic = 3, latch = 4, barrier = 5, shared_mutex = 6 };

struct sync_handle {
  ::std::int32_t home = sync_process_local;
  sync_kind kind = sync_kind::mutex;
  ::std::uint64_t state = 0;  // the state's address at its home (node-local memory there)

  // Whether the state is in this process, so that the fast paths may touch it.
  bool is_local() const noexcept { return home == sync_node || home == sync_process_local; }
};
static_assert(::std::is_trivially_copyable_v<sync_handle> && sizeof(sync_handle) == 16);

// A new state of `kind` homed on this node. `initial`: a mutex's data word (sync::mutex<T>), an
// atomic's bits, a latch's count, a barrier's expected count. Never sends a message.
sync_handle sync_create(sync_kind kind, ::std::uint64_t initial);
// Frees the state at its home (one one-way message when it is elsewhere; nothing once this node's
// part of the job is over). Waiters still queued there get an error.
void sync_destroy(const sync_handle& handle) noexcept;

// Steady-clock deadlines cross the boundary as nanoseconds since the clock's epoch.
using sync_deadline = ::std::int64_t;
inline constexpr sync_deadline no_deadline = INT64_MAX;
template <class Clock, class Duration>
sync_deadline to_sync_deadline(const ::std::chrono::time_point<Clock, Duration>& time) {
  using ::std::chrono::steady_clock;
  steady_clock::time_point steady;
  if constexpr (::std::is_same_v<Clock, steady_clock>) {
    steady = ::std::chrono::time_point_cast<steady_clock::duration>(time);
  } else {
    const auto left = time - Clock::now();
    steady = steady_clock::now() + ::std::chrono::ceil<steady_clock::duration>(left);
  }
  return ::std::chrono::duration_cast<::std::chrono::nanoseconds>(steady.time_since_epoch()).count();
}
template <class Rep, class Period>
sync_deadline to_sync_deadline(const ::std::chrono::duration<Rep, Period>& timeout) {
  using ::std::chrono::steady_clock;
  if (timeout <= timeout.zero()) return to_sync_deadline(steady_clock::now());
  const auto now = steady_clock::now();
  if (timeout >= ::std::chrono::duration<Rep, Period>::max() / 2) return no_deadline;
  return to_sync_deadline(now + ::std::chrono::ceil<steady_clock::duration>(timeout));
}

// The timed waits of the types whose home keeps no deadline for them (counting_semaphore,
// shared_timed_mutex): tries `attempt()` until it succeeds or `time` passes, sleeping between tries
// for 50 us, doubling up to 1 ms and never past the deadline. So such a wait may return up to 1 ms
// after the moment it could have succeeded.
// The steady-clock time `timeout` from now (rounded up): what the timed waits of a duration wait for.
template <class Rep, class Period>
::std::chrono::steady_clock::time_point steady_deadline(const ::std::chrono::duration<Rep, Period>& timeout) {
  return ::std::chrono::steady_clock::now() + ::std::chrono::ceil<::std::chrono::steady_clock::duration>(timeout);
}

template <class Clock, class Duration, class Attempt>
bool retry_until(const ::std::chrono::time_point<Clock, Duration>& time, Attempt&& attempt) {
  auto pause = ::std::chrono::nanoseconds(50'000);
  while (true) {
    if (attempt()) return true;
    const auto now = Clock::now();
    if (now >= time) return false;
    ::std::this_thread::sleep_for(::std::min(pause, ::std::chrono::ceil<::std::chrono::nanoseconds>(time - now)));
    pause = ::std::min(pause * 2, ::std::chrono::nanoseconds(1'000'000));
  }
}

// ---- mutex ----------------------------------------------------------------------------------

// The start of a mutex's state at its home. `word`: 0 free, 1 held, 2 held with waiters queued
// at the home (the holder's unlock then hands the mutex to the first of them). `leased`: nonzero
// while another node holds the mutex leased (docs/design/sync.md, "Leases"): the word says held,
// yet a try_lock must ask the leaseholder. `data`: the word of a sync::mutex<T>'s object while
// nobody holds it.
struct mutex_core {
  ::std::atomic<::std::uint32_t> word{0};
  ::std::atomic<::std::uint32_t> leased{0};
  global_word data = 0;
};

inline mutex_core* local_mutex(const sync_handle& handle) noexcept {
  return reinterpret_cast<mutex_core*>(static_cast<::std::uintptr_t>(handle.state));
}
// Uncontended lock and unlock of a mutex homed here: one atomic each, as std::mutex.
inline bool mutex_try_lock_fast(mutex_core* core) noexcept {
  ::std::uint32_t expected = 0;
  return core->word.compare_exchange_strong(expected, 1, ::std::memory_order_acquire, ::std::memory_order_relaxed);
}
inline bool mutex_unlock_fast(mutex_core* core) noexcept {
  ::std::uint32_t expected = 1;
  return core->word.compare_exchange_strong(expected, 0, ::std::memory_order_release, ::std::memory_order_relaxed);
}

// A try_lock of a mutex homed here whose fast path failed must ask the library only when the
// mutex is leased to another node (then it may be free there).
inline bool mutex_leased(const mutex_core* core) noexcept { return core->leased.load(::std::memory_order_acquire) != 0; }

// The slow paths (a contended mutex homed here, or any mutex homed elsewhere); each returns or
// takes the data word. Blocking calls throw std::system_error naming the node when the home fails.
global_word mutex_lock(const sync_handle& handle);
bool mutex_try_lock(const sync_handle& handle, global_word& data);
bool mutex_lock_until(const sync_handle& handle, sync_deadline deadline, global_word& data);
void mutex_unlock(const sync_handle& handle, global_word data) noexcept;

// ---- shared_mutex ---------------------------------------------------------------------------

// The start of a shared_mutex's state at its home: one word with the writer bit, the waiting bit
// (threads are queued at the home: lockers and unlockers must take the slow path, which hands the
// mutex over in queue order) and the count of readers in the low bits.
struct shared_mutex_core {
  static constexpr ::std::uint32_t writer = 1u << 31;
  static constexpr ::std::uint32_t waiting = 1u << 30;
  static constexpr ::std::uint32_t readers = waiting - 1;
  ::std::atomic<::std::uint32_t> word{0};
};

inline shared_mutex_core* local_shared_mutex(const sync_handle& handle) noexcept {
  return reinterpret_cast<shared_mutex_core*>(static_cast<::std::uintptr_t>(handle.state));
}
// The uncontended paths of a shared_mutex homed here: one atomic each, as for a std::shared_mutex.
inline bool shared_mutex_lock_fast(shared_mutex_core* core) noexcept {
  ::std::uint32_t expected = 0;
  return core->word.compare_exchange_strong(expected, shared_mutex_core::writer, ::std::memory_order_acquire,
                                            ::std::memory_order_relaxed);
}
inline bool shared_mutex_unlock_fast(shared_mutex_core* core) noexcept {
  ::std::uint32_t expected = shared_mutex_core::writer;
  return core->word.compare_exchange_strong(expected, 0, ::std::memory_order_release, ::std::memory_order_relaxed);
}
// A reader gets in while there is no writer and nobody queued (a queued writer goes first).
inline bool shared_mutex_lock_shared_fast(shared_mutex_core* core) noexcept {
  ::std::uint32_t word = core->word.load(::std::memory_order_relaxed);
  while ((word & (shared_mutex_core::writer | shared_mutex_core::waiting)) == 0 &&
         (word & shared_mutex_core::readers) != shared_mutex_core::readers) {
    if (core->word.compare_exchange_weak(word, word + 1, ::std::memory_order_acquire, ::std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}
inline bool shared_mutex_unlock_shared_fast(shared_mutex_core* core) noexcept {
  ::std::uint32_t word = core->word.load(::std::memory_order_relaxed);
  while ((word & shared_mutex_core::waiting) == 0) {
    if (core->word.compare_exchange_weak(word, word - 1, ::std::memory_order_release, ::std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}
// The slow paths (`shared`: the reader side). Blocking calls throw std::system_error naming the
// node when the home fails.
void shared_mutex_lock(const sync_handle& handle, bool shared);
bool shared_mutex_try_lock(const sync_handle& handle, bool shared);
void shared_mutex_unlock(const sync_handle& handle, bool shared) noexcept;

// ---- condition_variable ---------------------------------------------------------------------

// Registers the calling thread as a waiter at the condition's home (before the caller releases
// its mutex: no wake-up is lost); returns the waiter's ticket.
::std::uint64_t condition_enter(const sync_handle& handle);
// Waits for a notification of the ticket's registration until `deadline`; true when notified.
// The registration is gone afterwards, either way.
bool condition_wait(const sync_handle& handle, ::std::uint64_t ticket, sync_deadline deadline);
void condition_notify(const sync_handle& handle, bool all) noexcept;

// ---- atomic ---------------------------------------------------------------------------------

enum class atomic_op : ::std::uint32_t {
  load,
  store,
  exchange,
  compare_exchange,
  fetch_add,
  fetch_sub,
  fetch_and,
  fetch_or,
  fetch_xor,
};

// An atomic's state at its home: the value's bits (in the low bytes: values are little-endian;
// bytes, so that every width may use them), then how many remote waiters it has (a local notify
// asks the library to wake them only when there are some).
struct atomic_core {
  alignas(8) unsigned char storage[8] = {};
  ::std::atomic<::std::uint32_t> remote_waiters{0};
};

inline atomic_core* local_atomic(const sync_handle& handle) noexcept {
  return reinterpret_cast<atomic_core*>(static_cast<::std::uintptr_t>(handle.state));
}

// The unsigned integer of T's size: atomics of every type are kept as these bits.
template <::std::size_t Size>
struct bits_of_size;
template <>
struct bits_of_size<1> {
  using type = ::std::uint8_t;
};
template <>
struct bits_of_size<2> {
  using type = ::std::uint16_t;
};
template <>
struct bits_of_size<4> {
  using type = ::std::uint32_t;
};
template <>
struct bits_of_size<8> {
  using type = ::std::uint64_t;
};

// Replaces the value by combine(value) atomically; returns the value before.
template <class U, class Combine>
U fetch_combine(::std::atomic_ref<U> value, ::std::memory_order order, Combine combine) noexcept {
  U old = value.load(::std::memory_order_relaxed);
  while (!value.compare_exchange_weak(old, combine(old), order, ::std::memory_order_relaxed)) {
  }
  return old;
}

// One operation on the bits at `storage` (the home's copy). For compare_exchange, `a` is the
// expected value and `b` the desired one; `success` says whether it was stored. Returns the
// value before the operation. Used by the fast paths and by the home serving other nodes.
template <class U>
U atomic_apply(U* storage, atomic_op op, U a, U b, bool& success, ::std::memory_order order) noexcept {
  ::std::atomic_ref<U> value(*storage);
  success = true;
  switch (op) {
    case atomic_op::load:
      return value.load(order == ::std::memory_order_release || order == ::std::memory_order_acq_rel
                            ? ::std::memory_order_seq_cst
                            : order);
    case atomic_op::store: {
      value.store(a, order == ::std::memory_order_acquire || order == ::std::memory_order_consume ||
                             order == ::std::memory_order_acq_rel
                         ? ::std::memory_order_seq_cst
                         : order);
      return a;
    }
    case atomic_op::exchange:
      return value.exchange(a, order);
    case atomic_op::compare_exchange: {
      U expected = a;
      success = value.compare_exchange_strong(expected, b, order, ::std::memory_order_seq_cst);
      return expected;
    }
    case atomic_op::fetch_add:
      return value.fetch_add(a, order);
    case atomic_op::fetch_sub:
      return value.fetch_sub(a, order);
    // The bitwise operations as compare-exchange loops, which is what x86 does for a
    // fetch_and/or/xor whose result is used anyway: gcc 12 at -O1 (the sanitizer builds) compiled
    // atomic_ref<U>::fetch_or here, with `op` not known, into a loop that stored the old value
    // unchanged for 4- and 8-byte U (tests/unit/sync_test.cpp, "the home's atomic operations").
    case atomic_op::fetch_and:
      return fetch_combine(value, order, [a](U old) { return static_cast<U>(old & a); });
    case atomic_op::fetch_or:
      return fetch_combine(value, order, [a](U old) { return static_cast<U>(old | a); });
    case atomic_op::fetch_xor:
      return fetch_combine(value, order, [a](U old) { return static_cast<U>(old ^ a); });
  }
  return U{};
}

// An operation on an atomic homed elsewhere: one round trip, performed there (sequentially
// consistent). `width`: the value's size in bytes.
::std::uint64_t atomic_remote(const sync_handle& handle, atomic_op op, unsigned width, ::std::uint64_t a,
                              ::std::uint64_t b, bool& success);
// Blocks while the value's bits equal `old` (remote home: registers at the home, woken by a notify).
void atomic_wait(const sync_handle& handle, unsigned width, ::std::uint64_t old);
// Wakes waiters at the home: one or all of the remote ones (a local notify wakes the local ones
// itself, through std::atomic_ref).
void atomic_notify(const sync_handle& handle, unsigned width, bool all) noexcept;

// ---- latch and barrier ----------------------------------------------------------------------

void latch_count_down(const sync_handle& handle, ::std::ptrdiff_t update);
bool latch_try_wait(const sync_handle& handle);
void latch_wait(const sync_handle& handle);

struct barrier_arrival {
  ::std::uint64_t phase = 0;  // the phase the arrival counts towards
  bool last = false;          // it completed the phase: run the completion, then barrier_complete
};
// `drop`: the arriving thread also leaves the barrier (arrive_and_drop).
barrier_arrival barrier_arrive(const sync_handle& handle, ::std::ptrdiff_t update, bool drop);
// The completion step of `phase` is done: the waiters of that phase go on.
void barrier_complete(const sync_handle& handle, ::std::uint64_t phase);
// Blocks until `phase` has completed.
void barrier_wait(const sync_handle& handle, ::std::uint64_t phase);

}  // namespace drust::detail
