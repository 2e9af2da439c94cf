// The read cache's copy arena: every size and alignment gets a block that is big enough, aligned,
// and disjoint from every other live block; freed blocks are reused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "../huge_pages.hpp"
#include "coherence/copy_arena.hpp"

using drust::coherence::copy_arena;

namespace {

struct live_block {
  unsigned char* bytes;
  std::size_t size;
  std::size_t alignment;
  unsigned char mark;
};

}  // namespace

TEST_CASE("blocks are large enough, aligned and disjoint, for every size class and beyond") {
  copy_arena arena;
  std::vector<live_block> live;
  unsigned char mark = 1;
  std::vector<std::size_t> sizes;
  for (std::size_t size = 1; size <= 1024; ++size) sizes.push_back(size);
  for (std::size_t size = 1025; size <= 600000; size = size * 5 / 4 + 3) sizes.push_back(size);
  for (std::size_t size : sizes) {
    for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{64}, std::size_t{4096}, std::size_t{8192}}) {
      auto* bytes = static_cast<unsigned char*>(arena.allocate(size, alignment));
      REQUIRE(bytes != nullptr);
      CHECK(reinterpret_cast<std::uintptr_t>(bytes) % alignment == 0);
      std::memset(bytes, mark, size);
      live.push_back({bytes, size, alignment, mark});
      mark = static_cast<unsigned char>(mark % 250 + 1);
    }
  }
  // Every block still holds its own mark: no two overlapped.
  for (const live_block& block : live) {
    const bool intact = std::all_of(block.bytes, block.bytes + block.size, [&](unsigned char c) { return c == block.mark; });
    CHECK_MESSAGE(intact, "block of " << block.size << " bytes, alignment " << block.alignment);
  }
  for (const live_block& block : live) arena.deallocate(block.bytes, block.size, block.alignment);
}

TEST_CASE("a freed block is handed out again for its class; large blocks go back to the system") {
  copy_arena arena;
  void* first = arena.allocate(100, 16);
  arena.deallocate(first, 100, 16);
  CHECK(arena.allocate(110, 16) == first);  // 100 and 110 share the 112-byte class
  const std::size_t held = arena.bytes_held();
  void* large = arena.allocate(1 << 20, 16);
  CHECK(arena.bytes_held() == held + (1 << 20));
  arena.deallocate(large, 1 << 20, 16);
  CHECK(arena.bytes_held() == held);
}

TEST_CASE("with huge pages, a block of 2 MiB or more is 2 MiB-aligned and advised onto huge pages") {
  constexpr std::size_t two_mib = std::size_t{2} << 20;
  copy_arena arena(/*huge_pages=*/true);
  auto* large = static_cast<unsigned char*>(arena.allocate(3 * two_mib + 4096, 16));
  CHECK(reinterpret_cast<std::uintptr_t>(large) % two_mib == 0);
  std::memset(large, 0x5a, 3 * two_mib + 4096);  // all of it is usable
  CHECK(large[3 * two_mib + 4095] == 0x5a);
  if (thp_mode() != "never") CHECK(thp_eligible(large) == 1);
  arena.deallocate(large, 3 * two_mib + 4096, 16);

  // Without huge pages (the default), and for blocks under 2 MiB, no advice: under the "madvise"
  // policy the kernel then keeps them on 4 KiB pages.
  copy_arena plain;
  void* block = plain.allocate(4 * two_mib, 16);
  copy_arena huge(/*huge_pages=*/true);
  void* small = huge.allocate(1 << 20, 16);
  if (thp_mode() == "madvise") {
    CHECK(thp_eligible(block) == 0);
    CHECK(thp_eligible(small) == 0);
  }
  plain.deallocate(block, 4 * two_mib, 16);
  huge.deallocate(small, 1 << 20, 16);
}
