// drust::std::vector on a one-node runtime: the std interface checked against std::vector (fixed
// cases and random operation sequences), element handles destroyed exactly once, views, moves and
// shipping, and when a write recolours the storage; also drust::stats()'s count of page faults.
// Remote storage is exercised by tests/cluster/vector_test.cpp.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <numeric>
#include <random>
#include <ranges>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "runtime/node_runtime.hpp"

#include <drust/detail/launch.hpp>
#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/string>
#include <drust/std/vector>

namespace dstd = drust::std;

namespace {

template <class T>
std::vector<T> contents(const dstd::vector<T>& v) {
  return std::vector<T>(v.begin(), v.end());
}

std::vector<std::string> contents(const dstd::vector<dstd::string>& v) {
  std::vector<std::string> result;
  for (const dstd::string& s : v) result.emplace_back(std::string_view(s));
  return result;
}

template <class T, class U>
void check_same(const dstd::vector<T>& v, const std::vector<U>& model) {
  REQUIRE(v.size() == model.size());
  CHECK(v.empty() == model.empty());
  CHECK(v.capacity() >= v.size());
  CHECK(static_cast<std::size_t>(std::as_const(v).end() - std::as_const(v).begin()) ==
        model.size());
  CHECK(contents(v) == model);
}

std::uint64_t live_objects() { return drust::stats().live_objects; }

// 0, 1, ..., count - 1 (std::views::iota would do, but clang 14 cannot use libstdc++ 12's).
std::vector<int> numbers(int count) {
  std::vector<int> result(static_cast<std::size_t>(count));
  std::iota(result.begin(), result.end(), 0);
  return result;
}

std::uint16_t colour(const auto& container) { return drust::detail::colour_of(container.word()); }

// A type with only operator<: vector's <=> falls back to a weak ordering.
struct legacy {
  int value;
  friend bool operator<(const legacy& a, const legacy& b) { return a.value < b.value; }
};

// Counts its live instances, to check that every element built is destroyed once.
struct counted {
  static inline int alive = 0;
  int value = 0;
  counted() { ++alive; }
  explicit counted(int v) : value(v) { ++alive; }
  counted(const counted& other) : value(other.value) { ++alive; }
  counted(counted&& other) noexcept : value(other.value) { ++alive; }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() { --alive; }
};

// Throws on the n-th copy, to check the strong guarantee of insertions.
struct fragile {
  static inline int copies_left = 1000000;
  int value = 0;
  explicit fragile(int v) : value(v) {}
  fragile(const fragile& other) : value(other.value) {
    if (--copies_left < 0) throw std::runtime_error("fragile copy");
  }
  fragile& operator=(const fragile&) = default;
  friend bool operator==(const fragile& a, const fragile& b) { return a.value == b.value; }
};

}  // namespace

template <>
inline constexpr bool drust::enable_relocatable<counted> = true;
template <>
inline constexpr bool drust::enable_relocatable<fragile> = true;

static_assert(drust::relocatable<dstd::vector<int>>);
static_assert(drust::relocatable<dstd::vector<dstd::vector<dstd::string>>>);
static_assert(std::ranges::contiguous_range<dstd::vector<int>>);
static_assert(std::ranges::contiguous_range<const dstd::vector<int>>);
static_assert(std::ranges::contiguous_range<drust::slice_ref<int>>);
static_assert(drust::detail::shipped_handle<dstd::vector<int>>);
static_assert(drust::detail::shipped_handle<drust::slice_ref<int>>);
static_assert(drust::detail::thread_argument_v<dstd::vector<dstd::unique_ptr<int>>>);
static_assert(std::is_nothrow_move_constructible_v<dstd::vector<int>>);
static_assert(std::is_same_v<decltype(dstd::vector<legacy>{} <=> dstd::vector<legacy>{}),
                             std::weak_ordering>);
static_assert(
    std::is_same_v<decltype(dstd::vector<int>{} <=> dstd::vector<int>{}), std::strong_ordering>);

