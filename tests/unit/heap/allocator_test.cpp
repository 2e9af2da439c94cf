#include "heap/allocator.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "heap/partition.hpp"

using drust::heap::allocator;
using drust::heap::heap_layout;
using drust::heap::heap_page_size;
using drust::heap::max_small_size;
using drust::heap::partition;
using drust::heap::size_class_count;
using drust::heap::size_class_for;
using drust::heap::size_class_size;

namespace {

constexpr std::size_t partition_bytes = 64ull << 20;

// One partition per process at a time: each test case reserves it and releases it at the end.
struct heap_fixture {
  partition part;
  std::unique_ptr<allocator> heap;

  heap_fixture() {
    auto reserved = partition::reserve(heap_layout{partition_bytes, 1}, 0);
    REQUIRE_MESSAGE(reserved.ok(), reserved.status().ToString());
    part = std::move(*reserved);
    heap = std::make_unique<allocator>(part.begin(), part.size(), part.size());
  }
  ~heap_fixture() { heap.reset(); }
};

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

unsigned char pattern_of(std::uint64_t id) { return static_cast<unsigned char>(id * 131 + 7); }

void fill(void* p, std::size_t bytes, std::uint64_t id) { std::memset(p, pattern_of(id), bytes); }

bool intact(const void* p, std::size_t bytes, std::uint64_t id) {
  const auto* bytes_at = static_cast<const unsigned char*>(p);
  const unsigned char expected = pattern_of(id);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (bytes_at[i] != expected) return false;
  }
  return true;
}

// Live blocks must not overlap and must lie in the usable part of the partition.
bool disjoint(const allocator& heap, std::vector<void*> blocks) {
  std::sort(blocks.begin(), blocks.end());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (!heap.contains(blocks[i])) return false;
    if (i + 1 < blocks.size() &&
        address(blocks[i]) + heap.usable_size(blocks[i]) > address(blocks[i + 1])) {
      return false;
    }
  }
  return true;
}

std::size_t sum_usable(const allocator& heap, const std::vector<void*>& blocks) {
  std::size_t sum = 0;
  for (void* p : blocks) sum += heap.usable_size(p);
  return sum;
}

}  // namespace

TEST_CASE(
    "size classes: 16-byte steps to 128, then about 1.25x, every power of two, up to 32 KiB") {
  CHECK(size_class_size(0) == 16);
  CHECK(size_class_size(7) == 128);
  CHECK(size_class_size(size_class_count - 1) == max_small_size);
  for (int c = 1; c < size_class_count; ++c) {
    CHECK(size_class_size(c) > size_class_size(c - 1));
    CHECK(size_class_size(c) % 16 == 0);
    CHECK(size_class_size(c) * 4 <= size_class_size(c - 1) * 5 + 16 * 4);
  }
  for (std::size_t power = 16; power <= max_small_size; power *= 2) {
    CHECK(size_class_size(size_class_for(power, 16)) == power);
  }
  for (std::size_t bytes = 1; bytes <= max_small_size; ++bytes) {
    const int c = size_class_for(bytes, 16);
    REQUIRE(c >= 0);
    CHECK(size_class_size(c) >= bytes);
    if (c > 0) CHECK(size_class_size(c - 1) < bytes);
  }
  CHECK(size_class_for(max_small_size + 1, 16) == -1);
  CHECK(size_class_for(100, 8192) == -1);
  CHECK(size_class_size(size_class_for(100, 4096)) == 4096);
}

