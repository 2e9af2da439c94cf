// drust::std::shared_ptr, weak_ptr and make_shared on a one-node runtime: std's semantics (copies,
// moves, use_count, reset, conversions, weak_ptr lock/expired), every object destroyed and every
// block freed exactly once, const-only access (and non-const access for interior-mutable types),
// shared_ptrs stored in heap objects, and handles shipped to threads. Several nodes:
// tests/cluster/shared_test.cpp.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <drust/interior_mutable>
#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/thread>

#include "runtime/node_runtime.hpp"

namespace dstd = drust::std;

namespace {

std::atomic<long> destroyed{0};

// Counts its destructor runs; opts in to the heap (it has a destructor, so it is not trivially
// copyable, and moving its bytes is fine).
struct tracked {
  long value = 0;
  long other = 0;
  explicit tracked(long v, long o = 0) : value(v), other(o) {}
  ~tracked() { destroyed.fetch_add(1); }
  long sum() const { return value + other; }
  void bump() { ++value; }
};

struct point {
  int x;
  int y;
};

// Stands for a drust synchronisation type: its state would live at a home node.
struct fake_lockable {
  long handle = 0;
  void lock() { locks.fetch_add(1); }
  void unlock() { unlocks.fetch_add(1); }
  static inline std::atomic<long> locks{0};
  static inline std::atomic<long> unlocks{0};
};

// A heap object that holds shared_ptrs.
struct holder {
  dstd::shared_ptr<tracked> first;
  dstd::shared_ptr<tracked> second;
};

std::uint64_t live_objects() { return drust::stats().live_objects; }

}  // namespace

template <>
inline constexpr bool drust::enable_relocatable<tracked> = true;
template <>
inline constexpr bool drust::interior_mutable<fake_lockable> = true;

// Access is const only, except for interior-mutable types.
static_assert(std::is_same_v<decltype(*std::declval<dstd::shared_ptr<point>&>()), const point&>);
static_assert(std::is_same_v<decltype(std::declval<dstd::shared_ptr<point>&>().get()), const point*>);
static_assert(std::is_same_v<decltype(std::declval<dstd::shared_ptr<point>&>().operator->()), const point*>);
static_assert(std::is_same_v<decltype(*std::declval<dstd::shared_ptr<fake_lockable>&>()), fake_lockable&>);
static_assert(std::is_same_v<decltype(*std::declval<dstd::shared_ptr<const fake_lockable>&>()), const fake_lockable&>);
template <class P>
concept assigns_member = requires(P p) { p->x = 1; };
template <class P>
concept assigns_object = requires(P p) { *p = point{1, 2}; };
template <class P>
concept calls_bump = requires(P p) { p->bump(); };
template <class P>
concept calls_sum = requires(P p) { p->sum(); };
template <class P>
concept calls_lock = requires(P p) { p->lock(); };
static_assert(assigns_member<dstd::unique_ptr<point>> && !assigns_member<dstd::shared_ptr<point>>);
static_assert(assigns_object<dstd::unique_ptr<point>> && !assigns_object<dstd::shared_ptr<point>>);
static_assert(calls_bump<dstd::unique_ptr<tracked>> && !calls_bump<dstd::shared_ptr<tracked>>);
static_assert(calls_sum<dstd::shared_ptr<tracked>>);
static_assert(calls_lock<dstd::shared_ptr<fake_lockable>> && !calls_lock<dstd::shared_ptr<const fake_lockable>>);
// Conversions: to const, never from const.
static_assert(std::is_convertible_v<dstd::shared_ptr<point>, dstd::shared_ptr<const point>>);
static_assert(!std::is_convertible_v<dstd::shared_ptr<const point>, dstd::shared_ptr<point>>);
static_assert(std::is_convertible_v<dstd::unique_ptr<point>&&, dstd::shared_ptr<point>>);
static_assert(!std::is_copy_constructible_v<dstd::unique_ptr<point>>);
static_assert(std::is_nothrow_move_constructible_v<dstd::shared_ptr<point>>);
static_assert(std::is_nothrow_move_constructible_v<dstd::weak_ptr<point>>);
// Handles may be stored in heap objects and shipped to threads.
static_assert(drust::relocatable<dstd::shared_ptr<tracked>> && drust::relocatable<dstd::weak_ptr<tracked>>);
static_assert(drust::relocatable<holder>);
static_assert(drust::detail::shipped_handle<dstd::shared_ptr<tracked>>);
static_assert(drust::detail::shipped_handle<dstd::weak_ptr<tracked>>);