TEST_CASE("construction agrees with std::vector") {
  check_same(dstd::vector<int>(), std::vector<int>());
  check_same(dstd::vector<int>(5), std::vector<int>(5));
  check_same(dstd::vector<int>(7, 42), std::vector<int>(7, 42));
  check_same(dstd::vector<int>{1, 2, 3}, std::vector<int>{1, 2, 3});
  const std::vector<int> source{5, 4, 3, 2, 1};
  check_same(dstd::vector<int>(source.begin(), source.end()), source);
  check_same(dstd::vector<int>(source), source);  // any range
  const std::vector<int> hundred = numbers(100);
  check_same(dstd::vector<int>(std::span<const int>(hundred).subspan(10)),
             std::vector<int>(hundred.begin() + 10, hundred.end()));
  std::istringstream words("1 2 3 4");
  check_same(dstd::vector<int>(std::istream_iterator<int>(words), std::istream_iterator<int>()),
             std::vector<int>{1, 2, 3, 4});  // an input range: one pass
  dstd::vector deduced(source.begin(), source.end());
  static_assert(std::is_same_v<decltype(deduced), dstd::vector<int>>);

  dstd::vector<int> original{1, 2, 3};
  dstd::vector<int> copy(original);
  CHECK(copy == original);
  CHECK(drust::detail::address_of(copy.word()) != drust::detail::address_of(original.word()));
  dstd::vector<int> moved(std::move(original));
  check_same(moved, std::vector<int>{1, 2, 3});
  check_same(original, std::vector<int>());  // NOLINT: a moved-from vector is empty
  CHECK(original.word() == 0);

  dstd::vector<int> assigned;
  assigned = copy;
  CHECK(assigned == copy);
  assigned = {9, 8};
  check_same(assigned, std::vector<int>{9, 8});
  assigned = std::move(copy);
  check_same(assigned, std::vector<int>{1, 2, 3});
  const dstd::vector<int>& alias = assigned;
  assigned = alias;  // self-assignment
  check_same(assigned, std::vector<int>{1, 2, 3});
}

TEST_CASE("element access, iterators and capacity") {
  dstd::vector<int> v{10, 20, 30};
  CHECK(v[1] == 20);
  CHECK(std::as_const(v)[2] == 30);
  CHECK(v.at(0) == 10);
  CHECK_THROWS_AS((void)v.at(3), std::out_of_range);
  CHECK_THROWS_AS((void)std::as_const(v).at(3), std::out_of_range);
  CHECK(v.front() == 10);
  CHECK(v.back() == 30);
  v.front() = 11;
  v.back() = 31;
  v[1] = 21;
  v.data()[1] += 1;
  check_same(v, std::vector<int>{11, 22, 31});
  CHECK(std::vector<int>(v.rbegin(), v.rend()) == std::vector<int>{31, 22, 11});
  CHECK(std::vector<int>(v.crbegin(), v.crend()) == std::vector<int>{31, 22, 11});
  for (int& x : v) x *= 2;
  check_same(v, std::vector<int>{22, 44, 62});
  std::ranges::sort(v, std::greater<>());
  check_same(v, std::vector<int>{62, 44, 22});
  CHECK(std::ranges::find(std::as_const(v), 44) - v.cbegin() == 1);

  v.reserve(100);
  CHECK(v.capacity() >= 100);
  check_same(v, std::vector<int>{62, 44, 22});
  v.shrink_to_fit();
  CHECK(v.capacity() == 3);
  check_same(v, std::vector<int>{62, 44, 22});
  v.clear();
  CHECK(v.empty());
  v.shrink_to_fit();
  CHECK(v.word() == 0);
  CHECK(v.max_size() > 1000000);
  CHECK_THROWS_AS(v.reserve(v.max_size() + 1), std::length_error);
}

