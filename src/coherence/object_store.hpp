// Reading and moving objects of the global heap on behalf of drust's handles (DESIGN.md section 5).
//
// - An immutable borrow of a remote object (`borrow`: `*p`, `p->`) is served at the object's own
//   address by the read mirror when the node has one (open_mirror) and it takes the object
//   (coherence/mirror.hpp); otherwise it pins a copy in the node's read cache, keyed by the
//   object's coloured address. A miss fills the copy with one one-sided read. `borrow` keeps the
//   pin in the calling thread's recent-borrow table (for `*p`, `p->`); `pin` hands it to the caller
//   (for drust::ref guards). An object at the last colour is never cached (each borrow reads it);
//   `borrow` reuses the thread's previous copy of it when the bytes read are the same.
// - A mutable borrow of a remote object moves it: a new block here, one one-sided read into it,
//   and the old block freed at its home without waiting. Recolouring a local object is done
//   inline by the handle (drust/detail/heap.hpp) and never reaches this class; nor does a local
//   object at the last colour, which is written in place, saturated.
// No message is ever sent to invalidate a copy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "coherence/colour.hpp"
#include "coherence/mirror.hpp"
#include "coherence/read_cache.hpp"
#include "common/status.hpp"
#include "fabric/transport.hpp"
#include "heap/global_heap.hpp"

namespace drust::coherence {

struct object_store_counters {
  ::std::atomic<::std::uint64_t> remote_reads{0};       // one-sided reads of objects (fills, moves, copies)
  ::std::atomic<::std::uint64_t> remote_read_bytes{0};
  ::std::atomic<::std::uint64_t> remote_writes{0};      // objects written to another node (placement)
  ::std::atomic<::std::uint64_t> moves{0};              // objects moved here by a mutable borrow
  ::std::atomic<::std::uint64_t> move_bytes{0};
};

class object_store {
 public:
  // `huge_pages`: large copies in the read cache on transparent huge pages (read_cache.hpp).
  object_store(heap::global_heap& heap, ::std::size_t cache_capacity, bool huge_pages = false);
  ~object_store();
  object_store(const object_store&) = delete;
  object_store& operator=(const object_store&) = delete;

  void attach(fabric::transport* transport) { transport_ = transport; }
  // Keeps copies of the other partitions' objects at their own addresses, in up to `capacity`
  // bytes of pages, and publishes the shadow table to the handles' inline probe
  // (drust::detail::mirrored_copy). Once, before the program's threads borrow anything; the
  // transport must read into any memory (fabric::transport::reads_into_any_memory).
  absl::Status open_mirror(const heap::heap_layout& layout, int node, ::std::size_t capacity);
  const mirror* read_mirror() const { return mirror_.get(); }

  // `size` bytes of the object at `word` into `destination`: a copy when it is local, else one
  // one-sided read from its home (never through the cache).
  absl::Status read(::std::uint64_t word, void* destination, ::std::size_t size);
  // `size` bytes over the object at `word`, wherever it lives.
  absl::Status write(::std::uint64_t word, const void* source, ::std::size_t size);

  // A pinned copy of the remote object at `word` (its first `size` bytes).
  absl::StatusOr<cached_copy> pin(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment);
  // The same, the pin kept in the calling thread's recent-borrow table (`table_size` entries,
  // oldest released first). Called once the table's index (probed inline by
  // drust::detail::borrow_copy) has missed: it does not probe it again.
  absl::StatusOr<const void*> borrow(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment);

  // Moves the object to a new block of this node; returns its word. The old block is freed.
  absl::StatusOr<::std::uint64_t> move_here(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment);

  const read_cache& cache() const { return cache_; }
  // Immutable borrows served by the threads' recent-borrow tables (cache hits that did not even
  // reach the cache).
  ::std::uint64_t borrow_hits() const ABSL_LOCKS_EXCLUDED(tables_lock_);
  // Each thread's table registers its hit counter (internal to object_store.cpp).
  void remember_borrow_table(::std::atomic<::std::uint64_t>* hits) ABSL_LOCKS_EXCLUDED(tables_lock_);
  void forget_borrow_table(::std::atomic<::std::uint64_t>* hits) ABSL_LOCKS_EXCLUDED(tables_lock_);
  const object_store_counters& counters() const { return counters_; }
  heap::global_heap& heap() { return heap_; }

 private:
  // One one-sided read of `size` bytes at the global address in `word` (its colour is ignored).
  absl::Status fill(::std::uint64_t word, void* destination, ::std::size_t size);

  heap::global_heap& heap_;
  read_cache cache_;
  ::std::unique_ptr<mirror> mirror_;
  fabric::transport* transport_ = nullptr;
  object_store_counters counters_;

  mutable absl::Mutex tables_lock_;
  ::std::vector<::std::atomic<::std::uint64_t>*> tables_ ABSL_GUARDED_BY(tables_lock_);
  ::std::uint64_t retired_hits_ ABSL_GUARDED_BY(tables_lock_) = 0;
};

}  // namespace drust::coherence
