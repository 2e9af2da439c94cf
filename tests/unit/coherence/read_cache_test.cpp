#include "coherence/read_cache.hpp"
#include "run_together.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using drust::coherence::cached_copy;
using drust::coherence::coloured_address;
using drust::coherence::read_cache;

namespace {

constexpr std::uint64_t base = 0x1000'0000'0000ull;

// The bytes the "remote object" at `key` holds: a pattern derived from the whole coloured address,
// so a copy served for the wrong colour is detected.
std::uint8_t pattern(coloured_address key, std::size_t i) {
  return static_cast<std::uint8_t>((key.raw() * 0x9e3779b97f4a7c15ull >> 56) + i);
}

absl::Status fill_pattern(coloured_address key, std::size_t size, void* destination) {
  auto* bytes = static_cast<std::uint8_t*>(destination);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern(key, i);
  return absl::OkStatus();
}

bool holds_pattern(const cached_copy& copy, coloured_address key) {
  const auto* bytes = static_cast<const std::uint8_t*>(copy.data());
  for (std::size_t i = 0; i < copy.size(); ++i) {
    if (bytes[i] != pattern(key, i)) return false;
  }
  return true;
}

// Pins `key` with a counting fill.
cached_copy pin(read_cache& cache, coloured_address key, std::size_t size, int* fills = nullptr) {
  auto copy = cache.pin(key, size, [&](void* destination) {
    if (fills != nullptr) ++*fills;
    return fill_pattern(key, size, destination);
  });
  REQUIRE(copy.ok());
  return std::move(copy).value();
}

}  // namespace

TEST_CASE("a miss fills once, later pins hit") {
  read_cache cache(1 << 20);
  coloured_address key(base + 64, 1);
  int fills = 0;
  {
    cached_copy a = pin(cache, key, 100, &fills);
    CHECK(fills == 1);
    CHECK(a.size() == 100);
    CHECK(a.key() == key);
    CHECK(holds_pattern(a, key));
    CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % 16 == 0);
    cached_copy b = pin(cache, key, 100, &fills);
    CHECK(fills == 1);
    CHECK(b.data() == a.data());
  }
  cached_copy c = pin(cache, key, 100, &fills);
  CHECK(fills == 1);
  auto s = cache.stats();
  CHECK(s.misses == 1);
  CHECK(s.hits == 2);
  CHECK(s.entries == 1);
  CHECK(s.bytes_cached == 100);
  CHECK(s.evictions == 0);
  CHECK(cache.pin_if_cached(key).has_value());
  CHECK_FALSE(cache.pin_if_cached(key.with_colour(2)).has_value());
}

TEST_CASE("a new colour of the same address is a miss and never serves the stale copy") {
  read_cache cache(1 << 20);
  coloured_address old_key(base + 128, 5);
  coloured_address new_key = *old_key.next_colour();
  int fills = 0;
  { cached_copy stale = pin(cache, old_key, 32, &fills); }
  cached_copy fresh = pin(cache, new_key, 32, &fills);
  CHECK(fills == 2);
  CHECK(holds_pattern(fresh, new_key));
  CHECK_FALSE(holds_pattern(fresh, old_key));
  CHECK(cache.stats().misses == 2);
  CHECK(cache.stats().hits == 0);
  CHECK(cache.stats().entries == 2);
}