TEST_CASE("modifiers agree with std::vector, including insertions of the vector's own elements") {
  dstd::vector<int> v;
  std::vector<int> model;
  for (int i = 0; i < 100; ++i) {
    v.push_back(i);
    model.push_back(i);
  }
  check_same(v, model);
  v.insert(v.begin() + 10, -1);
  model.insert(model.begin() + 10, -1);
  v.insert(v.cbegin(), 3, -2);
  model.insert(model.begin(), 3, -2);
  v.insert(v.end(), {7, 8, 9});
  model.insert(model.end(), {7, 8, 9});
  const std::vector<int> more{100, 200};
  v.insert(v.begin() + 5, more.begin(), more.end());
  model.insert(model.begin() + 5, more.begin(), more.end());
  std::istringstream numbers("41 42 43");
  v.insert(v.begin() + 2, std::istream_iterator<int>(numbers), std::istream_iterator<int>());
  model.insert(model.begin() + 2, {41, 42, 43});
  check_same(v, model);
  // Elements of the vector itself as the value: they must be read before anything moves.
  for (int round = 0; round < 50; ++round) {
    v.push_back(v[0]);
    model.push_back(model[0]);
    v.insert(v.begin() + 1, v.back());
    model.insert(model.begin() + 1, model.back());
    v.emplace_back(v[v.size() / 2]);
    model.emplace_back(model[model.size() / 2]);
  }
  check_same(v, model);
  CHECK(*v.emplace(v.begin() + 3, 77) == 77);
  model.emplace(model.begin() + 3, 77);
  CHECK(*v.erase(v.begin() + 4) == model[5]);
  model.erase(model.begin() + 4);
  v.erase(v.begin() + 10, v.begin() + 20);
  model.erase(model.begin() + 10, model.begin() + 20);
  v.pop_back();
  model.pop_back();
  check_same(v, model);
  v.resize(300);
  model.resize(300);
  v.resize(310, 5);
  model.resize(310, 5);
  v.resize(50);
  model.resize(50);
  check_same(v, model);
  v.assign(5, v[1]);
  model.assign(5, model[1]);
  check_same(v, model);
  v.assign(more.begin(), more.end());
  model.assign(more.begin(), more.end());
  v.assign({1, 2, 3, 4, 5, 6});
  model.assign({1, 2, 3, 4, 5, 6});
  check_same(v, model);
  CHECK(dstd::erase(v, 3) == 1);
  CHECK(dstd::erase_if(v, [](int x) { return x % 2 == 0; }) == 3);
  check_same(v, std::vector<int>{1, 5});
  dstd::vector<int> other{9};
  swap(v, other);
  check_same(v, std::vector<int>{9});
  check_same(other, std::vector<int>{1, 5});
  v.swap(other);
  check_same(v, std::vector<int>{1, 5});
}

TEST_CASE("random operation sequences agree with std::vector") {
  std::mt19937_64 random(20261125);
  auto pick = [&](std::size_t bound) {
    return bound == 0 ? 0 : static_cast<std::size_t>(random() % bound);
  };
  for (int run = 0; run < 20; ++run) {
    dstd::vector<std::int64_t> v;
    std::vector<std::int64_t> model;
    dstd::vector<std::int64_t> spare;
    std::vector<std::int64_t> spare_model;
    for (int step = 0; step < 400; ++step) {
      const auto value = static_cast<std::int64_t>(random() % 1000);
      switch (random() % 16) {
        case 0:
        case 1:
          v.push_back(value);
          model.push_back(value);
          break;
        case 2: {
          const std::size_t at = pick(model.size() + 1);
          v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), value);
          model.insert(model.begin() + static_cast<std::ptrdiff_t>(at), value);
          break;
        }
        case 3: {
          const std::size_t at = pick(model.size() + 1), count = pick(20);
          v.insert(v.cbegin() + static_cast<std::ptrdiff_t>(at), count, value);
          model.insert(model.begin() + static_cast<std::ptrdiff_t>(at), count, value);
          break;
        }
        case 4:
          if (!model.empty()) {
            const std::size_t at = pick(model.size());
            v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
            model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
          }
          break;
        case 5: {
          const std::size_t first = pick(model.size() + 1),
                            last = first + pick(model.size() - first + 1);
          v.erase(v.begin() + static_cast<std::ptrdiff_t>(first),
                  v.begin() + static_cast<std::ptrdiff_t>(last));
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(first),
                      model.begin() + static_cast<std::ptrdiff_t>(last));
          break;
        }
        case 6:
          if (!model.empty()) {
            v.pop_back();
            model.pop_back();
          }
          break;
        case 7: {
          const std::size_t size = pick(2 * model.size() + 10);
          v.resize(size, value);
          model.resize(size, value);
          break;
        }
        case 8:
          v.reserve(pick(500));
          break;
        case 9:
          v.shrink_to_fit();
          break;
        case 10:
          if (!model.empty()) {
            const std::size_t at = pick(model.size());
            v[at] = value;
            model[at] = value;
          }
          break;
        case 11:
          if (random() % 8 == 0) {
            v.clear();
            model.clear();
          }
          break;
        case 12:
          spare = v;
          spare_model = model;
          break;
        case 13:
          v.swap(spare);
          model.swap(spare_model);
          break;
        case 14: {
          dstd::vector<std::int64_t> taken(std::move(v));
          v = std::move(taken);
          break;
        }
        default: {
          const std::size_t at = pick(model.size() + 1);
          v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), spare.cbegin(), spare.cend());
          model.insert(model.begin() + static_cast<std::ptrdiff_t>(at), spare_model.begin(),
                       spare_model.end());
          break;
        }
      }
      REQUIRE(v.size() == model.size());
    }
    check_same(v, model);
    check_same(spare, spare_model);
    CHECK((v == spare) == (model == spare_model));
    CHECK((v <=> spare) == (model <=> spare_model));
  }
}

