// The global heap on one node: colours from the watermarks, address reuse, the pressure threshold
// and exhaustion (with no other node to spill to), and the unique_ptr handle on top of it.
#include "heap/global_heap.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "heap/colour_watermarks.hpp"
#include "heap/partition.hpp"

using drust::heap::colour_watermarks;
using drust::heap::global_heap;
using drust::heap::global_heap_options;
using drust::heap::heap_layout;
using drust::heap::partition;

namespace {

constexpr std::uint64_t mask = (std::uint64_t{1} << 48) - 1;
std::uint16_t colour(std::uint64_t word) { return static_cast<std::uint16_t>(word >> 48); }

}  // namespace

TEST_CASE("watermarks: a new object's colour is above every colour retired on any page it touches") {
  const std::uintptr_t base = 0x100000000000ull;
  colour_watermarks marks(base, 64 * 4096);
  CHECK(marks.colour_for(base, 16) == 0);
  CHECK(marks.retire(base + 100, 16, 7));
  CHECK(marks.colour_for(base, 16) == 8);         // same page, another address
  CHECK(marks.colour_for(base + 4096, 16) == 0);  // another page
  // An object spanning pages 0..2 that ended with colour 20 raises all three.
  CHECK(marks.retire(base + 4000, 2 * 4096, 20));
  CHECK(marks.colour_for(base + 2 * 4096 + 8, 16) == 21);
  CHECK(marks.colour_for(base + 3 * 4096, 16) == 0);
  // A lower colour never lowers a watermark.
  CHECK(marks.retire(base, 16, 3));
  CHECK(marks.colour_for(base, 16) == 21);
  // The last colour cannot be retired: such a block must never be reused.
  CHECK_FALSE(marks.retire(base, 16, colour_watermarks::exhausted));
}

TEST_CASE("global heap on one node: reuse gets higher colours, exhaustion is an error that says so") {
  auto part = partition::reserve(heap_layout{16ull << 20, 1}, 0);
  REQUIRE(part.ok());
  global_heap_options options;
  options.heap_size = 4ull << 20;
  global_heap heap(*part, 0, options);

  auto first = heap.allocate(100, 16);
  REQUIRE(first.ok());
  CHECK(heap.is_local(*first & mask));
  CHECK(heap.home_of(*first & mask) == 0);
  // Written twice (two colour bumps), then freed: the next object at that address is above both.
  const std::uint64_t written = *first + (std::uint64_t{2} << 48);
  heap.deallocate(written);
  auto second = heap.allocate(100, 16);
  REQUIRE(second.ok());
  CHECK((*second & mask) == (*first & mask));  // the same block, reused at once
  CHECK(colour(*second) == colour(written) + 1);
  heap.deallocate(*second);

  // Fill the heap: past the threshold there is no other node, so it fills up to the last byte,
  // then fails with a message naming the cause and the fix.
  std::vector<std::uint64_t> words;
  absl::StatusOr<std::uint64_t> next;
  while ((next = heap.allocate(64 * 1024, 16)).ok()) words.push_back(*next);
  CHECK(absl::IsResourceExhausted(next.status()));
  CHECK(std::string(next.status().message()).find("the global heap is full") != std::string::npos);
  CHECK(std::string(next.status().message()).find("drun --heap") != std::string::npos);
  CHECK(words.size() >= 60);  // 4 MiB of 64 KiB blocks, less the first partly used span
  CHECK(heap.counters().allocations_by_node[0].load() == words.size() + 2);
  std::set<std::uint64_t> addresses;
  for (std::uint64_t word : words) addresses.insert(word & mask);
  CHECK(addresses.size() == words.size());
  for (std::uint64_t word : words) heap.deallocate(word);
  CHECK(heap.counters().live_blocks.load() == 0);
  CHECK(heap.allocate(64 * 1024, 16).ok());  // usable again
}

TEST_CASE("a block whose colours ran out is never reused") {
  auto part = partition::reserve(heap_layout{16ull << 20, 1}, 0);
  REQUIRE(part.ok());
  global_heap_options options;
  options.heap_size = 4ull << 20;
  global_heap heap(*part, 0, options);
  auto word = heap.allocate(48, 16);
  REQUIRE(word.ok());
  const std::uint64_t exhausted = (*word & mask) | (std::uint64_t{0xffff} << 48);
  heap.deallocate(exhausted);
  CHECK(heap.counters().quarantined_bytes.load() >= 48);
  for (int i = 0; i < 1000; ++i) {
    auto other = heap.allocate(48, 16);
    REQUIRE(other.ok());
    CHECK((*other & mask) != (*word & mask));
  }
}
