// Coloured global addresses: a 48-bit global-heap address with a 16-bit colour in the top bits.
//
// The read cache on every node is keyed by the coloured address, so changing an object's colour
// makes every cached copy of it unreachable: that is how a write "invalidates" without sending a
// message (docs/design/coherence.md, DESIGN.md section 5). When the colour has no successor
// (0xffff) the object cannot be recoloured: it stays at the last colour (*saturated*), which no
// reader ever caches, until an operation that may invalidate references gives it a fresh block.
//
//   coloured_address a(0x1000'0000'0040, 7);
//   auto b = a.next_colour();              // std::optional: empty when the colour is 0xffff
//   if (!b) { /* saturated: write in place, keep 0xffff */ }
//   std::uint64_t k = b->raw();           // one 64-bit word, as stored in a handle
//   assert(coloured_address::from_raw(k).address() == a.address());
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "heap/partition.hpp"

namespace drust::coherence {

inline constexpr unsigned address_bits = 48;
inline constexpr ::std::uint64_t address_mask = (::std::uint64_t{1} << address_bits) - 1;
inline constexpr ::std::uint16_t max_colour = 0xffff;

// Every global-heap address (including one past the end) must fit below the colour bits.
static_assert(heap::global_heap_limit <= (::std::uint64_t{1} << address_bits),
              "the global heap must fit in the 48 address bits of a coloured pointer");
static_assert(heap::global_heap_base < heap::global_heap_limit);

class coloured_address {
 public:
  constexpr coloured_address() = default;
  // `address` must fit in 48 bits (every global-heap address does); higher bits are dropped.
  constexpr coloured_address(::std::uint64_t address, ::std::uint16_t c)
      : raw_((address & address_mask) | (static_cast<::std::uint64_t>(c) << address_bits)) {}

  static constexpr coloured_address from_raw(::std::uint64_t raw) {
    coloured_address a;
    a.raw_ = raw;
    return a;
  }

  constexpr ::std::uint64_t raw() const { return raw_; }
  constexpr ::std::uint64_t address() const { return raw_ & address_mask; }
  constexpr ::std::uint16_t colour() const {
    return static_cast<::std::uint16_t>(raw_ >> address_bits);
  }

  constexpr coloured_address with_colour(::std::uint16_t c) const { return {address(), c}; }

  // The same address with the next colour, or nullopt when the colour is max_colour: the object
  // then stays at max_colour, never cached (a wrapped ::std::uint16_t could meet a stale copy).
  constexpr ::std::optional<coloured_address> next_colour() const {
    if (colour() == max_colour) return ::std::nullopt;
    return with_colour(static_cast<::std::uint16_t>(colour() + 1));
  }

  friend constexpr bool operator==(coloured_address, coloured_address) = default;

  template <typename H>
  friend H AbslHashValue(H state, coloured_address a) {
    return H::combine(::std::move(state), a.raw_);
  }

 private:
  ::std::uint64_t raw_ = 0;
};

static_assert(sizeof(coloured_address) == sizeof(::std::uint64_t));
static_assert(coloured_address(0x1234, 5).address() == 0x1234);
static_assert(coloured_address(0x1234, 5).colour() == 5);
static_assert(!coloured_address(0x1234, max_colour).next_colour().has_value());

}  // namespace drust::coherence