TEST_CASE("comparisons are lexicographic, like std") {
  using V = dstd::vector<int>;
  CHECK(V{1, 2, 3} == V{1, 2, 3});
  CHECK(V{1, 2, 3} != V{1, 2, 4});
  CHECK(V{1, 2, 3} < V{1, 2, 4});
  CHECK(V{1, 2} < V{1, 2, 0});
  CHECK(V{2} > V{1, 9, 9});
  CHECK(V{} < V{0});
  CHECK(V{} == V{});
  CHECK((V{1, 2} <=> V{1, 2}) == std::strong_ordering::equal);
  CHECK((dstd::vector<legacy>{{1}, {2}} <=> dstd::vector<legacy>{{1}, {3}}) ==
        std::weak_ordering::less);
  CHECK((dstd::vector<double>{1.0} <=> dstd::vector<double>{2.0}) == std::partial_ordering::less);
  using S = dstd::vector<dstd::string>;
  CHECK(S{"a", "b"} == S{"a", "b"});
  CHECK(S{"a", "b"} < S{"a", "c"});
  CHECK(S{"b"} > S{"a", "z"});
}

TEST_CASE("a vector of strings agrees with a std::vector of std::strings") {
  std::mt19937_64 random(7);
  dstd::vector<dstd::string> v;
  std::vector<std::string> model;
  for (int step = 0; step < 2000; ++step) {
    const std::string text(static_cast<std::size_t>(random() % 40),
                           static_cast<char>('a' + random() % 26));
    switch (random() % 6) {
      case 0:
      case 1:
        v.emplace_back(text);
        model.push_back(text);
        break;
      case 2: {
        const std::size_t at = model.empty() ? 0 : random() % (model.size() + 1);
        v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), dstd::string(text));
        model.insert(model.begin() + static_cast<std::ptrdiff_t>(at), text);
        break;
      }
      case 3:
        if (!model.empty()) {
          const std::size_t at = random() % model.size();
          v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
        }
        break;
      case 4:
        if (!model.empty()) {
          const std::size_t at = random() % model.size();
          v[at] += text;
          model[at] += text;
        }
        break;
      default:
        if (!model.empty()) {
          v.pop_back();
          model.pop_back();
        }
        break;
    }
  }
  check_same(v, model);
  const dstd::vector<dstd::string> copy(v);
  CHECK(copy == v);
  check_same(copy, model);
}

