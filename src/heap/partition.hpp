// The global heap's address range and this node's partition of it.
//
// Every node reserves the same virtual range at a fixed base; partition i is
// [base + i*P, base + (i+1)*P). An address therefore names the same object on every node and its
// home node follows from the address alone. Only this node's partition is accessible here; the
// rest of the range stays reserved (PROT_NONE) so that nothing else is ever mapped there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.hpp"

namespace drust::heap {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DRUST_HEAP_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DRUST_HEAP_UNDER_SANITIZER 1
#endif
#endif

#ifndef DRUST_HEAP_UNDER_SANITIZER
// 16 TiB: far above where Linux places PIE executables' heaps and below its mmap area; the range
// ends before 32 TiB, well inside the 48 bits a coloured pointer keeps for the address.
inline constexpr ::std::uint64_t global_heap_base = 0x1000'0000'0000ull;
inline constexpr ::std::uint64_t global_heap_limit = 0x2000'0000'0000ull;
#else
// Under AddressSanitizer or ThreadSanitizer the usual range is not the program's to take: ASan's
// shadow of high memory ends at 0x1000'7fff'7fff, and TSan lets a program map memory only in its
// "application" ranges (a fixed mmap elsewhere fails). [0x5500'0000'0000, 0x5550'0000'0000), 320 GiB,
// is application memory for both (TSan's range of PIE binaries; ASan's high memory) and lies below
// where the kernel loads a PIE executable (0x5555'5555'4000 plus a random offset upwards). Every node
// runs the same binary, so every node still agrees on the base. docs/RELIABILITY.md, "Sanitizers".
inline constexpr ::std::uint64_t global_heap_base = 0x5500'0000'0000ull;
inline constexpr ::std::uint64_t global_heap_limit = 0x5550'0000'0000ull;
#endif
#undef DRUST_HEAP_UNDER_SANITIZER
inline constexpr ::std::uint64_t partition_alignment = 2ull << 20;

struct heap_layout {
  ::std::uint64_t partition_size = 0;
  int nodes = 1;

  ::std::uint64_t partition_begin(int node) const {
    return global_heap_base + static_cast<::std::uint64_t>(node) * partition_size;
  }
  // The node whose partition holds `address`, or -1 when it is outside the global heap.
  int home_of(::std::uint64_t address) const {
    if (address < global_heap_base || partition_size == 0) return -1;
    ::std::uint64_t node = (address - global_heap_base) / partition_size;
    return node < static_cast<::std::uint64_t>(nodes) ? static_cast<int>(node) : -1;
  }
  // Whether [address, address + size) lies inside one partition: what a block that a peer names
  // in a message must satisfy before anyone reads it.
  bool holds_block(::std::uint64_t address, ::std::uint64_t size) const {
    const int home = home_of(address);
    return home >= 0 && size <= partition_begin(home) + partition_size - address;
  }
};

class partition {
 public:
  // Reserves the whole range for `layout` and makes this node's partition usable (backed on
  // demand: nothing is committed until touched).
  static absl::StatusOr<partition> reserve(const heap_layout& layout, int node);
  partition() = default;
  ~partition();
  partition(partition&& other) noexcept;
  partition& operator=(partition&& other) noexcept;

  // Asks the kernel to back the partition with transparent huge pages where it can (2 MiB pages:
  // one page fault instead of 512 for a large object, and fewer TLB misses). Without THP ("never",
  // or a kernel built without it) the advice fails and the partition keeps 4 KiB pages: false.
  bool advise_huge_pages() const;

  void* begin() const { return reinterpret_cast<void*>(layout_.partition_begin(node_)); }
  ::std::size_t size() const { return layout_.partition_size; }
  const heap_layout& layout() const { return layout_; }
  bool reserved() const { return reserved_; }

 private:
  heap_layout layout_;
  int node_ = 0;
  bool reserved_ = false;
};

}  // namespace drust::heap
