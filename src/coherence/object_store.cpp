#include "coherence/object_store.hpp"

#include <array>
#include <cstring>
#include <drust/detail/heap.hpp>

#include "absl/container/flat_hash_map.h"

namespace drust::detail {
constinit thread_local borrow_index* this_thread_borrow_index = nullptr;
::std::uintptr_t mirror_shadow_origin = 0;
::std::uint64_t mirror_begin = 0;
::std::uint64_t mirror_size = 0;
}  // namespace drust::detail

namespace drust::coherence {

namespace {

// The calling thread's recent immutable borrows: a ring of pins, released oldest first, and the
// inline-probed index (drust::detail::borrow_index) from word to the pinned bytes. A reference
// from `*p` stays valid while the thread makes fewer than `ring_size` newer borrows of other
// objects.
struct borrow_table {
  static constexpr ::std::size_t ring_size = drust::detail::borrow_table_size;

  struct slot {
    ::std::uint64_t word = 0;
    cached_copy copy;
  };

  ::std::array<slot, ring_size> ring;
  drust::detail::borrow_index index;
  // Objects at the last colour are not in the index (a copy of one may go stale, coherence.md,
  // "Colour saturation"): this maps each to the ring slot of the thread's latest copy of it.
  absl::flat_hash_map<::std::uint64_t, ::std::size_t> saturated;
  ::std::size_t next = 0;
  object_store* owner = nullptr;

  ~borrow_table() {
    if (drust::detail::this_thread_borrow_index == &index) drust::detail::this_thread_borrow_index = nullptr;
    if (owner != nullptr) owner->forget_borrow_table(&index.hits);
  }

  const void* keep(::std::uint64_t word, ::std::size_t size, cached_copy copy) {
    slot& oldest = ring[next];
    if (oldest.copy) {
      // The index must not name bytes whose pin is about to go.
      drust::detail::borrow_index_entry& stale = index.entries[drust::detail::borrow_index::slot(oldest.word)];
      if (stale.word == oldest.word && stale.bytes == oldest.copy.data()) stale = {};
      auto mapped = saturated.find(oldest.word);
      if (mapped != saturated.end() && mapped->second == next) saturated.erase(mapped);
    }
    oldest.copy = ::std::move(copy);  // releases the oldest pin
    oldest.word = word;
    const void* bytes = oldest.copy.data();
    if (drust::detail::colour_of(word) == drust::detail::last_colour) {
      saturated[word] = next;
    } else {
      index.entries[drust::detail::borrow_index::slot(word)] = {word, size, bytes};
    }
    next = (next + 1) % ring_size;
    return bytes;
  }