TEST_CASE("make_shared: reads, copies, moves, use_count, reset; destroyed and freed exactly once") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  {
    auto p = dstd::make_shared<tracked>(3, 4);
    REQUIRE(p);
    CHECK(p->value == 3);
    CHECK((*p).other == 4);
    CHECK(p->sum() == 7);
    CHECK(std::as_const(*p).sum() == 7);
    CHECK(p.get()->value == 3);
    CHECK(p.borrow()->value == 3);
    CHECK(p.is_local());
    CHECK(p.use_count() == 1);
    CHECK(live_objects() == live_before + 1);  // one block: control block and object

    dstd::shared_ptr<tracked> q = p;
    CHECK(q.get() == p.get());
    CHECK(q == p);
    CHECK(p.use_count() == 2);
    CHECK(q.use_count() == 2);
    {
      std::vector<dstd::shared_ptr<tracked>> copies(10, p);
      CHECK(p.use_count() == 12);
    }
    CHECK(p.use_count() == 2);

    dstd::shared_ptr<tracked> moved = std::move(q);
    CHECK_FALSE(q);
    CHECK(q.use_count() == 0);
    CHECK(q.get() == nullptr);
    CHECK(q == nullptr);
    CHECK(moved.use_count() == 2);

    moved.reset();
    CHECK_FALSE(moved);
    CHECK(p.use_count() == 1);
    CHECK(destroyed.load() == destroyed_before);

    dstd::shared_ptr<tracked> assigned;
    assigned = p;
    CHECK(p.use_count() == 2);
    assigned = dstd::shared_ptr<tracked>();
    CHECK(p.use_count() == 1);
    assigned = std::move(p);
    CHECK_FALSE(p);
    CHECK(assigned.use_count() == 1);
    assigned = nullptr;
    CHECK(destroyed.load() == destroyed_before + 1);
  }
  CHECK(destroyed.load() == destroyed_before + 1);
  CHECK(live_objects() == live_before);
}

TEST_CASE("make_shared<const T> and shared_ptr<const T>") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  {
    dstd::shared_ptr<const point> c = dstd::make_shared<const point>(1, 2);
    CHECK(c->x + c->y == 3);
    auto p = dstd::make_shared<tracked>(5);
    dstd::shared_ptr<const tracked> as_const = p;
    CHECK(as_const.use_count() == 2);
    CHECK(as_const->sum() == 5);
    CHECK(as_const == p);
    dstd::shared_ptr<const tracked> moved = std::move(p);
    CHECK(moved.use_count() == 2);
    as_const = moved;
    CHECK(moved.use_count() == 2);
  }
  CHECK(destroyed.load() == destroyed_before + 1);
  CHECK(live_objects() == live_before);
}

TEST_CASE("a shared_ptr from a unique_ptr&& shares the object where it is") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  {
    auto owner = dstd::make_unique<tracked>(9, 1);
    const drust::detail::global_word word = owner.word();
    dstd::shared_ptr<tracked> shared(std::move(owner));
    CHECK_FALSE(owner);
    CHECK(shared.word() == word);  // not copied: the same object, now shared
    CHECK(shared->sum() == 10);
    CHECK(shared.use_count() == 1);
    CHECK(live_objects() == live_before + 2);  // the object's block and a control block
    auto copy = shared;
    CHECK(copy.use_count() == 2);

    dstd::shared_ptr<const tracked> assigned;
    assigned = dstd::make_unique<tracked>(4);
    CHECK(assigned->value == 4);
    dstd::shared_ptr<tracked> from_empty(dstd::unique_ptr<tracked>{});
    CHECK_FALSE(from_empty);
  }
  CHECK(destroyed.load() == destroyed_before + 2);
  CHECK(live_objects() == live_before);
}

