// Shipping work on a one-node runtime: the codec's round trips (every std type it serializes,
// nested, drust handles, a user codec), the drust::sendable rule, the closure word checker,
// futures and promises, jthread stop tokens, member functions through a handle. Other nodes are
// exercised by tests/cluster/thread_surface_test.cpp.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/node_runtime.hpp"

#include <drust/codec>
#include <drust/runtime>
#include <drust/sendable>
#include <drust/std/future>
#include <drust/std/memory>
#include <drust/std/string>
#include <drust/std/thread>
#include <drust/std/vector>

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

struct plain {
  int a;
  double b;
  friend bool operator==(const plain&, const plain&) = default;
};
struct with_pointer {
  int* p;
};
struct with_function {
  void (*f)();
};
class has_string {
 public:
  explicit has_string(std::string text) : text_(std::move(text)) {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// A user type with a codec.
struct order {
  std::string customer;
  std::vector<int> items;
  friend bool operator==(const order&, const order&) = default;
};

int add(int a, int b) { return a + b; }

struct worker {
  int base;
  int run(int more) { return base += more; }
  int peek(int more) const { return base + more; }
};

}  // namespace

template <>
struct drust::codec<order> {
  static void encode(drust::encoder& out, const order& value) {
    out.write(value.customer);
    out.write(value.items);
  }
  // Inside namespace drust, std:: names drust::std: a codec writes ::std:: for the real one.
  static order decode(drust::decoder& in) {
    auto customer = in.read<::std::string>();
    return order{::std::move(customer), in.read<::std::vector<int>>()};
  }
};

// ---- the sendable rule ------------------------------------------------------------------------

static_assert(drust::sendable<int> && drust::sendable<plain> && drust::sendable<std::array<plain, 3>>);
static_assert(drust::sendable<std::string> && drust::sendable<std::vector<std::string>>);
static_assert(drust::sendable<std::pair<int, std::string>> && drust::sendable<std::tuple<int, std::vector<double>, char>>);
static_assert(drust::sendable<std::optional<std::vector<std::optional<std::string>>>>);
static_assert(drust::sendable<int (*)(int, int)> && drust::sendable<int (worker::*)(int)>);
static_assert(drust::sendable<dstd::unique_ptr<int>> && drust::sendable<dstd::shared_ptr<const int>>);
static_assert(drust::sendable<dstd::vector<int>> && drust::sendable<dstd::string> && drust::sendable<drust::ref<int>>);
static_assert(drust::sendable<std::vector<dstd::unique_ptr<int>>> && drust::sendable<dstd::promise<int>>);
static_assert(drust::sendable<order>);
static_assert(!drust::sendable<int*> && !drust::sendable<const char*>);
static_assert(!drust::sendable<std::string_view> && !drust::sendable<std::span<int>>);
static_assert(!drust::sendable<std::reference_wrapper<int>> && !drust::sendable<int&>);
static_assert(!drust::sendable<std::vector<int*>> && !drust::sendable<std::tuple<int, std::string_view>>);
static_assert(!drust::sendable<std::map<int, int>> && !drust::sendable<std::function<void()>>);
static_assert(!drust::sendable<std::unique_ptr<int>> && !drust::sendable<has_string>);
static_assert(!drust::sendable<with_pointer> && !drust::sendable<with_function>);
static_assert(!drust::detail::thread_argument_v<std::string_view>);
static_assert(drust::detail::send_problem_of<std::vector<int*>> == drust::detail::send_problem::raw_pointer);
static_assert(drust::detail::send_problem_of<with_pointer> == drust::detail::send_problem::holds_pointer);
static_assert(drust::detail::send_problem_of<has_string> == drust::detail::send_problem::no_codec);
static_assert(std::is_same_v<drust::detail::send_offender_t<std::pair<int, std::string_view>>, std::string_view>);

// Lambdas: plain captures travel as bytes; handle captures are relocated; std::function is refused.
static_assert(!drust::detail::relocated_callable_v<std::function<void()>>);

TEST_CASE("a lambda's kind decides how it travels") {
  int x = 1;
  auto plain_lambda = [x] { return x; };
  auto handle_lambda = [p = dstd::make_unique<int>(3)] { return *p; };
  auto string_lambda = [s = std::string("text")] { return s.size(); };
  CHECK(drust::sendable<decltype(plain_lambda)>);
  CHECK(drust::detail::opaque_bytes_v<decltype(plain_lambda)>);
  CHECK(drust::detail::relocated_callable_v<decltype(handle_lambda)>);
  CHECK(drust::detail::relocated_callable_v<decltype(string_lambda)>);  // caught at run time
}

// ---- codec round trips ------------------------------------------------------------------------

template <class T>
T round_trip(const T& value) {
  return drust::detail::decode<T>(drust::detail::encode(value));
}

TEST_CASE("every std type the codec serializes comes back equal") {
  CHECK(round_trip(42) == 42);
  CHECK(round_trip(plain{3, 2.5}) == plain{3, 2.5});
  CHECK(round_trip(std::string()) == "");
  CHECK(round_trip(std::string(1000, 'x')) == std::string(1000, 'x'));
  CHECK(round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3});
  CHECK(round_trip(std::vector<bool>{true, false, true}) == std::vector<bool>{true, false, true});
  CHECK(round_trip(std::pair<int, std::string>(1, "one")) == std::pair<int, std::string>(1, "one"));
  CHECK(round_trip(std::tuple<>()) == std::tuple<>());
  CHECK(round_trip(std::tuple<int, std::string, double>(7, "seven", 7.5)) ==
        std::tuple<int, std::string, double>(7, "seven", 7.5));
  CHECK(round_trip(std::array<std::string, 2>{"a", "b"}) == std::array<std::string, 2>{"a", "b"});
  CHECK(round_trip(std::optional<std::string>()) == std::nullopt);
  CHECK(round_trip(std::optional<std::string>("x")) == std::optional<std::string>("x"));
  CHECK(round_trip(std::u16string(u"wide")) == u"wide");
}