TEST_CASE(
    "every size class and large sizes: usable size, 16-alignment, no overlap, patterns intact") {
  heap_fixture f;
  allocator& heap = *f.heap;
  std::vector<std::pair<void*, std::size_t>> live;
  std::vector<void*> blocks;
  std::uint64_t id = 0;
  std::vector<std::size_t> sizes;
  for (int c = 0; c < size_class_count; ++c) {
    sizes.push_back(size_class_size(c));
    sizes.push_back(size_class_size(c) - 15);
  }
  for (std::size_t large : {max_small_size + 1, std::size_t{40000}, std::size_t{100000},
                            std::size_t{1} << 20, (std::size_t{5} << 20) + 3}) {
    sizes.push_back(large);
  }
  for (std::size_t bytes : sizes) {
    const int blocks_of_size = bytes <= 4096 ? 40 : 3;
    for (int i = 0; i < blocks_of_size; ++i) {
      void* p = heap.allocate(bytes, 16);
      REQUIRE(p != nullptr);
      CHECK(address(p) % 16 == 0);
      const std::size_t usable = heap.usable_size(p);
      CHECK(usable >= bytes);
      if (bytes <= max_small_size) {
        CHECK(usable == size_class_size(size_class_for(bytes, 16)));
      } else {
        CHECK(usable == (bytes + heap_page_size - 1) / heap_page_size * heap_page_size);
        CHECK(address(p) % heap_page_size == 0);
      }
      fill(p, usable, id);
      live.emplace_back(p, id++);
      blocks.push_back(p);
    }
  }
  CHECK(disjoint(heap, blocks));
  CHECK(heap.bytes_in_use() == sum_usable(heap, blocks));
  for (auto [p, block_id] : live) {
    CHECK(intact(p, heap.usable_size(p), block_id));
    heap.deallocate(p);
  }
  CHECK(heap.bytes_in_use() == 0);
}

TEST_CASE("alignment 16, 64, 4096 and beyond is honoured for small and large blocks") {
  heap_fixture f;
  allocator& heap = *f.heap;
  std::vector<void*> blocks;
  for (std::size_t alignment : {std::size_t{16}, std::size_t{64}, std::size_t{4096},
                                std::size_t{65536}, std::size_t{2} << 20}) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{24}, std::size_t{100}, std::size_t{1000},
                              std::size_t{5000}, std::size_t{32768}, std::size_t{70000}}) {
      for (int i = 0; i < 3; ++i) {
        void* p = heap.allocate(bytes, alignment);
        REQUIRE(p != nullptr);
        CHECK(address(p) % alignment == 0);
        CHECK(heap.usable_size(p) >= bytes);
        blocks.push_back(p);
      }
    }
  }
  CHECK(heap.allocate(16, 48) == nullptr);  // not a power of two
  CHECK(disjoint(heap, blocks));
  CHECK(heap.bytes_in_use() == sum_usable(heap, blocks));
  for (void* p : blocks) heap.deallocate(p);
  CHECK(heap.bytes_in_use() == 0);
}

TEST_CASE("freed blocks are reused") {
  heap_fixture f;
  allocator& heap = *f.heap;
  void* small = heap.allocate(48, 16);
  heap.deallocate(small);
  CHECK(heap.allocate(48, 16) == small);
  void* large = heap.allocate(300000, 16);
  void* after = heap.allocate(300000, 16);
  heap.deallocate(large);
  CHECK(heap.allocate(300000, 16) == large);
  heap.deallocate(small);
  heap.deallocate(large);
  heap.deallocate(after);
  // Everything freed coalesces: the whole partition is one block again.
  void* whole = heap.allocate(heap.capacity(), 16);
  CHECK(whole == f.part.begin());
  heap.deallocate(whole);
  CHECK(heap.bytes_in_use() == 0);
}

TEST_CASE("contains: this partition only") {
  heap_fixture f;
  auto* begin = static_cast<char*>(f.part.begin());
  CHECK(f.heap->contains(begin));
  CHECK(f.heap->contains(begin + partition_bytes - 1));
  CHECK_FALSE(f.heap->contains(begin + partition_bytes));
  CHECK_FALSE(f.heap->contains(begin - 1));
  CHECK(f.heap->capacity() == partition_bytes);
}

