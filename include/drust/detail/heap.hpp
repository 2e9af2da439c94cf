// Internal: the boundary between drust's handle templates (<drust/std/memory>, <drust/std/vector>,
// <drust/std/string>) and the runtime's global heap and read cache.
//
// A handle holds one *global word*: a 48-bit global-heap address with a 16-bit colour in the top
// bits (docs/design/coherence.md). The fast paths (is this object here?) are inline; everything
// that may allocate, read another node or move an object is a call into libdrust.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>

namespace drust::detail {

using global_word = ::std::uint64_t;

inline constexpr unsigned colour_shift = 48;
inline constexpr global_word address_mask = (global_word{1} << colour_shift) - 1;
inline constexpr ::std::uint16_t last_colour = 0xffff;

constexpr ::std::uint64_t address_of(global_word word) noexcept { return word & address_mask; }
constexpr ::std::uint16_t colour_of(global_word word) noexcept {
  return static_cast<::std::uint16_t>(word >> colour_shift);
}

// This node's partition of the global heap, [local_heap_begin, local_heap_begin + local_heap_size);
// set once when the runtime starts (before main), never changed after.
extern ::std::uint64_t local_heap_begin;
extern ::std::uint64_t local_heap_size;

// Set when this node's part of the job is over (main returned, or shutdown): objects on other
// nodes can no longer be reached, and need not be: handles destroyed after that (globals, statics)
// drop remote objects without reading or freeing them; the processes end with the job.
extern ::std::atomic<bool> heap_closed;

// Whether the object lives on this node (its bytes may be used in place).
inline bool is_local(global_word word) noexcept {
  return address_of(word) - local_heap_begin < local_heap_size;
}

// The object's bytes on this node: only meaningful when is_local(word).
template <class T>
T* local_pointer(global_word word) noexcept {
  return reinterpret_cast<T*>(static_cast<::std::uintptr_t>(address_of(word)));
}

// The same for a read of a local object: a word at colour 0 is the object's address as it stands,
// so a load through it does not wait for the mask (on a pointer chase that hits L1 the mask is a
// fifth of each step). Both arms give the same pointer; the branch, predicted, only takes the
// mask off the load's chain. (The empty asm keeps the compiler from turning the branch into a
// conditional move, which would put the mask and the test back on the chain.)
template <class T>
T* local_object(global_word word) noexcept {
  if (colour_of(word) == 0) [[likely]] return reinterpret_cast<T*>(static_cast<::std::uintptr_t>(word));
  asm volatile("");
  return local_pointer<T>(word);
}

// A new block of `size` bytes aligned to `alignment` (a power of two): on this node while its
// partition is below the pressure threshold, else on the node the controller picks. Its colour
// is one that no copy of an earlier object at the same address can carry. Throws
// drust::heap_exhausted (a std::bad_alloc) when no node has room.
global_word allocate(::std::size_t size, ::std::size_t alignment);
// Frees a block wherever it lives (a remote one: batched and sent to its home). Does not run a
// destructor.
void deallocate(global_word word) noexcept;

// Copies `size` bytes of the object to `destination` (one one-sided read when it is remote).
void read_object(global_word word, void* destination, ::std::size_t size);
// Writes `size` bytes over the object (one one-sided write when it is remote).
void write_object(global_word word, const void* source, ::std::size_t size);

// Immutable borrow of a remote object (is_local(word) is false): the bytes of a cached copy, at
// the object's own address when the read mirror holds it (a copy there stays until the object's
// colour changes). Otherwise the copy stays pinned by the calling thread's recent-borrow table, which holds the last
// `borrow_table_size` distinct objects the thread read this way (docs/design/coherence.md); a
// reference kept longer than that needs a drust::ref guard (pin_copy). An object at the last colour
// (saturated) is never cached: each borrow reads it again, and returns the bytes of the thread's
// previous copy of it when they are unchanged, so that two borrows with no write between them
// (begin() and end()) point into the same copy.
inline constexpr ::std::size_t borrow_table_size = 1024;

// The recent-borrow table's index, probed inline so that a hit costs a few instructions and no
// call: a direct-mapped table from coloured word to the bytes of a copy the thread has pinned.
// libdrust fills it and clears an entry before it releases the entry's pin. It never holds a word
// at the last colour (its copy may be stale after an in-place write), so the probe needs no test
// of the colour.
struct borrow_index_entry {
  global_word word = 0;
  ::std::size_t size = 0;
  const void* bytes = nullptr;
};
struct borrow_index {
  static constexpr unsigned slot_bits = 12;
  borrow_index_entry entries[::std::size_t{1} << slot_bits];
  // Hits served inline; written only by the owning thread, summed by drust::stats().
  ::std::atomic<::std::uint64_t> hits{0};

