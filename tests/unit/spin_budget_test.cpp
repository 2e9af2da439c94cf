// fabric::spin_budget: when a waiter spins before it sleeps (src/fabric/spin_budget.hpp).
#include <doctest/doctest.h>

#include "fabric/spin_budget.hpp"

#include <chrono>
#include <thread>
#include <vector>

namespace fabric = drust::fabric;
using std::chrono::microseconds;

namespace {

constexpr microseconds window(20);

}  // namespace

TEST_CASE("a new budget spins for its window") {
  fabric::spin_budget budget;
  budget.configure(window, true);
  CHECK(budget.window() == window);
  CHECK(budget.short_waits() == 0);
  CHECK(budget.long_waits() == 0);
}

TEST_CASE("long waits stop the spinning, and short ones, even slept, bring it back") {
  fabric::spin_budget budget;
  budget.configure(window, true);
  // Eight credits, two per long wait: the fourth long wait in a row leaves none.
  for (int i = 0; i < 3; ++i) {
    budget.waited(microseconds(500));
    CHECK(budget.window() == window);
  }
  budget.waited(microseconds(500));
  CHECK(budget.window() == microseconds::zero());
  CHECK(budget.long_waits() == 4);
  // More long waits keep it at zero (no credit below none).
  for (int i = 0; i < 10; ++i) budget.waited(std::chrono::milliseconds(3));
  CHECK(budget.window() == microseconds::zero());
  // One wait that ended within the window (say a sleep woken at once) earns a credit back.
  budget.waited(microseconds(8));
  CHECK(budget.window() == window);
  CHECK(budget.short_waits() == 1);
  CHECK(budget.long_waits() == 14);
}

TEST_CASE("spinning goes on while at least two of three waits are short") {
  fabric::spin_budget budget;
  budget.configure(window, true);
  // Two short waits for each long one: the credit never falls.
  for (int round = 0; round < 100; ++round) {
    budget.waited(microseconds(2));
    budget.waited(microseconds(2));
    budget.waited(microseconds(300));
    REQUIRE(budget.window() == window);
  }
  // One short wait for each long one: the credit drains.
  for (int round = 0; round < 8; ++round) {
    budget.waited(microseconds(2));
    budget.waited(microseconds(300));
  }
  CHECK(budget.window() == microseconds::zero());
}

TEST_CASE("a wait exactly as long as the window counts as short") {
  fabric::spin_budget budget;
  budget.configure(window, true);
  budget.waited(window);
  CHECK(budget.short_waits() == 1);
  budget.waited(window + microseconds(1));
  CHECK(budget.long_waits() == 1);
}

TEST_CASE("DRUST_PROGRESS=sleep: a fixed budget always spins its window") {
  fabric::spin_budget budget;
  budget.configure(window, /*adaptive=*/false);
  for (int i = 0; i < 50; ++i) budget.waited(std::chrono::milliseconds(1));
  CHECK(budget.window() == window);
  CHECK(budget.long_waits() == 50);
}

TEST_CASE("threads reporting at once lose no count") {
  fabric::spin_budget budget;
  budget.configure(window, true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&budget, t] {
      for (int i = 0; i < 10000; ++i) budget.waited(t % 2 == 0 ? microseconds(1) : microseconds(100));
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(budget.short_waits() == 20000);
  CHECK(budget.long_waits() == 20000);
  const auto left = budget.window();
  CHECK((left == window || left == microseconds::zero()));
}