TEST_CASE("a key at the last colour is never cached: every pin reads the object again") {
  // An object at the last colour is written in place with no new colour (coherence.md, "Colour
  // saturation"), so a kept copy could go stale: each pin must read the bytes as they are now.
  read_cache cache(1 << 20);
  coloured_address key(base + 256, drust::coherence::max_colour);
  std::uint64_t object = 1;  // the "remote object"
  int fills = 0;
  auto pin_object = [&] {
    auto copy = cache.pin(key, sizeof object, [&](void* destination) {
      ++fills;
      std::memcpy(destination, &object, sizeof object);
      return absl::OkStatus();
    });
    REQUIRE(copy.ok());
    return std::move(copy).value();
  };
  {
    cached_copy first = pin_object();
    object = 2;  // an in-place write at the last colour, between two borrows
    cached_copy second = pin_object();
    CHECK(fills == 2);
    CHECK(first.data() != second.data());
    std::uint64_t seen = 0;
    std::memcpy(&seen, second.data(), sizeof seen);
    CHECK(seen == 2);
    CHECK_FALSE(cache.pin_if_cached(key).has_value());
    CHECK(cache.stats().entries == 2);  // private copies count while pinned
  }
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes_cached == 0);
  CHECK(cache.stats().hits == 0);
  CHECK(cache.stats().misses == 2);
  // A failed read of one leaves nothing behind.
  auto failed = cache.pin(key, 8, [](void*) { return absl::UnavailableError("node 1 did not answer"); });
  CHECK_FALSE(failed.ok());
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("the copy honours the object's alignment") {
  read_cache cache(1 << 20);
  coloured_address key(base + 4096, 0);
  auto copy = cache.pin(key, 256, 256, [&](void* d) { return fill_pattern(key, 256, d); });
  REQUIRE(copy.ok());
  CHECK(reinterpret_cast<std::uintptr_t>(copy->data()) % 256 == 0);
  auto bad = cache.pin(coloured_address(base, 0), 8, 24, [](void*) { return absl::OkStatus(); });
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("unpinned copies are evicted in fill order, a hit since the hand passed giving a second chance") {
  read_cache cache(400);  // four 100-byte copies
  std::vector<coloured_address> keys;
  for (int i = 0; i < 6; ++i) keys.emplace_back(base + 1024 * static_cast<std::uint64_t>(i), 1);
  for (int i = 0; i < 4; ++i) pin(cache, keys[static_cast<std::size_t>(i)], 100);
  CHECK(cache.stats().entries == 4);
  CHECK(cache.stats().bytes_cached == 400);
  CHECK(cache.stats().evictions == 0);
  // A hit on key 0 marks it: the hand passes it (clearing the mark) and evicts key 1.
  pin(cache, keys[0], 100);
  pin(cache, keys[4], 100);  // over capacity: evicts key 1
  CHECK(cache.stats().evictions == 1);
  CHECK(cache.stats().bytes_cached == 400);
  CHECK_FALSE(cache.pin_if_cached(keys[1]).has_value());
  CHECK(cache.pin_if_cached(keys[0]).has_value());  // marked again
  pin(cache, keys[5], 100);                         // the hand goes on from key 2: evicts it
  CHECK_FALSE(cache.pin_if_cached(keys[2]).has_value());
  for (std::size_t i : {0u, 3u, 4u, 5u}) CHECK(cache.pin_if_cached(keys[i]).has_value());
  CHECK(cache.stats().evictions == 2);
  CHECK(cache.stats().entries == 4);
  CHECK(cache.stats().bytes_cached <= cache.capacity_bytes());
}

TEST_CASE("pinned copies are never evicted") {
  read_cache cache(300);
  std::vector<cached_copy> held;
  std::vector<coloured_address> keys;
  for (int i = 0; i < 5; ++i) {
    keys.emplace_back(base + 64 * static_cast<std::uint64_t>(i), 0);
    held.push_back(pin(cache, keys.back(), 100));
  }
  // 500 bytes pinned in a 300-byte cache: all stay, all intact.
  CHECK(cache.stats().entries == 5);
  CHECK(cache.stats().evictions == 0);
  for (std::size_t i = 0; i < held.size(); ++i) CHECK(holds_pattern(held[i], keys[i]));
  // Unpinning brings the cache back under its capacity, the hand taking them in fill order.
  held.clear();
  CHECK(cache.stats().bytes_cached <= 300);
  CHECK(cache.stats().entries == 3);
  CHECK(cache.stats().evictions == 2);
  CHECK_FALSE(cache.pin_if_cached(keys[0]).has_value());
  CHECK_FALSE(cache.pin_if_cached(keys[1]).has_value());
  CHECK(cache.pin_if_cached(keys[4]).has_value());
}

TEST_CASE("an entry larger than the capacity is served and dropped when unpinned") {
  read_cache cache(256);
  coloured_address small(base, 0);
  coloured_address big(base + 8192, 0);
  pin(cache, small, 64);
  int fills = 0;
  {
    cached_copy a = pin(cache, big, 4096, &fills);
    cached_copy b = pin(cache, big, 4096, &fills);
    CHECK(fills == 1);
    CHECK(holds_pattern(a, big));
    CHECK(cache.pin_if_cached(small).has_value());  // only unpinned copies would go, none must
  }
  CHECK_FALSE(cache.pin_if_cached(big).has_value());
  CHECK(cache.pin_if_cached(small).has_value());  // the big one went, not the small one
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes_cached == 64);
  CHECK(cache.stats().evictions == 1);
}