TEST_CASE("nested std types come back equal") {
  using nested = std::vector<std::tuple<std::string, std::optional<std::vector<std::pair<int, std::string>>>, std::array<int, 2>>>;
  nested value{{"a", std::nullopt, {1, 2}}, {"b", std::vector<std::pair<int, std::string>>{{1, "x"}, {2, ""}}, {3, 4}}};
  CHECK(round_trip(value) == value);
}

TEST_CASE("a user codec is used, also inside std types") {
  order one{"ada", {1, 2, 3}};
  CHECK(round_trip(one) == one);
  std::vector<std::optional<order>> many{one, std::nullopt, order{"bob", {}}};
  CHECK(round_trip(many) == many);
}

TEST_CASE("function and member function pointers travel as code offsets") {
  auto f = round_trip(&add);
  CHECK(f(2, 3) == 5);
  auto m = round_trip(&worker::run);
  worker w{1};
  CHECK((w.*m)(2) == 3);
  int (worker::*none)(int) = nullptr;
  CHECK(round_trip(none) == nullptr);
}

TEST_CASE("drust handles move their ownership through the bytes") {
  auto p = dstd::make_unique<int>(9);
  const std::uint64_t live = drust::stats().live_objects;
  std::string bytes = drust::detail::encode(std::move(p));
  CHECK_FALSE(p);
  CHECK(drust::stats().live_objects == live);  // not freed: the bytes own it
  auto back = drust::detail::decode<dstd::unique_ptr<int>>(bytes);
  CHECK(*std::as_const(back) == 9);
  back.reset();
  CHECK(drust::stats().live_objects == live - 1);

  std::vector<dstd::unique_ptr<int>> several;
  several.push_back(dstd::make_unique<int>(1));
  several.push_back(dstd::make_unique<int>(2));
  auto moved = drust::detail::decode<std::vector<dstd::unique_ptr<int>>>(drust::detail::encode(std::move(several)));
  REQUIRE(moved.size() == 2);
  CHECK(*std::as_const(moved[1]) == 2);
}

TEST_CASE("a decoder refuses bytes that do not hold what it reads") {
  std::string bytes = drust::detail::encode(std::string("abc"));
  CHECK_THROWS_AS(drust::detail::decode<std::string>(bytes.substr(0, 5)), drust::decode_error);
  CHECK_THROWS_AS(drust::detail::decode<int>(bytes), drust::decode_error);  // bytes left over
  std::string huge = drust::detail::encode(std::uint64_t{1} << 60);
  CHECK_THROWS_AS(drust::detail::decode<std::vector<int>>(huge), drust::decode_error);
}

// ---- the closure word checker -----------------------------------------------------------------

