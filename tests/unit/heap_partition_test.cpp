#include <doctest/doctest.h>

#include <cstring>

#include "heap/partition.hpp"
#include "huge_pages.hpp"

using drust::heap::global_heap_base;
using drust::heap::heap_layout;
using drust::heap::partition;

TEST_CASE("home node follows from the address alone") {
  heap_layout layout{64ull << 20, 4};
  CHECK(layout.home_of(global_heap_base) == 0);
  CHECK(layout.home_of(global_heap_base + (64ull << 20) - 1) == 0);
  CHECK(layout.home_of(global_heap_base + (64ull << 20)) == 1);
  CHECK(layout.home_of(layout.partition_begin(3) + 12345) == 3);
  CHECK(layout.home_of(layout.partition_begin(4)) == -1);  // past the last partition
  CHECK(layout.home_of(0x1000) == -1);                     // not in the global heap
}

TEST_CASE("a node's partition is usable and sits at the fixed address; the others are reserved") {
  heap_layout layout{32ull << 20, 3};
  auto reserved = partition::reserve(layout, 1);
  REQUIRE_MESSAGE(reserved.ok(), reserved.status().ToString());
  CHECK(reserved->begin() == reinterpret_cast<void*>(global_heap_base + (32ull << 20)));
  auto* bytes = static_cast<unsigned char*>(reserved->begin());
  std::memset(bytes, 0xab, 4096);
  bytes[reserved->size() - 1] = 7;
  CHECK(bytes[100] == 0xab);
  CHECK(bytes[reserved->size() - 1] == 7);

  // The range is taken: reserving it again fails with a message, rather than mapping elsewhere.
  auto again = partition::reserve(layout, 0);
  REQUIRE_FALSE(again.ok());
  CHECK(std::string(again.status().message()).find("cannot reserve the global heap") != std::string::npos);
}

TEST_CASE("bad partition sizes are refused") {
  CHECK_FALSE(partition::reserve(heap_layout{12345, 2}, 0).ok());
  CHECK_FALSE(partition::reserve(heap_layout{1ull << 40, 64}, 0).ok());  // 64 TiB does not fit
}

TEST_CASE("the partition may be advised onto huge pages; the advice fails only without THP") {
  heap_layout layout{32ull << 20, 2};
  auto reserved = partition::reserve(layout, 0);
  REQUIRE_MESSAGE(reserved.ok(), reserved.status().ToString());
  if (thp_mode() == "madvise") CHECK(thp_eligible(reserved->begin()) == 0);  // not before the advice
  const bool advised = reserved->advise_huge_pages();
  CHECK(advised == (thp_mode() != "never"));
  if (advised) CHECK(thp_eligible(reserved->begin()) == 1);
  auto* bytes = static_cast<unsigned char*>(reserved->begin());
  std::memset(bytes, 0x11, 4ull << 20);  // still ordinary memory
  CHECK(bytes[(4ull << 20) - 1] == 0x11);
}