TEST_CASE("exhaustion returns nullptr, and allocation succeeds again after frees") {
  heap_fixture f;
  allocator& heap = *f.heap;
  CHECK(heap.allocate(heap.capacity() + 1, 16) == nullptr);
  CHECK(heap.allocate(~std::size_t{0}, 16) == nullptr);

  SUBCASE("large blocks") {
    std::vector<void*> blocks;
    while (void* p = heap.allocate(1 << 20, 16)) blocks.push_back(p);
    CHECK(blocks.size() == partition_bytes >> 20);
    CHECK(heap.bytes_in_use() == heap.capacity());
    CHECK(heap.allocate(16, 16) == nullptr);
    heap.deallocate(blocks.back());
    blocks.pop_back();
    void* again = heap.allocate(1 << 20, 16);
    CHECK(again != nullptr);
    blocks.push_back(again);
    for (void* p : blocks) heap.deallocate(p);
  }
  SUBCASE("small blocks, then the whole partition as one block") {
    std::vector<void*> blocks;
    std::size_t i = 0;
    const std::size_t sizes[] = {16, 200, 4096, 20000};
    while (void* p = heap.allocate(sizes[i++ % 4], 16)) blocks.push_back(p);
    CHECK(heap.bytes_in_use() == sum_usable(heap, blocks));
    CHECK(heap.bytes_in_use() > heap.capacity() * 3 / 4);
    CHECK(disjoint(heap, blocks));
    heap.deallocate(blocks.back());
    blocks.pop_back();
    void* again = heap.allocate(sizes[(i - 2) % 4], 16);  // the size of the block just freed
    CHECK(again != nullptr);
    for (void* p : blocks) heap.deallocate(p);
    CHECK(heap.allocate(heap.capacity(), 16) == nullptr);  // `again` is still live
    heap.deallocate(again);
    CHECK(heap.bytes_in_use() == 0);
    void* whole = heap.allocate(heap.capacity(), 16);
    CHECK(whole != nullptr);
    heap.deallocate(whole);
  }
}

TEST_CASE("bytes_in_use is exact after a random mix, and patterns survive") {
  heap_fixture f;
  allocator& heap = *f.heap;
  std::mt19937_64 random(42);
  std::map<void*, std::uint64_t> live;
  std::size_t expected = 0;
  for (std::uint64_t step = 0; step < 40000; ++step) {
    if (!live.empty() && random() % 100 < 50) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(random() % std::min<std::size_t>(live.size(), 16)));
      const std::size_t usable = heap.usable_size(it->first);
      REQUIRE(intact(it->first, usable, it->second));
      expected -= usable;
      heap.deallocate(it->first);
      live.erase(it);
    } else {
      const std::size_t bytes = random() % 10 == 0 ? random() % 200000 + 1 : random() % 3000 + 1;
      const std::size_t alignment = std::size_t{16} << (random() % 4);
      void* p = heap.allocate(bytes, alignment);
      REQUIRE(p != nullptr);
      REQUIRE(address(p) % alignment == 0);
      const std::size_t usable = heap.usable_size(p);
      fill(p, usable, step);
      live.emplace(p, step);
      expected += usable;
    }
    if (step % 1000 == 0) REQUIRE(heap.bytes_in_use() == expected);
  }
  std::vector<void*> blocks;
  for (auto& [p, id] : live) blocks.push_back(p);
  CHECK(disjoint(heap, blocks));
  CHECK(heap.bytes_in_use() == expected);
  for (auto& [p, id] : live) {
    CHECK(intact(p, heap.usable_size(p), id));
    heap.deallocate(p);
  }
  CHECK(heap.bytes_in_use() == 0);
}

TEST_CASE("many threads allocate and free concurrently, also each other's blocks") {
  heap_fixture f;
  allocator& heap = *f.heap;
  constexpr int threads = 8;
  std::mutex handoff_mutex;
  std::vector<std::pair<void*, std::uint64_t>> handoff;  // freed by whichever thread takes them
  std::atomic<int> corrupt{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<std::uint64_t>(t) + 1);
      std::vector<std::pair<void*, std::uint64_t>> mine;
      for (std::uint64_t step = 0; step < 20000; ++step) {
        const std::uint64_t id = (static_cast<std::uint64_t>(t) << 32) | step;
        const auto roll = random() % 100;
        if (roll < 40 || mine.empty()) {
          const std::size_t bytes =
              random() % 50 == 0 ? random() % 100000 + 1 : random() % 2000 + 1;
          void* p = heap.allocate(bytes, 16);
          if (p == nullptr) {
            failed.fetch_add(1);
            continue;
          }
          fill(p, std::min<std::size_t>(heap.usable_size(p), 4096), id);
          mine.emplace_back(p, id);
        } else if (roll < 55) {
          std::lock_guard lock(handoff_mutex);
          handoff.push_back(mine.back());
          mine.pop_back();
        } else {
          std::pair<void*, std::uint64_t> block = mine.back();
          mine.pop_back();
          if (roll < 70) {
            std::lock_guard lock(handoff_mutex);
            if (!handoff.empty()) {
              mine.push_back(block);
              block = handoff.back();
              handoff.pop_back();
            }
          }
          if (!intact(block.first, std::min<std::size_t>(heap.usable_size(block.first), 4096),
                      block.second)) {
            corrupt.fetch_add(1);
          }
          heap.deallocate(block.first);
        }
      }
      for (auto& [p, id] : mine) {
        if (!intact(p, std::min<std::size_t>(heap.usable_size(p), 4096), id)) corrupt.fetch_add(1);
        heap.deallocate(p);
      }
    });
  }
  for (auto& worker : workers) worker.join();
  CHECK(corrupt.load() == 0);
  CHECK(failed.load() == 0);
  for (auto& [p, id] : handoff) {
    CHECK(intact(p, std::min<std::size_t>(heap.usable_size(p), 4096), id));
    heap.deallocate(p);
  }
  CHECK(heap.bytes_in_use() == 0);
  // The exited threads' caches were flushed: the whole capacity is one block again.
  void* whole = heap.allocate(heap.capacity(), 16);
  CHECK(whole != nullptr);
  heap.deallocate(whole);
}