namespace {

std::string check_message(const void* object, std::size_t size) {
  try {
    drust::detail::check_closure_words(object, size, typeid(int), "the thread's callable", 1);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

template <class Closure>
std::string check_closure(const Closure& closure) {
  return check_message(&closure, sizeof closure);
}

}  // namespace

TEST_CASE("a closure holding a pointer to a stack local is flagged, naming the offset and the stack") {
  int local = 5;
  auto by_reference = [&local] { return local; };
  const std::string message = check_closure(by_reference);
  CHECK(message.find("byte offset 0") != std::string::npos);
  CHECK(message.find("stack") != std::string::npos);
  CHECK(message.find("cannot run on node 1") != std::string::npos);
  CHECK(message.find("capture by value") != std::string::npos);
}

TEST_CASE("a closure holding std::string data is flagged") {
  std::string text(100, 'x');  // on the malloc heap, not inline
  auto capture = [text] { return text.size(); };
  const std::string message = check_closure(capture);
  CHECK(message.find("holds 0x") != std::string::npos);
  CHECK((message.find("malloc heap") != std::string::npos || message.find("anonymous mapping") != std::string::npos));

  std::string* on_heap = new std::string(64, 'y');
  const char* data = on_heap->data();
  struct words {
    long a;
    const char* b;
  } closure{1, data};
  CHECK(check_closure(closure).find("byte offset 8") != std::string::npos);
  delete on_heap;
}

TEST_CASE("a string literal's address is flagged as the executable's image") {
  const char* literal = "a literal";
  CHECK(check_closure(literal).find("executable's image") != std::string::npos);
}

TEST_CASE("a closure of plain values or global words is not flagged") {
  int a = 1, b = 2;
  long c = -1;
  double d = 3.25;
  auto values = [a, b, c, d] { return a + b + c + d; };
  CHECK(check_closure(values) == "");
  auto handle = dstd::make_unique<int>(4);
  const std::uint64_t words[3] = {handle.word(), drust::detail::address_of(handle.word()), 0};
  CHECK(check_closure(words) == "");
}

// ---- threads ------------------------------------------------------------------------------------

TEST_CASE("a thread runs a member function through a handle") {
  auto w = dstd::make_unique<worker>(worker{10});
  std::atomic<int> seen{0};
  int* seen_address = reinterpret_cast<int*>(&seen);
  static_cast<void>(seen_address);
  dstd::thread t(&worker::run, std::move(w), 5);
  t.join();
  auto shared = dstd::make_shared<const worker>(worker{1});
  dstd::thread u(&worker::peek, shared, 2);
  u.join();
}

TEST_CASE("std::string, std::vector and tuple arguments reach a thread on this node") {
  auto p = dstd::make_shared<const int>(1);
  dstd::promise<std::string> result;
  auto got = result.get_future();
  dstd::thread t(
      [](std::string s, std::vector<int> v, std::tuple<int, std::string> t, dstd::promise<std::string> out) {
        out.set_value(s + std::to_string(v.size()) + std::get<1>(t));
      },
      std::string("abc"), std::vector<int>{1, 2}, std::make_tuple(1, std::string("z")), std::move(result));
  t.join();
  CHECK(got.get() == "abc2z");
}

TEST_CASE("hardware_concurrency counts at least this machine's cores") {
  CHECK(dstd::thread::hardware_concurrency() >= 1);
  CHECK(dstd::jthread::hardware_concurrency() == dstd::thread::hardware_concurrency());
}

TEST_CASE("jthread: request_stop reaches a callable taking a stop_token; the destructor stops and joins") {
  std::atomic<bool> stopped{false};
  {
    dstd::jthread j([&stopped](std::stop_token token) {
      while (!token.stop_requested()) std::this_thread::sleep_for(1ms);
      stopped = true;
    });
    CHECK(j.joinable());
    CHECK(j.get_stop_token().stop_possible());
  }
  CHECK(stopped);

  dstd::jthread k([](std::stop_token token, int step) {
    while (!token.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(step));
  }, 1);
  CHECK(k.request_stop());
  k.join();
  CHECK_FALSE(k.joinable());

  dstd::jthread plain([](int) {}, 1);  // no token: joined by the destructor
  dstd::jthread moved = std::move(plain);
  CHECK_FALSE(plain.joinable());
  CHECK(moved.joinable());
}

// ---- futures ------------------------------------------------------------------------------------

TEST_CASE("async returns values, strings and vectors; void too") {
  auto sum = dstd::async(add, 2, 3);
  CHECK(sum.valid());
  CHECK(sum.get() == 5);
  CHECK_FALSE(sum.valid());
  CHECK_THROWS_AS(sum.get(), std::future_error);

  auto text = dstd::async([](int n) { return std::string(static_cast<std::size_t>(n), 'a'); }, 3);
  CHECK(text.get() == "aaa");
  auto numbers = dstd::async(drust::on(0), [] { return std::vector<int>{1, 2, 3}; });
  CHECK(numbers.get() == std::vector<int>{1, 2, 3});
  std::atomic<int> ran{0};
  auto nothing = dstd::async(std::launch::async, [&ran] { ran = 1; });
  nothing.get();
  CHECK(ran == 1);
}

TEST_CASE("the future of an async thread waits for it when dropped, as std's does") {
  std::atomic<int> done{0};
  {
    auto dropped = dstd::async(std::launch::async, [&done] {
      std::this_thread::sleep_for(20ms);
      done = 1;
    });
  }
  CHECK(done == 1);
  {
    auto shared = dstd::async([&done] {
      std::this_thread::sleep_for(20ms);
      done = 2;
    }).share();
    auto copy = shared;
  }
  CHECK(done == 2);
}

TEST_CASE("deferred async runs at get on the caller") {
  std::thread::id runner;
  auto deferred = dstd::async(std::launch::deferred, [&runner] {
    runner = std::this_thread::get_id();
    return 7;
  });
  CHECK(deferred.wait_for(0ms) == std::future_status::deferred);
  CHECK(deferred.get() == 7);
  CHECK(runner == std::this_thread::get_id());
}

TEST_CASE("an exception reaches get: the same object on this node") {
  auto failing = dstd::async([]() -> int { throw std::out_of_range("index 9"); });
  CHECK_THROWS_WITH_AS(failing.get(), "index 9", std::out_of_range);
}

TEST_CASE("wait_for and wait_until time out, then see the value") {
  dstd::promise<int> p;
  auto f = p.get_future();
  CHECK(f.wait_for(5ms) == std::future_status::timeout);
  CHECK(f.wait_until(std::chrono::system_clock::now() + 1ms) == std::future_status::timeout);
  p.set_value(3);
  CHECK(f.wait_for(0ms) == std::future_status::ready);
  f.wait();
  CHECK(f.get() == 3);
}

TEST_CASE("promise errors follow std") {
  dstd::promise<int> p;
  auto f = p.get_future();
  CHECK_THROWS_AS(p.get_future(), std::future_error);
  p.set_value(1);
  try {
    p.set_value(2);
    FAIL("set twice");
  } catch (const std::future_error& error) {
    CHECK(error.code() == std::future_errc::promise_already_satisfied);
  }
  CHECK(f.get() == 1);

  dstd::future<std::string> orphan;
  {
    dstd::promise<std::string> dropped;
    orphan = dropped.get_future();
  }
  try {
    orphan.get();
    FAIL("no broken_promise");
  } catch (const std::future_error& error) {
    CHECK(error.code() == std::future_errc::broken_promise);
  }

  dstd::promise<void> done;
  auto done_future = done.get_future();
  done.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  CHECK_THROWS_WITH_AS(done_future.get(), "late", std::runtime_error);

  dstd::promise<int> moved_from;
  dstd::promise<int> owner(std::move(moved_from));
  try {
    moved_from.set_value(1);
    FAIL("no no_state");
  } catch (const std::future_error& error) {
    CHECK(error.code() == std::future_errc::no_state);
  }
  owner.set_value(0);

  dstd::promise<int> early;
  early.set_value(5);  // before get_future, as std allows
  CHECK(early.get_future().get() == 5);
}

TEST_CASE("shared_future: every copy gets the value") {
  dstd::promise<std::vector<int>> p;
  dstd::shared_future<std::vector<int>> shared = p.get_future().share();
  auto copy = shared;
  p.set_value({4, 5});
  CHECK(shared.get() == std::vector<int>{4, 5});
  CHECK(&copy.get() == &shared.get());
  auto deferred = dstd::async(std::launch::deferred, [] {}).share();
  deferred.wait();
  deferred.get();
}