TEST_CASE("weak_ptr: lock, expired, use_count; the block lives until the last weak_ptr") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  dstd::weak_ptr<tracked> weak;
  CHECK(weak.expired());
  CHECK_FALSE(weak.lock());
  {
    auto p = dstd::make_shared<tracked>(7);
    weak = p;
    CHECK_FALSE(weak.expired());
    CHECK(weak.use_count() == 1);
    {
      dstd::shared_ptr<tracked> locked = weak.lock();
      REQUIRE(locked);
      CHECK(locked->value == 7);
      CHECK(p.use_count() == 2);
      dstd::shared_ptr<tracked> constructed(weak);
      CHECK(p.use_count() == 3);
    }
    dstd::weak_ptr<tracked> copy = weak;
    dstd::weak_ptr<const tracked> to_const = copy;
    CHECK(to_const.lock()->value == 7);
    CHECK_FALSE(weak.owner_before(p));
    CHECK_FALSE(p.owner_before(weak));
  }
  CHECK(destroyed.load() == destroyed_before + 1);
  CHECK(weak.expired());
  CHECK(weak.use_count() == 0);
  CHECK_FALSE(weak.lock());
  CHECK_THROWS_AS((void)dstd::shared_ptr<tracked>(weak), std::bad_weak_ptr);
  CHECK(live_objects() == live_before + 1);  // the weak_ptr keeps the control block
  weak.reset();
  CHECK(live_objects() == live_before);
}

TEST_CASE("shared_ptrs stored in heap objects are destroyed with them") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  {
    auto shared = dstd::make_shared<tracked>(1);
    auto box = dstd::make_unique<holder>(holder{shared, shared});
    CHECK(shared.use_count() == 3);
    CHECK(std::as_const(box)->first->value == 1);
    // A shared object that holds shared_ptrs: destroyed at its home, which releases them.
    auto outer = dstd::make_shared<holder>(holder{shared, dstd::make_shared<tracked>(2)});
    CHECK(shared.use_count() == 4);
    CHECK(outer->second->value == 2);
    dstd::shared_ptr<tracked> copied_out = outer->first;
    CHECK(shared.use_count() == 5);
    box.reset();
    CHECK(shared.use_count() == 3);
    outer.reset();
    CHECK(destroyed.load() == destroyed_before + 1);  // the second tracked
    CHECK(shared.use_count() == 2);
  }
  CHECK(destroyed.load() == destroyed_before + 2);
  CHECK(live_objects() == live_before);
}

TEST_CASE("copies and drops from many threads: destroyed exactly once, no message on one node") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  const drust::runtime_stats stats_before = drust::stats();
  {
    auto shared = dstd::make_shared<tracked>(11);
    dstd::weak_ptr<tracked> weak = shared;
    std::atomic<long> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([copy = shared, weak, t, &wrong]() mutable {
        for (int i = 0; i < 2000; ++i) {
          dstd::shared_ptr<tracked> a = copy;
          dstd::shared_ptr<tracked> b = weak.lock();
          if (!b || b->value != 11) wrong.fetch_add(1);
          if ((i + t) % 3 == 0) a.reset();
          dstd::weak_ptr<tracked> w = b;
        }
        copy.reset();
      });
    }
    shared.reset();  // the threads' copies keep it
    for (auto& thread : threads) thread.join();
    CHECK(wrong.load() == 0);
    CHECK(weak.expired());
  }
  CHECK(destroyed.load() == destroyed_before + 1);
  CHECK(live_objects() == live_before);
  const drust::runtime_stats after = drust::stats();
  CHECK(after.shared_acquire_messages == stats_before.shared_acquire_messages);
  CHECK(after.shared_release_messages == stats_before.shared_release_messages);
  CHECK(after.shared_objects_destroyed == stats_before.shared_objects_destroyed + 1);
  CHECK(after.shared_references == stats_before.shared_references);
}

void read_shared(dstd::shared_ptr<const tracked> p, long expected, std::atomic<long>* seen) {
  dstd::shared_ptr<const tracked> local_copy = p;
  if (p->value == expected && local_copy.use_count() >= 2) seen->fetch_add(1);
}

