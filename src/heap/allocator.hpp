// The node-local allocator: hands out blocks of this node's heap partition.
//
// One `allocator` manages one partition [begin, begin + size), of which the first `usable` bytes
// (the node's heap size) may be handed out. It does not map memory: the partition is already
// mapped (see partition.hpp). Small requests (up to 32 KiB) are served from size classes carved
// out of spans owned by one class, through per-thread caches so that the common path takes no
// lock; larger requests get their own run of 4 KiB pages. All bookkeeping lives outside the
// objects, in a side table indexed by page number, so an object is plain bytes that can be copied
// to another node (free blocks hold one link word; they are not objects).
//
// Example:
//   auto part = drust::heap::partition::reserve(drust::heap::heap_layout{64ull << 20, 1}, 0);
//   drust::heap::allocator heap(part->begin(), part->size(), part->size());
//   void* p = heap.allocate(100, 16);   // nullptr when this partition cannot satisfy it
//   heap.deallocate(p);
//
// Later layers hook in above this class: frees of remote objects are batched and sent to their
// home node, whose allocator then calls deallocate(); past the pressure threshold the caller asks
// the controller for another node instead of calling allocate() here.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace drust::heap {

inline constexpr ::std::size_t heap_page_size = 4096;
inline constexpr ::std::size_t max_small_size = 32 * 1024;
// 16-byte steps to 128, then four classes per doubling (about 1.25x apart) up to 32 KiB. Every
// power of two is a class, which is how small blocks honour alignments up to 4 KiB.
inline constexpr int size_class_count = 8 + 4 * 8;

// The block size of each class, smallest first.
::std::size_t size_class_size(int size_class);
// The smallest class whose blocks hold `bytes` and are `alignment`-aligned (a power of two), or
// -1 when none is (the request is then served as a large object).
int size_class_for(::std::size_t bytes, ::std::size_t alignment);

class allocator {
 public:
  // `begin` must be 4 KiB-aligned; `usable` <= `size`, both multiples of 4 KiB.
  allocator(void* begin, ::std::size_t size, ::std::size_t usable);
  ~allocator();
  allocator(const allocator&) = delete;
  allocator& operator=(const allocator&) = delete;

  // A block of at least `bytes` bytes aligned to `alignment` (a power of two; every block is at
  // least 16-aligned), or nullptr when this partition cannot satisfy the request. Never throws:
  // the caller decides between another node and std::bad_alloc.
  void* allocate(::std::size_t bytes, ::std::size_t alignment = 16);
  // `p` must be a live block of this allocator; any thread may free it.
  void deallocate(void* p);
  // The bytes usable at `p` (a live block): its size class, or its whole page run.
  ::std::size_t usable_size(const void* p) const;

  // The sum of usable_size over live blocks, exact (blocks in thread caches are not in use).
  ::std::size_t bytes_in_use() const { return bytes_in_use_.load(::std::memory_order_relaxed); }
  // The bytes this allocator may hand out (the node's heap size).
  ::std::size_t capacity() const { return usable_; }
  // Whether `p` lies in this allocator's partition (its home is this node).
  bool contains(const void* p) const;
  // Why `p` cannot be a block handed out by this allocator, or nullptr when it may be one: inside
  // the usable area, at the start of a large block or on a block boundary of a small span. For
  // frees that arrive from other nodes, checked before deallocate (which aborts on a bad one). A
  // block already freed still passes: a double free is the sender's bug, as it is locally.
  const char* why_not_a_block(const void* p) const;

  // Returns the calling thread's cached blocks to the shared lists (also done at thread exit).
  void flush_thread_cache();

  struct thread_cache;

 private:
  enum class page_state : ::std::uint8_t { unused, free_run, large, small };
  struct span;
  // One per page of the usable area. For a run of pages (free, large object or span) the first
  // and last page always describe the run; every page of a span points to it.
  // All zero (state unused) until the page joins a run, so the table is calloc'd and backed on
  // demand like the partition.
  struct page_entry {
    ::std::uint32_t run_start;
    ::std::uint32_t run_pages;
    page_state state;
    span* owner;
  };
  struct free_deleter {
    void operator()(void* p) const;
  };
  struct central_list {
    absl::Mutex mu;
    span* nonempty ABSL_GUARDED_BY(mu) = nullptr;  // spans with a free or never-used block
  };

  ::std::uint32_t page_of(const void* p) const {
    return static_cast<::std::uint32_t>((reinterpret_cast<::std::uintptr_t>(p) - begin_) /
                                        heap_page_size);
  }
  char* page_address(::std::uint32_t page) const {
    return reinterpret_cast<char*>(begin_ + static_cast<::std::uintptr_t>(page) * heap_page_size);
  }

  void* allocate_small(int size_class);
  void* allocate_large(::std::size_t bytes, ::std::size_t alignment);
  void deallocate_large(::std::uint32_t page);
  [[noreturn]] void bad_free(const void* p, const char* why) const;

  thread_cache* local_cache();
  thread_cache* attach_cache();
  void flush_cache(thread_cache& cache);
  void flush_class(thread_cache& cache, int size_class, ::std::uint32_t keep);

  // Moves up to `max` blocks of `size_class` into the chain at `*head`; returns how many.
  ::std::uint32_t fetch_blocks(int size_class, ::std::uint32_t max, void** head);
  // Returns a chain of `count` blocks of `size_class`.
  void release_blocks(int size_class, void* head, ::std::uint32_t count);
  void release_one(central_list& list, void* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list.mu);
  static void unlink_span(central_list& list, span* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list.mu);
  static void link_span(central_list& list, span* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(list.mu);

  // The page heap: runs of pages for spans and large objects.
  // Takes a run of `pages` whose address is `alignment`-aligned and marks it; -1 when none fits.
  ::std::int64_t take_run(::std::uint32_t pages, ::std::size_t alignment, page_state state,
                          span* owner) ABSL_LOCKS_EXCLUDED(pages_mu_);
  void give_run(::std::uint32_t start, ::std::uint32_t pages) ABSL_LOCKS_EXCLUDED(pages_mu_);
  void mark_run(::std::uint32_t start, ::std::uint32_t pages, page_state state, span* owner)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(pages_mu_);
  void add_free_run(::std::uint32_t start, ::std::uint32_t pages)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(pages_mu_);

  const ::std::uintptr_t begin_;
  const ::std::size_t size_;
  const ::std::size_t usable_;
  const ::std::uint32_t usable_pages_;
  const ::std::uint64_t id_;  // unique for the process lifetime: thread caches find theirs by it
  ::std::atomic<::std::size_t> bytes_in_use_{0};

  // Entries are written under pages_mu_ (and, for span pages, before any block of the span is
  // handed out); deallocate reads them without a lock, after the block it frees was handed out.
  ::std::unique_ptr<page_entry[], free_deleter> pages_;

  // Lock order: a central list's mu, then pages_mu_.
  absl::Mutex pages_mu_;
  // Free runs by (pages, start): best fit, lowest address first.
  ::std::set<::std::pair<::std::uint32_t, ::std::uint32_t>> free_runs_ ABSL_GUARDED_BY(pages_mu_);

  ::std::array<central_list, size_class_count> central_;

  // Thread caches attached to any allocator; attach, detach and thread exit are rare.
  static absl::Mutex registry_mu_;
  ::std::vector<thread_cache*> caches_ ABSL_GUARDED_BY(registry_mu_);
  friend struct thread_caches;
};

}  // namespace drust::heap
