#include "heap/partition.hpp"

#include <sys/mman.h>

#include <utility>

namespace drust::heap {

absl::StatusOr<partition> partition::reserve(const heap_layout& layout, int node) {
  if (layout.partition_size == 0 || layout.partition_size % partition_alignment != 0) {
    return absl::InvalidArgumentError(absl::StrCat("heap partition size ", layout.partition_size,
                                                   " is not a positive multiple of 2 MiB"));
  }
  const ::std::uint64_t total = layout.partition_size * static_cast<::std::uint64_t>(layout.nodes);
  if (total > global_heap_limit - global_heap_base) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the global heap (", layout.nodes, " partitions of ", layout.partition_size >> 20,
        " MiB) does not fit in the ", (global_heap_limit - global_heap_base) >> 30,
        " GiB drust reserves; use smaller heaps in the cluster file"));
  }
  void* range = ::mmap(reinterpret_cast<void*>(global_heap_base), total, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (range == MAP_FAILED) {
    return errno_status(absl::StrCat("cannot reserve the global heap at 0x", absl::Hex(global_heap_base),
                                     " (", total >> 20, " MiB): is something else mapped there?"));
  }
  if (range != reinterpret_cast<void*>(global_heap_base)) {
    ::munmap(range, total);
    return absl::InternalError("the kernel placed the global heap elsewhere (no MAP_FIXED_NOREPLACE?)");
  }
  partition reserved;
  reserved.layout_ = layout;
  reserved.node_ = node;
  reserved.reserved_ = true;
  if (::mprotect(reserved.begin(), layout.partition_size, PROT_READ | PROT_WRITE) != 0) {
    return errno_status("cannot make this node's heap partition accessible");
  }
  return reserved;
}

bool partition::advise_huge_pages() const {
  return reserved_ && ::madvise(begin(), size(), MADV_HUGEPAGE) == 0;
}

partition::~partition() {
  if (reserved_) {
    ::munmap(reinterpret_cast<void*>(global_heap_base),
             layout_.partition_size * static_cast<::std::uint64_t>(layout_.nodes));
  }
}

partition::partition(partition&& other) noexcept
    : layout_(other.layout_), node_(other.node_), reserved_(::std::exchange(other.reserved_, false)) {}

partition& partition::operator=(partition&& other) noexcept {
  if (this != &other) {
    this->~partition();
    layout_ = other.layout_;
    node_ = other.node_;
    reserved_ = ::std::exchange(other.reserved_, false);
  }
  return *this;
}

}  // namespace drust::heap
