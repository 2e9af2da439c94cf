// Copies of other nodes' objects at the objects' own addresses: a cache hit with no lookup.
//
// Every node reserves the whole global heap at the same base (heap/partition.hpp). The mirror
// makes the other nodes' partitions readable and writable here (backed only where copies are put)
// and puts a copy of a remote object *at the object's own address*, in this node's view of its
// home's partition. A shadow colour table beside it records, for each 16-byte granule where a copy
// starts, the colour the copy was read at and how many granules it holds. A borrow is then the
// probe drust::detail::borrow_copy makes inline: one load of the shadow entry and a compare, and
// the object's address is the copy's. Pointers inside a copy are global words, as at home, so a
// walk through copies never translates anything. docs/design/coherence.md, "Cache hits at the
// object's own address".
//
// A write gives the object a new colour (or a new address), so the entry no longer matches and
// the next borrow reads the object again over the old bytes; address reuse after a free gets a
// colour above every earlier one (heap/colour_watermarks.hpp). An object at the last colour is
// never mirrored (it may be written in place, coherence.md "Colour saturation").
//
// Memory is counted in 4 KiB pages: a copy backs the pages it touches, and once `capacity` bytes
// of pages are backed the mirror takes no new pages (it never gives them back: this is step one
// of the design, without reclamation); borrows it cannot serve return nullptr and the caller uses
// the read cache, as it does for copies larger than `max_copy_size` (1 KiB) and for a granule
// another thread is filling at that moment.
//
//   auto mirror = coherence::mirror::create(layout, /*node=*/1, 64 << 20);
//   const void* bytes = *(*mirror)->borrow(word, sizeof(node_t),
//       [&](std::uint64_t address, void* destination, std::size_t size) {
//         return transport.read(home, destination, size, address);  // into the object's address
//       });
//   if (bytes == nullptr) { /* not mirrored: use the read cache */ }
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "common/status.hpp"
#include "heap/partition.hpp"

namespace drust::coherence {

struct mirror_stats {
  ::std::uint64_t fills = 0;           // copies read into the mirror (misses it served)
  ::std::uint64_t declined = 0;        // borrows it left to the read cache (full, too large, busy)
  ::std::uint64_t bytes_backed = 0;    // pages that hold copies, in bytes
  ::std::uint64_t capacity = 0;
  ::std::uint64_t shadow_windows = 0;  // windows of the shadow table prefaulted (populate_shadow)
};

class mirror {
 public:
  // Copies larger than this go to the read cache. The mirror is for small objects, where the
  // lookup a read-cache hit pays is most of the access (a list node, a tree node); a large copy
  // gains little from it and would take pages that, without reclamation, are never given back,
  // while the read cache evicts. (The shadow entry could count up to 0xffff granules.)
  static constexpr ::std::size_t max_copy_size = 1024;
  // The shadow table is faulted in a window of this many bytes at a time (populate_shadow), which
  // covers four times as many bytes of the heap.
  static constexpr ::std::size_t shadow_window = ::std::size_t{64} << 10;

  // `layout`'s partitions other than `node`'s become readable and writable on this node (they must
  // be reserved already: heap::partition::reserve), and the shadow table is reserved (a quarter of
  // the global heap's size, backed on demand). `capacity`: bytes of pages copies may back.
  static absl::StatusOr<::std::unique_ptr<mirror>> create(const heap::heap_layout& layout, int node,
                                                           ::std::size_t capacity);
  ~mirror();
  mirror(const mirror&) = delete;
  mirror& operator=(const mirror&) = delete;

  // Reads `size` bytes at global `address` from its home into `destination` (the same address).
  using fill_function = absl::FunctionRef<absl::Status(::std::uint64_t address, void* destination, ::std::size_t size)>;

  // The bytes of the remote object at `word` (its first `size` bytes), at the object's own
  // address: read with `fill` unless this node holds a copy of that colour. nullptr when the
  // mirror does not serve it (see above). An error is the fill's; the copy is then forgotten.
  absl::StatusOr<const void*> borrow(::std::uint64_t word, ::std::size_t size, fill_function fill);

  // What drust::detail::borrow_copy needs to find a shadow entry: the entry of address `a` is the
  // 32-bit word at origin + (a >> 4) * 4 (docs/design/coherence.md).
  ::std::uintptr_t shadow_origin() const;

  mirror_stats stats() const;

 private:
  mirror(const heap::heap_layout& layout, int node, ::std::size_t capacity);

  // Marks the pages of [begin, end) backed; false (and nothing marked) when new ones would pass
  // the capacity.
  bool back_pages(::std::uint64_t begin, ::std::uint64_t end);
  // The first load of a shadow page is a page fault (the zero page is mapped in), and a handle's
  // inline probe makes that load before anything else: one fault per 16 KiB of remote objects
  // first read, 10-15 us each at times in a virtual machine (docs/PERFORMANCE.md, "The tails
  // of a miss"). A miss therefore maps the zero page under the whole shadow window around its
  // object (MADV_POPULATE_READ), once per window: one call for 64 KiB of shadow, page tables only,
  // no memory (a write to an entry then copies the page as before).
  void populate_shadow(::std::uint64_t address);

  heap::heap_layout layout_;
  int node_;
  ::std::size_t capacity_;
  ::std::atomic<::std::uint32_t>* shadow_ = nullptr;  // one entry per granule of the global heap
  ::std::size_t shadow_bytes_ = 0;
  ::std::atomic<::std::uint64_t>* pages_ = nullptr;   // one bit per 4 KiB page: backed by a copy
  ::std::size_t pages_bytes_ = 0;
  ::std::atomic<::std::uint64_t>* windows_ = nullptr;  // one bit per shadow window: prefaulted
  ::std::size_t windows_bytes_ = 0;
  ::std::atomic<::std::uint64_t> shadow_windows_{0};
  ::std::atomic<::std::uint64_t> bytes_backed_{0};
  ::std::atomic<::std::uint64_t> fills_{0};
  ::std::atomic<::std::uint64_t> declined_{0};
};

}  // namespace drust::coherence