TEST_CASE("elements that are handles are destroyed exactly once") {
  const std::uint64_t before = live_objects();
  {
    dstd::vector<dstd::unique_ptr<int>> v;
    for (int i = 0; i < 100; ++i) v.push_back(dstd::make_unique<int>(i));
    CHECK(live_objects() == before + 101);  // the elements' objects and the vector's block
    v.erase(v.begin() + 10, v.begin() + 20);
    CHECK(live_objects() == before + 91);
    v.insert(v.begin(), dstd::make_unique<int>(-1));
    v.pop_back();
    v.resize(50);
    CHECK(live_objects() == before + 51);
    v.resize(60);  // null unique_ptrs: no objects
    CHECK(live_objects() == before + 51);
    CHECK(*std::as_const(v)[0] == -1);
    CHECK(*std::as_const(v)[1] == 0);
    *v[1] = 5;
    CHECK(*std::as_const(v)[1] == 5);
    dstd::vector<dstd::unique_ptr<int>> taken(std::move(v));
    CHECK(live_objects() == before + 51);
    taken.shrink_to_fit();
    CHECK(live_objects() == before + 51);
    dstd::vector<dstd::unique_ptr<int>> other;
    other.push_back(dstd::make_unique<int>(1));
    swap(taken, other);
    CHECK(live_objects() == before + 53);
    other.clear();  // its 50 objects go; its block stays
    CHECK(live_objects() == before + 3);
  }
  CHECK(live_objects() == before);

  counted::alive = 0;
  {
    dstd::vector<counted> v;
    for (int i = 0; i < 50; ++i) v.emplace_back(i);
    dstd::vector<counted> copy(v);
    CHECK(counted::alive == 100);
    v.erase(v.begin(), v.begin() + 25);
    copy.resize(10);
    v.insert(v.begin() + 3, 5, counted(7));
    CHECK(counted::alive == 25 + 5 + 10);
    copy = v;
    CHECK(counted::alive == 60);
    copy.clear();
    CHECK(counted::alive == 30);
  }
  CHECK(counted::alive == 0);
  CHECK(live_objects() == before);

  // A vector of vectors of strings: every level freed.
  {
    dstd::vector<dstd::vector<dstd::string>> nested(10, dstd::vector<dstd::string>{"one", "two"});
    nested[3].push_back("three");
    nested.erase(nested.begin());
    dstd::vector<dstd::vector<dstd::string>> copy = nested;
    CHECK(copy == nested);
    CHECK(copy[2][2] == "three");
  }
  CHECK(live_objects() == before);
}

TEST_CASE("an insertion that throws changes nothing") {
  dstd::vector<fragile> v;
  for (int i = 0; i < 8; ++i) v.emplace_back(i);
  v.shrink_to_fit();
  const std::vector<fragile> model(v.begin(), v.end());
  const std::vector<fragile> three{fragile(1), fragile(2), fragile(3)};
  fragile::copies_left = 2;
  CHECK_THROWS_AS(v.insert(v.begin() + 2, three.begin(), three.end()),
                  std::runtime_error);  // growing
  fragile::copies_left = 1000000;
  CHECK(std::vector<fragile>(v.cbegin(), v.cend()) == model);
  v.reserve(100);
  fragile::copies_left = 1;
  CHECK_THROWS_AS(v.insert(v.begin() + 2, three.begin(), three.end()),
                  std::runtime_error);  // in place
  fragile::copies_left = 1000000;
  CHECK(std::vector<fragile>(v.cbegin(), v.cend()) == model);
}

TEST_CASE("views: a read guard over a range") {
  dstd::vector<int> v(numbers(1000));
  const drust::slice_ref<int> part = v.view(100, 50);
  REQUIRE(part.size() == 50);
  CHECK(part[0] == 100);
  CHECK(part.back() == 149);
  CHECK(std::accumulate(part.begin(), part.end(), 0) == (100 + 149) * 50 / 2);
  const std::span<const int> span = part;
  CHECK(span.size() == 50);
  drust::slice_ref<int> copy = part;
  CHECK(copy.data() == part.data());
  drust::slice_ref<int> moved = std::move(copy);
  CHECK(moved.size() == 50);
  CHECK(copy.empty());  // NOLINT: moved-from
  CHECK(v.view().size() == 1000);
  CHECK(v.view(1000, 0).empty());
  CHECK_THROWS_AS((void)v.view(990, 11), std::out_of_range);
  CHECK_THROWS_AS((void)v.view(1001, 0), std::out_of_range);
  CHECK(part.word() == v.word() + 100 * sizeof(int));
  CHECK_THROWS_AS((void)part.at(50), std::out_of_range);
  // The guard's wire form is the first element's word and the count.
  auto wire =
      drust::detail::wire_traits<drust::slice_ref<int>>::to_wire(drust::slice_ref<int>(part));
  CHECK(wire.words[0] == part.word());
  CHECK(wire.words[1] == 50);
  const drust::slice_ref<int> back =
      drust::detail::wire_traits<drust::slice_ref<int>>::from_wire(wire);
  CHECK(std::ranges::equal(back, part));
}

