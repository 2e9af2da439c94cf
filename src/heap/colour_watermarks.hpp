// Per-page colour watermarks: what makes address reuse after a free safe (docs/design/coherence.md,
// "Address reuse").
//
// A copy of an object may stay cached on other nodes after the object is freed, keyed by the
// object's address and colour. For every 4 KiB page of the partition the home node keeps a
// watermark above every colour that any object touching the page ever had. A new object takes the
// highest watermark of the pages it touches, so it never shares an (address, colour) key with an
// earlier object at any of its addresses, however the allocator reuses the space.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "heap/allocator.hpp"

namespace drust::heap {

class colour_watermarks {
 public:
  // Colours a free cannot retire: an object ending with this colour is never reused.
  static constexpr ::std::uint16_t exhausted = 0xffff;

  colour_watermarks(::std::uintptr_t begin, ::std::size_t size)
      : begin_(begin),
        marks_(static_cast<::std::atomic<::std::uint16_t>*>(
            ::std::calloc(::std::max<::std::size_t>(size / heap_page_size, 1), sizeof(::std::atomic<::std::uint16_t>)))) {
    if (!marks_) throw ::std::bad_alloc();
  }

  // The colour for a new object at [address, address + size).
  ::std::uint16_t colour_for(::std::uintptr_t address, ::std::size_t size) const {
    ::std::uint16_t colour = 0;
    for (::std::size_t page = first_page(address), last = last_page(address, size); page <= last; ++page) {
      colour = ::std::max(colour, marks_.get()[page].load(::std::memory_order_relaxed));
    }
    return colour;
  }

  // The object at [address, address + size) last had `colour`: no later object there may use it
  // or any colour below it. False when the colour cannot be retired (it is the last one): the
  // block must then never be reused.
  bool retire(::std::uintptr_t address, ::std::size_t size, ::std::uint16_t colour) {
    if (colour == exhausted) return false;
    const auto next = static_cast<::std::uint16_t>(colour + 1);
    for (::std::size_t page = first_page(address), last = last_page(address, size); page <= last; ++page) {
      ::std::atomic<::std::uint16_t>& mark = marks_.get()[page];
      ::std::uint16_t seen = mark.load(::std::memory_order_relaxed);
      while (seen < next && !mark.compare_exchange_weak(seen, next, ::std::memory_order_relaxed)) {
      }
    }
    return true;
  }

 private:
  struct free_deleter {
    void operator()(void* p) const { ::std::free(p); }
  };
  ::std::size_t first_page(::std::uintptr_t address) const { return (address - begin_) / heap_page_size; }
  ::std::size_t last_page(::std::uintptr_t address, ::std::size_t size) const {
    return (address + ::std::max<::std::size_t>(size, 1) - 1 - begin_) / heap_page_size;
  }

  ::std::uintptr_t begin_;
  // calloc'd, so backed on demand like the partition.
  ::std::unique_ptr<::std::atomic<::std::uint16_t>, free_deleter> marks_;
};

}  // namespace drust::heap