  // `fresh` was just read from an object at the last colour. When the thread's previous copy of it
  // holds the same bytes, no write came between the two borrows, and the previous copy serves this
  // one too: pointers from borrows with no write between them (begin() and end(), two `*p`) point
  // into one copy, as they would into the object. Otherwise the fresh copy is kept; the previous
  // one (whose borrow ended before that write) ages out of the ring like any other.
  const void* keep_saturated(::std::uint64_t word, ::std::size_t size, cached_copy fresh) {
    if (auto it = saturated.find(word); it != saturated.end()) {
      const cached_copy& previous = ring[it->second].copy;
      if (previous.size() >= size && ::std::memcmp(previous.data(), fresh.data(), size) == 0) {
        return previous.data();
      }
    }
    return keep(word, size, ::std::move(fresh));
  }
};

borrow_table& this_threads_table(object_store* store) {
  thread_local ::std::unique_ptr<borrow_table> table;
  if (!table || table->owner != store) {
    table.reset();
    table = ::std::make_unique<borrow_table>();
    table->owner = store;
    store->remember_borrow_table(&table->index.hits);
    drust::detail::this_thread_borrow_index = &table->index;
  }
  return *table;
}

}  // namespace

object_store::object_store(heap::global_heap& heap, ::std::size_t cache_capacity, bool huge_pages)
    : heap_(heap), cache_(cache_capacity, huge_pages) {}

object_store::~object_store() {
  if (mirror_ != nullptr) {
    drust::detail::mirror_size = 0;
    drust::detail::mirror_begin = 0;
    drust::detail::mirror_shadow_origin = 0;
  }
}

absl::Status object_store::open_mirror(const heap::heap_layout& layout, int node, ::std::size_t capacity) {
  DRUST_ASSIGN_OR_RETURN(mirror_, mirror::create(layout, node, capacity));
  drust::detail::mirror_shadow_origin = mirror_->shadow_origin();
  drust::detail::mirror_begin = heap::global_heap_base;
  drust::detail::mirror_size = layout.partition_size * static_cast<::std::uint64_t>(layout.nodes);
  return absl::OkStatus();
}

absl::Status object_store::fill(::std::uint64_t word, void* destination, ::std::size_t size) {
  const ::std::uint64_t address = word & address_mask;
  const int home = heap_.home_of(address);
  if (home < 0) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not an address in the global heap"));
  }
  if (transport_ == nullptr) {
    return absl::FailedPreconditionError("this node is not connected to a cluster, so it cannot read another node's object");
  }
  DRUST_RETURN_IF_ERROR(transport_->read(home, destination, size, address));
  counters_.remote_reads.fetch_add(1, ::std::memory_order_relaxed);
  counters_.remote_read_bytes.fetch_add(size, ::std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status object_store::read(::std::uint64_t word, void* destination, ::std::size_t size) {
  const ::std::uint64_t address = word & address_mask;
  if (heap_.is_local(address)) {
    ::std::memcpy(destination, reinterpret_cast<const void*>(address), size);
    return absl::OkStatus();
  }
  return fill(word, destination, size);
}

absl::Status object_store::write(::std::uint64_t word, const void* source, ::std::size_t size) {
  const ::std::uint64_t address = word & address_mask;
  if (heap_.is_local(address)) {
    ::std::memcpy(reinterpret_cast<void*>(address), source, size);
    return absl::OkStatus();
  }
  const int home = heap_.home_of(address);
  if (home < 0 || transport_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not a remote object of the global heap"));
  }
  DRUST_RETURN_IF_ERROR(transport_->write(home, source, size, address));
  counters_.remote_writes.fetch_add(1, ::std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<cached_copy> object_store::pin(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment) {
  return cache_.pin(coloured_address::from_raw(word), size, alignment,
                    [&](void* destination) { return fill(word, destination, size); });
}

absl::StatusOr<const void*> object_store::borrow(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment) {
  // No second probe of the thread's index: the caller (detail::borrow_copy) has just missed it,
  // or the thread had no table yet.
  borrow_table& table = this_threads_table(this);
  if (mirror_ != nullptr) {
    DRUST_ASSIGN_OR_RETURN(const void* mirrored,
                           mirror_->borrow(word, size, [&](::std::uint64_t address, void* destination, ::std::size_t length) {
                             return fill(address, destination, length);
                           }));
    if (mirrored != nullptr) return mirrored;
  }
  DRUST_ASSIGN_OR_RETURN(cached_copy copy, pin(word, size, alignment));
  if (drust::detail::colour_of(word) == drust::detail::last_colour) [[unlikely]] {
    return table.keep_saturated(word, size, ::std::move(copy));
  }
  return table.keep(word, size, ::std::move(copy));
}

absl::StatusOr<::std::uint64_t> object_store::move_here(::std::uint64_t word, ::std::size_t size, ::std::size_t alignment) {
  const ::std::uint64_t moved = heap_.allocate_local(size, alignment);
  if (moved == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this node's heap partition is full (", heap_.bytes_in_use() >> 20, " of ", heap_.capacity() >> 20,
        " MiB): cannot move a ", size, "-byte object here to write it; give the nodes more heap (drun --heap)"));
  }
  absl::Status copied = read(word, reinterpret_cast<void*>(moved & address_mask), size);
  if (!copied.ok()) {
    heap_.deallocate(moved);
    return copied;
  }
  heap_.deallocate(word);
  counters_.moves.fetch_add(1, ::std::memory_order_relaxed);
  counters_.move_bytes.fetch_add(size, ::std::memory_order_relaxed);
  return moved;
}

}  // namespace drust::coherence

namespace drust::coherence {

void object_store::remember_borrow_table(::std::atomic<::std::uint64_t>* hits) {
  absl::MutexLock hold(&tables_lock_);
  tables_.push_back(hits);
}

void object_store::forget_borrow_table(::std::atomic<::std::uint64_t>* hits) {
  absl::MutexLock hold(&tables_lock_);
  retired_hits_ += hits->load(::std::memory_order_relaxed);
  ::std::erase(tables_, hits);
}

::std::uint64_t object_store::borrow_hits() const {
  absl::MutexLock hold(&tables_lock_);
  ::std::uint64_t total = retired_hits_;
  for (const auto* hits : tables_) total += hits->load(::std::memory_order_relaxed);
  return total;
}

}  // namespace drust::coherence