TEST_CASE("a failed fill caches nothing and returns its error") {
  read_cache cache(1024);
  coloured_address key(base + 32, 7);
  auto failed = cache.pin(key, 64, [](void*) { return absl::UnavailableError("node 2 is gone"); });
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  CHECK(failed.status().message() == "node 2 is gone");
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes_cached == 0);
  CHECK_FALSE(cache.pin_if_cached(key).has_value());
  int fills = 0;
  cached_copy ok = pin(cache, key, 64, &fills);
  CHECK(fills == 1);
  CHECK(holds_pattern(ok, key));
}

TEST_CASE("a fill that throws caches nothing and the exception propagates") {
  read_cache cache(1024);
  coloured_address key(base + 32, 7);
  CHECK_THROWS_AS(static_cast<void>(cache.pin(
                      key, 64, [](void*) -> absl::Status { throw std::runtime_error("x"); })),
                  std::runtime_error);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes_cached == 0);
  cached_copy ok = pin(cache, key, 64);
  CHECK(holds_pattern(ok, key));
}

TEST_CASE("asking for more bytes than cached replaces the copy") {
  read_cache cache(1024);
  coloured_address key(base, 1);
  int fills = 0;
  cached_copy small = pin(cache, key, 16, &fills);
  cached_copy large = pin(cache, key, 64, &fills);
  CHECK(fills == 2);
  CHECK(large.size() == 64);
  CHECK(holds_pattern(small, key));  // the old reader keeps its copy
  CHECK(holds_pattern(large, key));
  cached_copy again = pin(cache, key, 32, &fills);  // a smaller view hits the larger copy
  CHECK(fills == 2);
  CHECK(again.data() == large.data());
}

TEST_CASE("forget drops every colour of an address; pinned copies live until unpinned") {
  read_cache cache(1 << 20);
  coloured_address a1(base + 256, 1);
  coloured_address a2(base + 256, 2);
  coloured_address a3(base + 256, 3);
  coloured_address other(base + 512, 1);
  pin(cache, a1, 32);
  pin(cache, a2, 32);
  pin(cache, other, 32);
  cached_copy held = pin(cache, a3, 32);
  CHECK(cache.stats().entries == 4);
  cache.forget(base + 256);
  CHECK_FALSE(cache.pin_if_cached(a1).has_value());
  CHECK_FALSE(cache.pin_if_cached(a2).has_value());
  CHECK_FALSE(cache.pin_if_cached(a3).has_value());
  CHECK(cache.pin_if_cached(other).has_value());
  CHECK(holds_pattern(held, a3));
  CHECK(cache.stats().entries == 2);  // `other` and the pinned, forgotten a3
  held.reset();
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes_cached == 32);
  int fills = 0;
  pin(cache, a3, 32, &fills);
  CHECK(fills == 1);
}

TEST_CASE("concurrent misses on one key: one fill, every reader sees the right bytes") {
  read_cache cache(1 << 20);
  coloured_address key(base + 640, 42);
  constexpr int threads = 16;
  std::atomic<int> fills{0};
  std::atomic<int> wrong{0};
  std::vector<const void*> seen(threads);
  drust_test::run_together(threads, [&](int t) {
    auto copy = cache.pin(key, 1000, [&](void* destination) {
      fills.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the others miss too
      return fill_pattern(key, 1000, destination);
    });
    if (!copy.ok() || !holds_pattern(*copy, key)) wrong.fetch_add(1);
    seen[static_cast<std::size_t>(t)] = copy.ok() ? copy->data() : nullptr;
  });
  CHECK(fills.load() == 1);
  CHECK(wrong.load() == 0);
  for (const void* p : seen) CHECK(p == seen[0]);
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().hits == threads - 1);
}