  // Objects are 16-byte aligned, and neighbours in memory take neighbouring slots, so a walk over
  // objects allocated in order reads the index in order too; the second term spreads strides
  // that are multiples of 64 KiB. The colour (the top bits) takes no part: a newer colour of the
  // same object replaces the older, dead one.
  static ::std::size_t slot(global_word word) noexcept {
    return static_cast<::std::size_t>((word >> 4) ^ (word >> (4 + slot_bits))) & ((::std::size_t{1} << slot_bits) - 1);
  }
};
// The calling thread's index; null until its first remote borrow.
extern constinit thread_local borrow_index* this_thread_borrow_index;

// The read mirror (docs/design/coherence.md, "Cache hits at the object's own address"): this node
// keeps copies of remote objects at the objects' own addresses, and a shadow colour table has,
// for each 16-byte granule where a copy starts, the 32-bit entry (granules held << 16 | colour);
// the entry of address a is at mirror_shadow_origin + (a >> 4) * 4. Addresses in
// [mirror_begin, mirror_begin + mirror_size) have entries; mirror_size is 0 when the node has no
// mirror. Set before main, never changed after.
extern ::std::uintptr_t mirror_shadow_origin;
extern ::std::uint64_t mirror_begin;
extern ::std::uint64_t mirror_size;

// The object's bytes at its own address when this node holds a copy of `size` bytes of that
// colour; nullptr otherwise. A colour-0xffff word never matches (no copy is ever entered at it).
inline const void* mirrored_copy(global_word word, ::std::size_t size) noexcept {
  const ::std::uint64_t address = address_of(word);
  if (address - mirror_begin >= mirror_size) return nullptr;
  const ::std::uint32_t entry =
      reinterpret_cast<const ::std::atomic<::std::uint32_t>*>(mirror_shadow_origin + (address >> 4) * 4)
          ->load(::std::memory_order_acquire);
  const ::std::uint64_t granules = ((address & 15) + size + 15) >> 4;
  if (static_cast<::std::uint16_t>(entry) == colour_of(word) && (entry >> 16) >= granules) [[likely]] {
    // As local_object: at colour 0 the word is the address, and the copy's pointer need not wait
    // for the mask.
    if (colour_of(word) == 0) [[likely]] return reinterpret_cast<const void*>(static_cast<::std::uintptr_t>(word));
    asm volatile("");
    return reinterpret_cast<const void*>(static_cast<::std::uintptr_t>(address));
  }
  return nullptr;
}

const void* borrow_copy_slow(global_word word, ::std::size_t size, ::std::size_t alignment);
inline const void* borrow_copy(global_word word, ::std::size_t size, ::std::size_t alignment) {
  if (borrow_index* index = this_thread_borrow_index) [[likely]] {
    if (const void* copy = mirrored_copy(word, size)) [[likely]] {
      index->hits.store(index->hits.load(::std::memory_order_relaxed) + 1, ::std::memory_order_relaxed);
      return copy;
    }
    const borrow_index_entry& entry = index->entries[borrow_index::slot(word)];
    if (entry.word == word && entry.size >= size) [[likely]] {
      index->hits.store(index->hits.load(::std::memory_order_relaxed) + 1, ::std::memory_order_relaxed);
      return entry.bytes;
    }
  }
  return borrow_copy_slow(word, size, alignment);
}

// The same, pinned until unpin_copy(pin): what drust::ref guards use. At the last colour the pin
// holds a private copy, read for this guard alone.
struct pinned_copy {
  const void* bytes = nullptr;
  void* pin = nullptr;  // opaque; nullptr for a local object (nothing to unpin)
};
pinned_copy pin_copy(global_word word, ::std::size_t size, ::std::size_t alignment);
void unpin_copy(void* pin) noexcept;

// Mutable borrow: makes the object writable on this node without moving a local object, so that
// a pointer or reference from an earlier mutable borrow stays valid (std invalidates none at an
// element access). A local object keeps its address and takes the next colour (no copy anywhere
// can match it again); at the last colour it stays there, *saturated*: a copy of an object at the
// last colour is never kept by any reader (docs/design/coherence.md, "Colour saturation"), so an
// in-place write needs no new colour. A remote object is moved to a new local block (acquire_slow)
// and its old block freed at its home. Returns the object's word; the old one is dead.
global_word acquire_slow(global_word word, ::std::size_t size, ::std::size_t alignment);
inline global_word acquire(global_word word, ::std::size_t size, ::std::size_t alignment) {
  if (is_local(word)) [[likely]]
    return colour_of(word) == last_colour ? word : word + (global_word{1} << colour_shift);
  return acquire_slow(word, size, alignment);
}

// The word for a raw pointer into the global heap that a handle gave up with release(): the
// colour it gets is above every colour the address carried (so above every cached copy).
global_word adopt(const void* pointer);
// Records that the object at `word`, owned until now by a handle, is now owned by a raw pointer
// (release()): the colours used so far are retired, as by a free.
void retire_colours(global_word word, ::std::size_t size) noexcept;

}  // namespace drust::detail
