#include "coherence/mirror.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <utility>

#include "coherence/colour.hpp"
#include "heap/allocator.hpp"

namespace drust::coherence {

namespace {

constexpr ::std::uint64_t granule = 16;
// A shadow entry: the granules the copy holds in the high half, its colour in the low half.
// 0 (a page of the table never written) holds nothing; `filling` (no granules, so it matches no
// borrow) marks an entry a thread is filling.
constexpr ::std::uint32_t filling = 1;

constexpr ::std::uint32_t entry_for(::std::uint64_t granules, ::std::uint16_t colour) {
  return static_cast<::std::uint32_t>(granules << 16) | colour;
}
constexpr ::std::uint64_t granules_of(::std::uint32_t entry) { return entry >> 16; }
constexpr ::std::uint16_t colour_in(::std::uint32_t entry) { return static_cast<::std::uint16_t>(entry); }

// The other nodes' partitions of `layout` from node `node`'s view: [base, its own begin) and
// [its own end, the heap's end); either may be empty.
::std::array<::std::pair<::std::uint64_t, ::std::uint64_t>, 2> other_partitions(const heap::heap_layout& layout,
                                                                              int node) {
  const ::std::uint64_t own_begin = layout.partition_begin(node);
  return {{{heap::global_heap_base, own_begin},
           {own_begin + layout.partition_size, layout.partition_begin(layout.nodes)}}};
}

void* map_table(::std::size_t bytes) {
  void* table = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return table == MAP_FAILED ? nullptr : table;
}

}  // namespace

mirror::mirror(const heap::heap_layout& layout, int node, ::std::size_t capacity)
    : layout_(layout), node_(node), capacity_(capacity) {}

absl::StatusOr<::std::unique_ptr<mirror>> mirror::create(const heap::heap_layout& layout, int node,
                                                          ::std::size_t capacity) {
  ::std::unique_ptr<mirror> made(new mirror(layout, node, capacity));
  const ::std::uint64_t total = layout.partition_size * static_cast<::std::uint64_t>(layout.nodes);
  made->shadow_bytes_ = total / granule * sizeof(::std::uint32_t);
  made->pages_bytes_ = ((total / heap::heap_page_size + 63) / 64) * sizeof(::std::uint64_t);
  made->shadow_ = static_cast<::std::atomic<::std::uint32_t>*>(map_table(made->shadow_bytes_));
  made->pages_ = static_cast<::std::atomic<::std::uint64_t>*>(map_table(made->pages_bytes_));
  made->windows_bytes_ = ((made->shadow_bytes_ / shadow_window + 64) / 64) * sizeof(::std::uint64_t);
  made->windows_ = static_cast<::std::atomic<::std::uint64_t>*>(map_table(made->windows_bytes_));
  if (made->shadow_ == nullptr || made->pages_ == nullptr || made->windows_ == nullptr) {
    return errno_status(absl::StrCat("cannot reserve the read mirror's tables (", made->shadow_bytes_ >> 20,
                                     " MiB of address space for a ", total >> 20, " MiB global heap)"));
  }
  for (auto [begin, stop] : other_partitions(layout, node)) {
    if (begin < stop && ::mprotect(reinterpret_cast<void*>(begin), stop - begin, PROT_READ | PROT_WRITE) != 0) {
      return errno_status("cannot open the other nodes' partitions of the global heap for the read mirror");
    }
  }
  return made;
}

mirror::~mirror() {
  if (shadow_ != nullptr) ::munmap(shadow_, shadow_bytes_);
  if (pages_ != nullptr) ::munmap(pages_, pages_bytes_);
  if (windows_ != nullptr) ::munmap(windows_, windows_bytes_);
  // The copies go, and the other partitions are reserved again as they were (nothing is mapped
  // there any more; should the partition be gone already, these fail harmlessly).
  for (auto [begin, stop] : other_partitions(layout_, node_)) {
    if (begin >= stop) continue;
    ::madvise(reinterpret_cast<void*>(begin), stop - begin, MADV_DONTNEED);
    ::mprotect(reinterpret_cast<void*>(begin), stop - begin, PROT_NONE);
  }
}

::std::uintptr_t mirror::shadow_origin() const {
  return reinterpret_cast<::std::uintptr_t>(shadow_) - (heap::global_heap_base / granule) * sizeof(::std::uint32_t);
}

bool mirror::back_pages(::std::uint64_t begin, ::std::uint64_t end) {
  const ::std::uint64_t first = (begin - heap::global_heap_base) / heap::heap_page_size;
  const ::std::uint64_t last = (end - 1 - heap::global_heap_base) / heap::heap_page_size;
  ::std::uint64_t fresh = 0;
  for (::std::uint64_t page = first; page <= last; ++page) {
    if ((pages_[page / 64].load(::std::memory_order_relaxed) & (::std::uint64_t{1} << (page % 64))) == 0) ++fresh;
  }
  // Threads that pass this check together may back a few pages past the capacity: at most one
  // copy each.
  if (fresh != 0 && bytes_backed_.load(::std::memory_order_relaxed) + fresh * heap::heap_page_size > capacity_) {
    return false;
  }
  for (::std::uint64_t page = first; page <= last; ++page) {
    const ::std::uint64_t bit = ::std::uint64_t{1} << (page % 64);
    if ((pages_[page / 64].fetch_or(bit, ::std::memory_order_relaxed) & bit) == 0) {
      bytes_backed_.fetch_add(heap::heap_page_size, ::std::memory_order_relaxed);
    }
  }
  return true;
}

void mirror::populate_shadow(::std::uint64_t address) {
  const ::std::uint64_t window = (address - heap::global_heap_base) / granule * sizeof(::std::uint32_t) / shadow_window;
  ::std::atomic<::std::uint64_t>& bits = windows_[window / 64];
  const ::std::uint64_t bit = ::std::uint64_t{1} << (window % 64);
  if ((bits.load(::std::memory_order_relaxed) & bit) != 0 || (bits.fetch_or(bit, ::std::memory_order_relaxed) & bit) != 0) {
    return;
  }
  char* begin = reinterpret_cast<char*>(shadow_) + window * shadow_window;
  const ::std::size_t length = ::std::min<::std::size_t>(shadow_window, shadow_bytes_ - window * shadow_window);
  // Advice: where the kernel lacks it (before Linux 5.14) the pages fault in one by one as before.
  if (::madvise(begin, length, MADV_POPULATE_READ) == 0) shadow_windows_.fetch_add(1, ::std::memory_order_relaxed);
}

absl::StatusOr<const void*> mirror::borrow(::std::uint64_t word, ::std::size_t size, fill_function fill) {
  const ::std::uint64_t address = word & address_mask;
  const auto colour = static_cast<::std::uint16_t>(word >> address_bits);
  const ::std::uint64_t start = address & ~(granule - 1);  // the granule whose entry names the copy
  const ::std::uint64_t granules = ::std::max<::std::uint64_t>(1, (address - start + size + granule - 1) / granule);
  const int home = layout_.home_of(address);
  const bool remote = home >= 0 && home != node_;
  // A miss (the caller's inline probe did not match): the objects around this one will likely be
  // read too, large ones included, so their shadow entries are made present now.
  if (remote) populate_shadow(address);
  if (colour == max_colour || size > max_copy_size || !remote || !layout_.holds_block(start, granules * granule)) {
    declined_.fetch_add(1, ::std::memory_order_relaxed);
    return nullptr;
  }
  ::std::atomic<::std::uint32_t>& slot = shadow_[(start - heap::global_heap_base) / granule];
  ::std::uint32_t entry = slot.load(::std::memory_order_acquire);
  do {
    if (colour_in(entry) == colour && granules_of(entry) >= granules) return reinterpret_cast<const void*>(address);
    if (entry == filling) {  // another thread of this node is reading it right now
      declined_.fetch_add(1, ::std::memory_order_relaxed);
      return nullptr;
    }
  } while (!slot.compare_exchange_weak(entry, filling, ::std::memory_order_acquire, ::std::memory_order_acquire));

  // The granules a copy of this colour already holds are the same bytes: read only the rest, so
  // that a thread reading them meanwhile sees them unchanged.
  const ::std::uint64_t from = start + (colour_in(entry) == colour ? granules_of(entry) * granule : 0);
  const ::std::uint64_t to = start + granules * granule;
  if (!back_pages(from, to)) {
    slot.store(entry, ::std::memory_order_release);
    declined_.fetch_add(1, ::std::memory_order_relaxed);
    return nullptr;
  }
  absl::Status read = fill(from, reinterpret_cast<void*>(from), to - from);
  if (!read.ok()) {
    slot.store(0, ::std::memory_order_release);  // its bytes may be half written
    return read;
  }
  fills_.fetch_add(1, ::std::memory_order_relaxed);
  slot.store(entry_for(granules, colour), ::std::memory_order_release);
  return reinterpret_cast<const void*>(address);
}

mirror_stats mirror::stats() const {
  return {fills_.load(::std::memory_order_relaxed), declined_.load(::std::memory_order_relaxed),
          bytes_backed_.load(::std::memory_order_relaxed), capacity_,
          shadow_windows_.load(::std::memory_order_relaxed)};
}

}  // namespace drust::coherence
