#include "coherence/copy_arena.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <new>

namespace drust::coherence {

namespace {

constexpr ::std::size_t page_size = 4096;
constexpr ::std::size_t smallest_class = 16;

// Maps `size` bytes (a multiple of `alignment`, itself a multiple of the page size) at an address
// aligned to `alignment`. Pages are faulted in by their first copy. The 2 MiB chunks of small
// copies are not populated or advised onto huge pages (measured no faster in session 3: their
// copies are small and scattered); large blocks may be (allocate(), with huge_pages).
void* map_aligned(::std::size_t size, ::std::size_t alignment) {
  const ::std::size_t span = size + alignment - page_size;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw ::std::bad_alloc();
  const auto start = reinterpret_cast<::std::uintptr_t>(raw);
  const ::std::uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  if (const ::std::uintptr_t end = start + span; end > aligned + size) {
    ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  }
  return reinterpret_cast<void*>(aligned);
}

// The alignment every block of a class has: the largest power of two dividing its size, at most
// a page.
::std::size_t class_alignment(::std::size_t size) {
  return ::std::min<::std::size_t>(::std::size_t{1} << ::std::countr_zero(size), page_size);
}

}  // namespace

copy_arena::~copy_arena() {
  for (void* chunk : chunks_) ::munmap(chunk, chunk_size);
}

::std::size_t copy_arena::class_size(::std::size_t index) {
  if (index < 4) return smallest_class * (index + 1);  // 16, 32, 48, 64
  const ::std::size_t octave = 64 << ((index - 4) / 4);
  return octave + octave / 4 * ((index - 4) % 4 + 1);
}

::std::size_t copy_arena::class_of(::std::size_t size, ::std::size_t alignment) {
  ::std::size_t index;
  if (size <= 64) {
    index = size == 0 ? 0 : (size - 1) / smallest_class;
  } else {
    // The octave (64 << k, 128 << k] and the quarter within it.
    const int k = ::std::bit_width(size - 1) - 7;
    const ::std::size_t octave = ::std::size_t{64} << k;
    index = 4 + 4 * static_cast<::std::size_t>(k) + (size - octave - 1) / (octave / 4);
  }
  while (index < class_count && class_alignment(class_size(index)) < alignment) ++index;
  return index;
}

void* copy_arena::allocate(::std::size_t size, ::std::size_t alignment) {
  if (size > largest_class || alignment > page_size) {
    if (alignment > page_size) return ::operator new (size, ::std::align_val_t{alignment});
    const ::std::size_t mapped = (size + page_size - 1) & ~(page_size - 1);
    const bool huge = huge_pages_ && mapped >= chunk_size;
    void* block = map_aligned(mapped, huge ? chunk_size : page_size);
    // Advice only: without transparent huge pages the block keeps 4 KiB pages.
    if (huge) (void)::madvise(block, mapped, MADV_HUGEPAGE);
    bytes_held_ += mapped;
    return block;
  }
  const ::std::size_t index = class_of(size, alignment);
  if (index >= class_count) return ::operator new (size, ::std::align_val_t{alignment});
  ::std::vector<void*>& free = free_[index];
  if (free.empty()) return refill(index);
  void* block = free.back();
  free.pop_back();
  return block;
}

void* copy_arena::refill(::std::size_t index) {
  const ::std::size_t size = class_size(index);
  const ::std::size_t alignment = class_alignment(size);
  auto carve = [&]() -> void* {
    if (chunk_next_ == nullptr) return nullptr;
    const auto next = reinterpret_cast<::std::uintptr_t>(chunk_next_);
    const ::std::uintptr_t aligned = (next + alignment - 1) & ~(alignment - 1);
    if (aligned + size > reinterpret_cast<::std::uintptr_t>(chunk_end_)) return nullptr;
    chunk_next_ = reinterpret_cast<char*>(aligned + size);
    return reinterpret_cast<void*>(aligned);
  };
  if (void* block = carve()) return block;
  // The rest of the current chunk is too small for this class: it stays unused.
  free_[index].reserve(chunk_size / size);
  auto* chunk = static_cast<char*>(map_aligned(chunk_size, chunk_size));
  chunks_.push_back(chunk);
  bytes_held_ += chunk_size;
  chunk_next_ = chunk;
  chunk_end_ = chunk + chunk_size;
  return carve();
}

void copy_arena::deallocate(void* block, ::std::size_t size, ::std::size_t alignment) noexcept {
  if (block == nullptr) return;
  if (size > largest_class || alignment > page_size) {
    if (alignment > page_size) {
      ::operator delete (block, ::std::align_val_t{alignment});
      return;
    }
    const ::std::size_t mapped = (size + page_size - 1) & ~(page_size - 1);
    ::munmap(block, mapped);
    bytes_held_ -= mapped;
    return;
  }
  const ::std::size_t index = class_of(size, alignment);
  if (index >= class_count) {
    ::operator delete (block, ::std::align_val_t{alignment});
    return;
  }
  // A free list grows only to the number of blocks the class ever had out: push_back after a
  // reserve in refill() seldom allocates, and a failure to grow just drops the block.
  try {
    free_[index].push_back(block);
  } catch (...) {
  }
}

}  // namespace drust::coherence
