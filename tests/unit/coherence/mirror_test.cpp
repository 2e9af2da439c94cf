#include "coherence/mirror.hpp"

#include <doctest/doctest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <drust/detail/heap.hpp>
#include <vector>

#include "coherence/colour.hpp"
#include "run_together.hpp"

using drust::coherence::coloured_address;
using drust::coherence::mirror;
using drust::heap::global_heap_base;
using drust::heap::heap_layout;
using drust::heap::partition;

namespace {

constexpr std::uint64_t partition_size = 16ull << 20;
const heap_layout layout{partition_size, 2};

// This process is node 1; node 0's partition (the "home" of every object below) is simulated by
// `home`: what a one-sided read of [address, address + size) would bring.
struct fixture {
  partition own = std::move(partition::reserve(layout, 1)).value();
  std::vector<std::uint8_t> home = std::vector<std::uint8_t>(partition_size);
  std::unique_ptr<mirror> view;
  std::vector<std::pair<std::uint64_t, std::size_t>> reads;  // (address, size) of each fill

  explicit fixture(std::size_t capacity = 1 << 20) {
    view = std::move(mirror::create(layout, 1, capacity)).value();
    // What the handles' inline probe reads (object_store::open_mirror publishes the same).
    drust::detail::mirror_shadow_origin = view->shadow_origin();
    drust::detail::mirror_begin = global_heap_base;
    drust::detail::mirror_size = 2 * partition_size;
  }
  ~fixture() {
    drust::detail::mirror_size = 0;
    view.reset();
  }

  // Node 0's object at `offset` takes new bytes (a write there, which also gives a new colour).
  void write_home(std::uint64_t offset, std::size_t size, std::uint8_t seed) {
    for (std::size_t i = 0; i < size; ++i) home[offset + i] = static_cast<std::uint8_t>(seed + i);
  }