TEST_CASE("shipping moves ownership: the moved-from vector is empty, nothing is copied") {
  const std::uint64_t before = live_objects();
  dstd::vector<dstd::string> v{"alpha", "beta"};
  const drust::detail::global_word word = v.word();
  using traits = drust::detail::wire_traits<dstd::vector<dstd::string>>;
  auto wire = traits::to_wire(std::move(v));
  CHECK(v.empty());  // NOLINT: moved-from
  CHECK(v.word() == 0);
  CHECK(wire.words[0] == word);
  CHECK(wire.words[1] == 2);
  dstd::vector<dstd::string> received = traits::from_wire(wire);
  CHECK(received.word() == word);
  CHECK(received == dstd::vector<dstd::string>{"alpha", "beta"});
  CHECK(live_objects() == before + 3);  // the vector's block and the two strings' blocks
  // Received storage may have been read elsewhere: the first write recolours it.
  received[0] += "!";
  CHECK(received.word() != word);
  CHECK(drust::detail::address_of(received.word()) == drust::detail::address_of(word));
}

TEST_CASE("a write recolours the storage only when a copy of it may be cached elsewhere") {
  dstd::vector<int> v(100, 1);
  const auto first = v.word();
  // A vector on the stack whose storage no one else has seen: writes keep the colour (no copy of
  // it can be cached anywhere), however many.
  for (int i = 0; i < 200000; ++i) v[static_cast<std::size_t>(i % 100)] += 1;
  CHECK(v.word() == first);
  // After a view (which may go to another node) the next write recolours, once.
  {
    const drust::slice_ref<int> seen = v.view(10, 10);
    CHECK(seen[0] == std::as_const(v)[10]);
  }
  v[0] = 5;
  CHECK(colour(v) == drust::detail::colour_of(first) + 1);
  v[1] = 6;
  v.back() = 7;
  CHECK(colour(v) == drust::detail::colour_of(first) + 1);
  // A vector that lives in the global heap may be read through its owner's handle: every write
  // recolours; when the colours run out the storage stays where it is, at the last colour
  // (saturated), so no pointer from an earlier access dangles.
  auto boxed = dstd::make_unique<dstd::vector<int>>(numbers(64));
  dstd::vector<int>& inside = *boxed;
  const auto inside_first = inside.word();
  inside[0] = 0;
  CHECK(inside.word() == inside_first + (std::uint64_t{1} << 48));
  int* const element = &inside[5];
  for (int i = 0; i < 70000; ++i) inside[static_cast<std::size_t>(i % 64)] = i % 64;
  CHECK(colour(inside) == drust::detail::last_colour);
  CHECK(drust::detail::address_of(inside.word()) == drust::detail::address_of(inside_first));
  CHECK(&inside[5] == element);
  CHECK(std::as_const(inside) == dstd::vector<int>(numbers(64)));
  // end() before begin() (as GCC evaluates std::sort(v.begin(), v.end())) and a range-for: one block.
  int* const end_pointer = inside.end();
  int* const begin_pointer = inside.begin();
  CHECK(end_pointer - begin_pointer == 64);
  for (int& x : inside) x = 7;
  CHECK(std::ranges::all_of(std::as_const(inside), [](int x) { return x == 7; }));
  // shrink_to_fit() may reallocate (std): it renews saturated storage, contents intact.
  inside.shrink_to_fit();
  CHECK(colour(inside) != drust::detail::last_colour);
  CHECK(std::ranges::all_of(std::as_const(inside), [](int x) { return x == 7; }));
  // Moved out of the heap, it may still have been read there: the first write recolours.
  dstd::vector<int> out = std::move(*boxed);
  const auto out_first = out.word();
  out[0] = 1;
  CHECK(out.word() != out_first);
  const auto out_second = out.word();
  out[1] = 1;
  CHECK(out.word() == out_second);
}

TEST_CASE("drust::stats() counts this process's page faults, which first touches of memory raise") {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  constexpr std::size_t pages = 64;
  void* base = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(base != MAP_FAILED);
  (void)::madvise(base, pages * page, MADV_NOHUGEPAGE);  // one fault per page, not one per 2 MiB
  const std::uint64_t before = drust::stats().page_faults;
  auto* bytes = static_cast<volatile char*>(base);
  for (std::size_t i = 0; i < pages; ++i) bytes[i * page] = 1;
  const std::uint64_t after = drust::stats().page_faults;
  ::munmap(base, pages * page);
  CHECK(before > 0);  // the process faulted its code and data in long before
  CHECK(after - before >= pages);
}
