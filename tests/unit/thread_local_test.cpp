// drust::std::thread in a one-node run (no drun): behaves like std::thread.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <system_error>

#include <drust/runtime>
#include <drust/std/thread>

namespace {
std::atomic<int> total{0};
void add(int amount) { total += amount; }
}  // namespace

TEST_CASE("threads run, join, and have distinct ids") {
  total = 0;
  drust::std::thread a(add, 2);
  drust::std::thread b([](int x) { total += x; }, 40);
  CHECK(a.joinable());
  CHECK(a.get_id() != b.get_id());
  CHECK(a.get_id() != drust::std::this_thread::get_id());
  a.join();
  b.join();
  CHECK_FALSE(a.joinable());
  CHECK(a.get_id() == drust::std::thread::id());
  CHECK(total == 42);
}

TEST_CASE("a thread sees its own id") {
  static std::atomic<std::uint64_t> seen{0};
  drust::std::thread t([] { seen = std::hash<drust::std::thread::id>{}(drust::std::this_thread::get_id()); });
  auto expected = std::hash<drust::std::thread::id>{}(t.get_id());
  t.join();
  CHECK(seen == expected);
}

TEST_CASE("move, swap and detach follow std::thread") {
  total = 0;
  drust::std::thread a(add, 1);
  drust::std::thread b(std::move(a));
  CHECK_FALSE(a.joinable());
  CHECK(b.joinable());
  drust::std::thread c;
  swap(b, c);
  CHECK(c.joinable());
  c.join();
  CHECK_THROWS_AS(c.join(), std::system_error);
  drust::std::thread d(add, 1);
  d.detach();
  CHECK_FALSE(d.joinable());
}

TEST_CASE("placement on a node that does not exist throws") {
  CHECK(drust::num_nodes() == 1);
  CHECK_THROWS_AS(drust::std::thread(drust::on(3), add, 1), std::system_error);
  drust::std::thread here(drust::on(0), add, 1);
  here.join();
}

TEST_CASE("code offsets round-trip") {
  auto entry = reinterpret_cast<drust::detail::code_pointer>(+[](void*) {});
  auto offset = drust::detail::code_offset(entry);
  CHECK((drust::detail::code_at(offset) == entry));
  // Function pointers among a thread's arguments survive the trip.
  auto shipped = drust::detail::ship(&add);
  CHECK((drust::detail::unship(shipped) == &add));
}
