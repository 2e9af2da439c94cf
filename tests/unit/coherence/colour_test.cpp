#include "coherence/colour.hpp"

#include <doctest/doctest.h>

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"

using drust::coherence::address_mask;
using drust::coherence::coloured_address;
using drust::coherence::max_colour;

namespace {
constexpr std::uint64_t some_address = 0x1000'0000'1240ull;
}

TEST_CASE("an address and a colour pack into one word and back") {
  constexpr coloured_address a(some_address, 0x1234);
  static_assert(a.address() == some_address);
  static_assert(a.colour() == 0x1234);
  CHECK(a.raw() == ((std::uint64_t{0x1234} << 48) | some_address));
  CHECK(coloured_address::from_raw(a.raw()) == a);
  CHECK(coloured_address::from_raw(a.raw()).address() == some_address);
  CHECK(coloured_address::from_raw(a.raw()).colour() == 0x1234);

  for (std::uint64_t address : {drust::heap::global_heap_base, drust::heap::global_heap_limit - 16,
                                std::uint64_t{0}, address_mask}) {
    for (std::uint16_t colour :
         {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{0x8000}, max_colour}) {
      coloured_address c(address, colour);
      CHECK(c.address() == address);
      CHECK(c.colour() == colour);
      CHECK(coloured_address::from_raw(c.raw()) == c);
    }
  }
  CHECK(coloured_address().raw() == 0);
}

TEST_CASE("the heap's whole range fits below the colour bits") {
  static_assert(drust::heap::global_heap_limit - 1 <= address_mask);
  coloured_address top(drust::heap::global_heap_limit - 1, max_colour);
  CHECK(top.address() == drust::heap::global_heap_limit - 1);
  CHECK(top.colour() == max_colour);
}

TEST_CASE("with_colour keeps the address and changes only the colour") {
  coloured_address a(some_address, 3);
  coloured_address b = a.with_colour(9);
  CHECK(b.address() == some_address);
  CHECK(b.colour() == 9);
  CHECK(a != b);
  CHECK(b.with_colour(3) == a);
}

TEST_CASE("next_colour counts up and reports overflow at 0xffff") {
  constexpr coloured_address zero(some_address, 0);
  static_assert(zero.next_colour()->colour() == 1);
  coloured_address c = zero;
  for (int i = 0; i < 0xffff; ++i) {
    auto next = c.next_colour();
    REQUIRE(next.has_value());
    CHECK(next->colour() == c.colour() + 1);
    CHECK(next->address() == some_address);
    c = *next;
  }
  CHECK(c.colour() == max_colour);
  CHECK_FALSE(c.next_colour().has_value());
  static_assert(!coloured_address(some_address, max_colour).next_colour().has_value());
}

TEST_CASE("equality and hashing distinguish colours of one address") {
  coloured_address a(some_address, 1);
  coloured_address b(some_address, 2);
  coloured_address c(some_address + 16, 1);
  CHECK(a == coloured_address(some_address, 1));
  CHECK(a != b);
  CHECK(a != c);
  CHECK(absl::Hash<coloured_address>{}(a) ==
        absl::Hash<coloured_address>{}(coloured_address(some_address, 1)));
  absl::flat_hash_set<coloured_address> set = {a, b, c, coloured_address(some_address, 1)};
  CHECK(set.size() == 3);
  CHECK(set.contains(b));
  CHECK_FALSE(set.contains(coloured_address(some_address, 3)));
}