TEST_CASE("concurrent misses where the first fill fails: a waiter fills instead") {
  read_cache cache(1 << 20);
  coloured_address key(base + 768, 1);
  constexpr int threads = 8;
  std::atomic<int> fills{0};
  std::atomic<int> failures{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto copy = cache.pin(key, 64, [&](void* destination) {
        if (fills.fetch_add(1) == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return absl::UnavailableError("first read fails");
        }
        return fill_pattern(key, 64, destination);
      });
      if (!copy.ok()) {
        failures.fetch_add(1);
      } else if (!holds_pattern(*copy, key)) {
        wrong.fetch_add(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(failures.load() == 1);
  CHECK(wrong.load() == 0);
  CHECK(fills.load() == 2);
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("fills published while other readers wait for them: no reader sleeps through one, one fill per key") {
  // A filler publishes its copy with no lock and wakes waiters only when it sees them counted:
  // many short fills of keys that every thread asks for at about the same time. A lost wake-up
  // leaves a thread asleep (the test then times out); a second fill of a key breaks the count.
  read_cache cache(8 << 20);
  constexpr int threads = 8;
  constexpr int keys = 4000;
  std::atomic<int> fills{0};
  std::atomic<int> wrong{0};
  drust_test::run_together(threads, [&](int) {
    for (int i = 0; i < keys; ++i) {
      coloured_address key(base + 4096 + 64 * static_cast<std::uint64_t>(i % 16), static_cast<std::uint16_t>(i / 16));
      auto copy = cache.pin(key, 64, [&](void* destination) {
        fills.fetch_add(1);
        return fill_pattern(key, 64, destination);
      });
      if (!copy.ok() || !holds_pattern(*copy, key)) wrong.fetch_add(1);
    }
  });
  CHECK(wrong.load() == 0);
  CHECK(fills.load() == keys);  // nothing is evicted (64 B x 4000 is within the capacity)
  CHECK(cache.stats().entries == keys);
  CHECK(cache.stats().evictions == 0);
}

TEST_CASE("mixed pin, unpin and forget from several threads keep every copy intact") {
  read_cache cache(64 * 200);  // room for about a third of the copies
  constexpr int threads = 8;
  constexpr int addresses = 64;
  constexpr int colours = 4;
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      std::vector<cached_copy> held;
      for (int i = 0; i < 20000; ++i) {
        int what = static_cast<int>(random() % 10);
        std::uint64_t address = base + 4096 * (random() % addresses);
        auto colour = static_cast<std::uint16_t>(random() % colours);
        coloured_address key(address, colour);
        std::size_t size = 64 + (address / 4096 % 4) * 128;  // fixed per address
        if (what < 6) {
          auto copy = cache.pin(key, size, [&](void* d) { return fill_pattern(key, size, d); });
          if (!copy.ok() || copy->size() < size || !holds_pattern(*copy, key)) {
            wrong.fetch_add(1);
            continue;
          }
          held.push_back(std::move(copy).value());
        } else if (what < 9) {
          if (!held.empty()) held.erase(held.begin() + static_cast<long>(random() % held.size()));
        } else {
          cache.forget(address);
        }
        if (held.size() > 8) held.erase(held.begin());
        for (const auto& h : held) {
          if (!holds_pattern(h, h.key())) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(wrong.load() == 0);
  auto s = cache.stats();
  CHECK(s.bytes_cached <= cache.capacity_bytes());
  CHECK(s.evictions > 0);
  CHECK(s.hits > 0);
}

TEST_CASE("cached_copy moves its pin; reset and move-assignment unpin") {
  read_cache cache(100);
  coloured_address a(base, 1);
  coloured_address b(base + 512, 1);
  cached_copy first = pin(cache, a, 100);
  cached_copy moved = std::move(first);
  CHECK_FALSE(first);  // NOLINT(bugprone-use-after-move): a moved-from copy is empty
  CHECK(moved);
  CHECK(holds_pattern(moved, a));
  // `a` is pinned by `moved`: pinning b (over capacity) must not evict it.
  cached_copy second = pin(cache, b, 100);
  CHECK(holds_pattern(moved, a));
  CHECK(cache.stats().evictions == 0);
  moved = std::move(second);  // unpins a: the cache is over capacity, so a goes
  CHECK(cache.stats().evictions == 1);
  CHECK_FALSE(cache.pin_if_cached(a).has_value());
  CHECK(holds_pattern(moved, b));
  moved.reset();
  CHECK_FALSE(moved);
  CHECK(cache.stats().entries == 1);
  CHECK(cache.pin_if_cached(b).has_value());
}