  const void* borrow(std::uint64_t word, std::size_t size) {
    auto bytes = view->borrow(word, size, [&](std::uint64_t address, void* destination, std::size_t length) {
      reads.emplace_back(address, length);
      std::memcpy(destination, home.data() + (address - global_heap_base), length);
      return absl::OkStatus();
    });
    REQUIRE(bytes.ok());
    return *bytes;
  }
};

std::uint64_t word(std::uint64_t offset, std::uint16_t colour) {
  return coloured_address(global_heap_base + offset, colour).raw();
}

bool holds(const void* bytes, std::size_t size, std::uint8_t seed) {
  const auto* b = static_cast<const std::uint8_t*>(bytes);
  for (std::size_t i = 0; i < size; ++i) {
    if (b[i] != static_cast<std::uint8_t>(seed + i)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a copy lives at the object's own address and is read once per colour") {
  fixture f;
  f.write_home(4096, 64, 10);
  const void* bytes = f.borrow(word(4096, 3), 64);
  CHECK(bytes == reinterpret_cast<const void*>(global_heap_base + 4096));
  CHECK(holds(bytes, 64, 10));
  REQUIRE(f.reads.size() == 1);
  CHECK(f.reads[0] == std::pair<std::uint64_t, std::size_t>{global_heap_base + 4096, 64});

  // Later borrows of the same colour read nothing: the slow path and the inline probe both hit.
  CHECK(f.borrow(word(4096, 3), 64) == bytes);
  CHECK(drust::detail::mirrored_copy(word(4096, 3), 64) == bytes);
  CHECK(drust::detail::mirrored_copy(word(4096, 3), 16) == bytes);
  CHECK(f.reads.size() == 1);

  // A write at home gives the object a new colour: the old copy is never found for it, and the
  // new bytes are read over the old ones.
  f.write_home(4096, 64, 200);
  CHECK(drust::detail::mirrored_copy(word(4096, 4), 64) == nullptr);
  const void* again = f.borrow(word(4096, 4), 64);
  CHECK(again == bytes);
  CHECK(holds(again, 64, 200));
  CHECK(f.reads.size() == 2);
  CHECK(drust::detail::mirrored_copy(word(4096, 3), 64) == nullptr);  // the old colour: gone
  CHECK(drust::detail::mirrored_copy(word(4096, 4), 64) == again);
  CHECK(f.view->stats().fills == 2);
}

TEST_CASE("the inline probe gives the copy's address at colour 0 and above") {
  // At colour 0 the probe returns the word as it stands (no mask on a pointer chase's chain);
  // above 0 it must drop the colour: a pointer with colour bits would not be canonical.
  fixture f;
  f.write_home(20480, 64, 30);
  const void* at_zero = f.borrow(word(20480, 0), 64);
  CHECK(at_zero == reinterpret_cast<const void*>(global_heap_base + 20480));
  CHECK(drust::detail::mirrored_copy(word(20480, 0), 64) == at_zero);
  CHECK(holds(drust::detail::mirrored_copy(word(20480, 0), 64), 64, 30));
  f.write_home(20480, 64, 40);
  CHECK(drust::detail::mirrored_copy(word(20480, 1), 64) == nullptr);
  CHECK(f.borrow(word(20480, 1), 64) == at_zero);
  CHECK(drust::detail::mirrored_copy(word(20480, 1), 64) == at_zero);
  CHECK(holds(drust::detail::mirrored_copy(word(20480, 1), 64), 64, 40));
  CHECK(drust::detail::mirrored_copy(word(20480, 0), 64) == nullptr);  // the old colour: gone
}

TEST_CASE("a fresh table holds nothing: no word matches an entry never written") {
  fixture f;
  for (std::uint16_t colour : {0, 1, 2, 0xfffe, 0xffff}) {
    CHECK(drust::detail::mirrored_copy(word(8192, colour), 16) == nullptr);
    CHECK(drust::detail::mirrored_copy(word(8192, colour), 1) == nullptr);
  }
  // Outside the global heap there is no entry to read at all.
  CHECK(drust::detail::mirrored_copy(0x1234'5670, 16) == nullptr);
}

TEST_CASE("a larger borrow of the same colour reads only the bytes the copy lacks") {
  fixture f;
  f.write_home(12288, 256, 1);
  CHECK(holds(f.borrow(word(12288, 9), 32), 32, 1));
  CHECK(drust::detail::mirrored_copy(word(12288, 9), 64) == nullptr);  // holds 2 granules, not 4
  CHECK(holds(f.borrow(word(12288, 9), 64), 64, 1));
  REQUIRE(f.reads.size() == 2);
  CHECK(f.reads[1] == std::pair<std::uint64_t, std::size_t>{global_heap_base + 12288 + 32, 32});
  CHECK(drust::detail::mirrored_copy(word(12288, 9), 64) != nullptr);
}

TEST_CASE("a range that starts inside a granule is copied from the granule's start") {
  fixture f;
  f.write_home(16384, 128, 50);
  // Elements 3.. of an int array at 16384: the entry is the granule's, and it covers the range.
  const void* bytes = f.borrow(word(16384 + 12, 5), 40);
  CHECK(bytes == reinterpret_cast<const void*>(global_heap_base + 16384 + 12));
  CHECK(std::memcmp(bytes, f.home.data() + 16384 + 12, 40) == 0);
  REQUIRE(f.reads.size() == 1);
  CHECK(f.reads[0] == std::pair<std::uint64_t, std::size_t>{global_heap_base + 16384, 64});
  // The whole array (same colour) from the same granule: 48 bytes are there, the rest is read.
  CHECK(drust::detail::mirrored_copy(word(16384, 5), 52) == reinterpret_cast<const void*>(global_heap_base + 16384));
  CHECK(drust::detail::mirrored_copy(word(16384, 5), 128) == nullptr);
  CHECK(std::memcmp(f.borrow(word(16384, 5), 128), f.home.data() + 16384, 128) == 0);
}

TEST_CASE("what the mirror leaves to the read cache: the last colour, its own node, too large, past capacity") {
  fixture f(2 * 4096);
  CHECK(f.borrow(word(4096, 0xffff), 16) == nullptr);                      // saturated
  CHECK(f.borrow(layout.partition_begin(1) + 64, 16) == nullptr);          // this node's own object
  CHECK(f.borrow(word(65536, 1), mirror::max_copy_size + 1) == nullptr);   // a large copy: the read cache
  CHECK(f.reads.empty());

  // Two pages of capacity: copies on two pages fit (more copies on them too), a third page not.
  CHECK(f.borrow(word(4096, 1), 16) != nullptr);
  CHECK(f.borrow(word(4096 + 64, 1), 16) != nullptr);
  CHECK(f.borrow(word(8192, 1), 16) != nullptr);
  CHECK(f.view->stats().bytes_backed == 2 * 4096);
  CHECK(f.borrow(word(3 * 4096, 1), 16) == nullptr);
  CHECK(f.view->stats().bytes_backed == 2 * 4096);
  CHECK(f.view->stats().declined == 4);
  // A page already backed still takes a newer colour of its objects.
  CHECK(f.borrow(word(4096, 2), 16) != nullptr);
}

namespace {

// Minor page faults this thread has taken so far.
long thread_faults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Whether this kernel prefaults with MADV_POPULATE_READ (Linux 5.14 and later).
bool kernel_populates() {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  const bool populated = madvise(page, 4096, MADV_POPULATE_READ) == 0;
  munmap(page, 4096);
  return populated;
}

// Loads the shadow entry of every 16 KiB of node 0's heap in [offset, offset + length), as
// handles' inline probes do: one load per page of the shadow table.
void probe_shadow(std::uint64_t offset, std::uint64_t length) {
  for (std::uint64_t at = offset; at < offset + length; at += 16 << 10) {
    const std::uint64_t address = global_heap_base + at;
    (void)*reinterpret_cast<const volatile std::uint32_t*>(drust::detail::mirror_shadow_origin + (address >> 4) * 4);
  }
}

}  // namespace

TEST_CASE("a miss makes the shadow around its object present, so that later probes there take no fault") {
  fixture f;
  // Four times the window's bytes of heap per window: [0, 256 KiB) of node 0's partition is one.
  const std::uint64_t window_heap = mirror::shadow_window * 4;
  // A large object: left to the read cache, yet its neighbours' entries are made present.
  CHECK(f.borrow(word(4096, 1), 4096) == nullptr);
  if (!kernel_populates()) {
    WARN_MESSAGE(false, "this kernel has no MADV_POPULATE_READ (Linux 5.14): the shadow faults in page by page");
    CHECK(f.view->stats().shadow_windows == 0);
    return;
  }
  REQUIRE(f.view->stats().shadow_windows == 1);
  long before = thread_faults();
  probe_shadow(0, window_heap);  // 16 pages of shadow
  const long populated = thread_faults() - before;
  // The control: the same probes of a window no miss touched fault page by page. (Under the
  // sanitizers both counts also hold the faults of the sanitizer's own shadow memory, the same
  // for both windows: hence the difference.)
  before = thread_faults();
  probe_shadow(8 * window_heap, window_heap);
  const long untouched = thread_faults() - before;
  CHECK(untouched - populated >= 8);
  // Another miss in the same window populates nothing more.
  CHECK(f.borrow(word(window_heap - 4096, 1), 64) != nullptr);
  CHECK(f.view->stats().shadow_windows == 1);
  // This node's own partition is never mirrored: a borrow there populates nothing.
  CHECK(f.borrow(layout.partition_begin(1) + 64, 16) == nullptr);
  CHECK(f.view->stats().shadow_windows == 1);
}

TEST_CASE("a failed read is reported and leaves no copy behind") {
  fixture f;
  auto failed = f.view->borrow(word(4096, 1), 64, [](std::uint64_t, void*, std::size_t) {
    return absl::UnavailableError("node 0 failed");
  });
  CHECK(failed.status().message() == "node 0 failed");
  CHECK(drust::detail::mirrored_copy(word(4096, 1), 64) == nullptr);
  f.write_home(4096, 64, 77);
  CHECK(holds(f.borrow(word(4096, 1), 64), 64, 77));  // read again, as if never tried
}

TEST_CASE("many threads borrowing the same objects: every copy right, one read per object") {
  // Each thread borrows every object; the first to claim an object's entry reads it, and a thread
  // that meets the entry while it is being read is turned to the read cache (nullptr), never given
  // unread bytes.
  fixture f;
  constexpr int objects = 2000;
  constexpr int threads = 6;
  for (int i = 0; i < objects; ++i) f.write_home(64 * i, 64, static_cast<std::uint8_t>(i));
  std::atomic<int> reads{0};
  std::atomic<int> wrong{0};
  drust_test::run_together(threads, [&](int) {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < objects; ++i) {
        const std::uint64_t w = word(64 * i, 7);
        const void* bytes = drust::detail::mirrored_copy(w, 64);
        if (bytes == nullptr) {
          auto borrowed = f.view->borrow(w, 64, [&](std::uint64_t address, void* destination, std::size_t length) {
            reads.fetch_add(1);
            std::memcpy(destination, f.home.data() + (address - global_heap_base), length);
            return absl::OkStatus();
          });
          if (!borrowed.ok()) wrong.fetch_add(1);
          bytes = borrowed.ok() ? *borrowed : nullptr;
        }
        if (bytes != nullptr && !holds(bytes, 64, static_cast<std::uint8_t>(i))) wrong.fetch_add(1);
      }
    }
  });
  CHECK(wrong.load() == 0);
  CHECK(reads.load() == objects);
  CHECK(f.view->stats().fills == objects);
}
