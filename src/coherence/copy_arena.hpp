// Memory for the read cache's copies: size classes carved from 2 MiB chunks, recycled through
// per-class free lists.
//
// General-purpose malloc spent a fifth of a miss's bookkeeping on aligned allocation, splitting
// and consolidation (perf, docs/PERFORMANCE.md). The arena hands out blocks of size classes (16 B
// steps up to 64 B, then four per power of two; each class aligned to the largest power of two
// dividing its size, at most a page) carved from 2 MiB chunks, and keeps freed blocks on per-class
// free lists, so a cache at its capacity reuses warm memory. Chunks are never returned to the
// system: the cache's capacity bounds how much it holds (plus the rounding of sizes up to their
// class, at most a quarter). Blocks above 256 KiB are mapped on their own and unmapped when freed.
//
// Not thread-safe: the read cache calls it under its own lock.
//
//   coherence::copy_arena arena;
//   void* bytes = arena.allocate(100, 16);   // a block of the 112-byte class
//   arena.deallocate(bytes, 100, 16);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace drust::coherence {

class copy_arena {
 public:
  // Blocks up to this size come from chunks; larger ones are mapped on their own.
  static constexpr ::std::size_t largest_class = ::std::size_t{256} << 10;
  static constexpr ::std::size_t chunk_size = ::std::size_t{2} << 20;

  // `huge_pages`: blocks of 2 MiB and more are 2 MiB-aligned and advised onto transparent huge
  // pages, so that a large copy (a whole matrix, a column) takes one page fault per 2 MiB, not one
  // per 4 KiB; a first touch costs microseconds in a virtual machine.
  explicit copy_arena(bool huge_pages = false) : huge_pages_(huge_pages) {}
  copy_arena(const copy_arena&) = delete;
  copy_arena& operator=(const copy_arena&) = delete;
  ~copy_arena();

  // `size` bytes aligned to `alignment` (a power of two).
  // Throws std::bad_alloc when the system has no memory left.
  void* allocate(::std::size_t size, ::std::size_t alignment);
  // Gives back a block; `size` and `alignment` as given to allocate.
  void deallocate(void* block, ::std::size_t size, ::std::size_t alignment) noexcept;

  // Bytes of chunks and large blocks held from the system.
  ::std::size_t bytes_held() const { return bytes_held_; }

 private:
  // Classes: 16, 32, 48, 64 B, then four per power of two (80, 96, 112, 128, 160, ...) up to
  // largest_class.
  static constexpr ::std::size_t class_count = 52;
  static ::std::size_t class_of(::std::size_t size, ::std::size_t alignment);
  static ::std::size_t class_size(::std::size_t index);

  void* refill(::std::size_t index);

  ::std::array<::std::vector<void*>, class_count> free_{};
  char* chunk_next_ = nullptr;  // the unused tail of the newest chunk
  char* chunk_end_ = nullptr;
  ::std::vector<void*> chunks_;
  ::std::size_t bytes_held_ = 0;
  bool huge_pages_ = false;
};

}  // namespace drust::coherence