TEST_CASE("a thread that exits with cached blocks loses none of them") {
  heap_fixture f;
  allocator& heap = *f.heap;
  std::vector<void*> kept;
  std::thread worker([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 3000; ++i)
      blocks.push_back(heap.allocate(static_cast<std::size_t>(16 + (i % 40) * 48), 16));
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 3 == 0)
        kept.push_back(blocks[i]);
      else
        heap.deallocate(blocks[i]);
    }
  });
  worker.join();
  CHECK(std::find(kept.begin(), kept.end(), nullptr) == kept.end());
  CHECK(heap.bytes_in_use() == sum_usable(heap, kept));
  // Blocks allocated by the exited thread can be freed here.
  for (void* p : kept) heap.deallocate(p);
  CHECK(heap.bytes_in_use() == 0);
  void* whole = heap.allocate(heap.capacity(), 16);
  CHECK(whole != nullptr);
  heap.deallocate(whole);
}

TEST_CASE("a thread that outlives the allocator it cached blocks of exits cleanly") {
  std::atomic<int> stage{0};
  std::thread worker;
  {
    heap_fixture f;
    worker = std::thread([&] {
      void* p = f.heap->allocate(64, 16);
      f.heap->deallocate(p);  // now in this thread's cache
      stage.store(1);
      while (stage.load() != 2) std::this_thread::yield();
    });
    while (stage.load() != 1) std::this_thread::yield();
  }
  stage.store(2);
  worker.join();
  heap_fixture again;  // a new allocator on the same range works from a fresh state
  CHECK(again.heap->bytes_in_use() == 0);
  void* whole = again.heap->allocate(again.heap->capacity(), 16);
  CHECK(whole != nullptr);
  again.heap->deallocate(whole);
}

namespace {

// Runs `body` in a child process; true when it ended with SIGABRT (its output is discarded).
template <typename Body>
bool aborts(Body body) {
  const pid_t child = ::fork();
  if (child == 0) {
    // doctest reports signals as crashes: let this one end the child plainly, silently.
    std::signal(SIGABRT, SIG_DFL);
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    body();
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

}  // namespace

TEST_CASE("an invalid free stops the program with a message instead of corrupting the heap") {
  heap_fixture f;
  allocator& heap = *f.heap;
  void* large = heap.allocate(100000, 16);
  void* small = heap.allocate(100, 16);
  void* neighbour = heap.allocate(100000, 16);
  heap.deallocate(large);
  heap.deallocate(neighbour);  // merges with `large`: its pages are inside a free run now
  CHECK(aborts([&] { heap.deallocate(large); }));  // freed twice
  CHECK(aborts([&] { heap.deallocate(neighbour); }));
  CHECK(aborts([&] {
    void* again = heap.allocate(100000, 16);
    heap.deallocate(static_cast<char*>(again) + 4096);  // inside a block
  }));
  int outside = 0;
  CHECK(aborts([&] { heap.deallocate(&outside); }));
  CHECK_FALSE(aborts([&] { heap.deallocate(small); }));
  heap.deallocate(small);
  CHECK(heap.bytes_in_use() == 0);
}