TEST_CASE("shared_ptrs and weak_ptrs shipped to drust threads keep their counts") {
  const std::uint64_t live_before = live_objects();
  const long destroyed_before = destroyed.load();
  {
    auto shared = dstd::make_shared<const tracked>(21);
    std::atomic<long> seen{0};
    {
      std::vector<dstd::thread> threads;
      // A pointer to a local is not sendable as an argument; a lambda on this node may capture it.
      auto read = [&seen](dstd::shared_ptr<const tracked> p) { read_shared(std::move(p), 21, &seen); };
      for (int t = 0; t < 4; ++t) threads.emplace_back(read, shared);  // copies
      threads.emplace_back(read, std::move(shared));                   // the last one
      for (auto& thread : threads) thread.join();
    }
    CHECK(seen.load() == 5);
    CHECK(destroyed.load() == destroyed_before + 1);

    auto again = dstd::make_shared<tracked>(5);
    dstd::weak_ptr<tracked> weak = again;
    std::atomic<long> locked{0};
    dstd::thread([&locked](dstd::weak_ptr<tracked> w) {
      if (auto p = w.lock()) locked.store(p->value);
    }, weak).join();
    CHECK(locked.load() == 5);
    CHECK(again.use_count() == 1);
  }
  CHECK(destroyed.load() == destroyed_before + 2);
  CHECK(live_objects() == live_before);
}

TEST_CASE("interior-mutable types are usable through a shared_ptr as std code uses them") {
  auto lockable = dstd::make_shared<fake_lockable>();
  const long before = fake_lockable::locks.load();
  {
    std::lock_guard<fake_lockable> guard(*lockable);
  }
  {
    std::unique_lock<fake_lockable> guard(*lockable);
  }
  CHECK(fake_lockable::locks.load() == before + 2);
  CHECK(fake_lockable::unlocks.load() == before + 2);
  auto guard = lockable.borrow_mut();
  CHECK(guard.get() == lockable.get());
}

TEST_CASE("hash, comparisons and owner_before follow the object") {
  auto a = dstd::make_shared<point>(1, 1);
  auto b = dstd::make_shared<point>(2, 2);
  auto a2 = a;
  std::unordered_set<dstd::shared_ptr<point>> set{a, b, a2};
  CHECK(set.size() == 2);
  CHECK(a == a2);
  CHECK(a != b);
  CHECK((a < b) != (b < a));
  CHECK(a.owner_before(b) != b.owner_before(a));
  CHECK(dstd::shared_ptr<point>() == nullptr);
}

// A local object's const access gives its address whatever the word's colour: at colour 0 the
// word is used as it stands (the fast path), above 0 the colour is masked off.
TEST_CASE("const access to a local object gives its address, at colour 0 and above") {
  auto object = dstd::make_unique<point>(point{3, 4});
  const auto check_address = [&](const char* when) {
    INFO(when);
    const drust::detail::global_word word = object.word();
    REQUIRE(drust::detail::is_local(word));
    CHECK(drust::detail::local_object<const point>(word) == drust::detail::local_pointer<const point>(word));
    CHECK(std::as_const(object).get() == drust::detail::local_pointer<const point>(word));
    CHECK(std::as_const(object)->x + std::as_const(object)->y == object->x + object->y);
  };
  check_address("as made");
  object->x = 5;  // a mutable borrow: the colour goes up
  REQUIRE(drust::detail::colour_of(object.word()) != 0);
  check_address("after a write");
  CHECK(std::as_const(object)->x == 5);

  dstd::shared_ptr<const point> shared(std::move(object));
  CHECK(drust::detail::colour_of(shared.word()) != 0);
  CHECK(shared.get() == drust::detail::local_pointer<const point>(shared.word()));
  CHECK(shared->x == 5);
  auto fresh = dstd::make_shared<point>(point{7, 8});
  CHECK(fresh.get() == drust::detail::local_pointer<const point>(fresh.word()));
  CHECK(fresh->y == 8);
}
