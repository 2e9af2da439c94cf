// A node's read cache: local copies of remote objects, keyed by coloured address.
//
// An immutable borrow of a remote object pins its copy here; the first reader of a coloured
// address fills the copy (later: with one one-sided read), every later reader shares it. A write
// never touches the cache: it gives the object a new colour (or a new address), so the old copy is
// simply never asked for again and ages out. No invalidation message is ever needed. See
// docs/design/coherence.md.
//
// Copies with no readers stay until the cache holds more than its capacity; then CLOCK (second
// chance) picks the victims: copies sit on a ring in the order they were filled, a hit marks its
// copy referenced, and the hand evicts the first unpinned, unreferenced copy it meets, clearing
// the marks it passes. Pinned copies are never evicted (they count: the capacity bounds the
// memory). A copy larger than the whole capacity is still served, does not count against the
// capacity (it would flush everything else for nothing), and is dropped when its last reader
// unpins.
//
// A hit takes the cache's lock in reader mode and pins with one atomic add; an unpin is one atomic
// subtract and takes the lock only when the cache is over its capacity or the copy must go. Misses,
// evictions and forget() take it in writer mode.
//
//   coherence::read_cache cache(64 << 20);
//   absl::StatusOr<coherence::cached_copy> copy =
//       cache.pin(key, sizeof(node_t), [&](void* destination) {
//         return fabric_read(destination, key.address(), sizeof(node_t));  // once per key
//       });
//   if (!copy.ok()) return copy.status();
//   const node_t* n = static_cast<const node_t*>(copy->data());  // valid while `copy` lives
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "coherence/colour.hpp"
#include "coherence/copy_arena.hpp"

namespace drust::coherence {

namespace detail {

enum class entry_state : ::std::uint8_t { filling, ready };

// One copy in a read_cache. `key`, `size`, `alignment` and `bytes` never change once the entry is
// published (state ready). `pins` and `referenced` change under the cache's lock in reader mode
// (pins: also with no lock, to unpin); everything else is guarded by the lock in writer mode.
struct cache_entry {
  // Pins in the low bits; `detached_bit` once the entry left the map (forgotten, replaced or
  // evicted while pinned): whoever takes the pins to zero after that frees it.
  static constexpr ::std::uint32_t detached_bit = 0x80000000u;

  coloured_address key;
  ::std::size_t size = 0;
  ::std::size_t alignment = 16;
  void* bytes = nullptr;
  ::std::atomic<entry_state> state{entry_state::filling};
  ::std::atomic<::std::uint32_t> pins{0};
  ::std::atomic<bool> referenced{false};  // hit since the hand last passed
  // The ring of the copies in the map (filling or ready) in the order they were inserted (the
  // CLOCK).
  cache_entry* ring_previous = nullptr;
  cache_entry* ring_next = nullptr;

  cache_entry(coloured_address k, ::std::size_t s, ::std::size_t a)
      : key(k), size(s), alignment(a) {}
  // Makes a retired entry (unpinned, out of the map and ring) ready to hold a new copy: entries
  // are recycled so that a miss allocates none.
  void reuse(coloured_address k, ::std::size_t s, ::std::size_t a) {
    key = k;
    size = s;
    alignment = a;
    bytes = nullptr;
    state.store(entry_state::filling, ::std::memory_order_relaxed);
    pins.store(0, ::std::memory_order_relaxed);
    referenced.store(false, ::std::memory_order_relaxed);
    ring_previous = ring_next = nullptr;
  }
  cache_entry(const cache_entry&) = delete;
  cache_entry& operator=(const cache_entry&) = delete;
  bool detached() const { return (pins.load(::std::memory_order_acquire) & detached_bit) != 0; }
};

}  // namespace detail

class read_cache;

// A pinned copy in a read_cache: the bytes stay valid and are never evicted while it lives.
// Move-only; destroying (or resetting) it unpins.
class cached_copy {
 public:
  cached_copy() = default;
  cached_copy(cached_copy&& other) noexcept;
  cached_copy& operator=(cached_copy&& other) noexcept;
  cached_copy(const cached_copy&) = delete;
  cached_copy& operator=(const cached_copy&) = delete;
  ~cached_copy() { reset(); }

  const void* data() const { return entry_->bytes; }
  ::std::size_t size() const { return entry_->size; }
  coloured_address key() const { return entry_->key; }
  explicit operator bool() const { return entry_ != nullptr; }
  // Unpins now (the bytes may then be evicted).
  void reset();

 private:
  friend class read_cache;
  cached_copy(read_cache* cache, detail::cache_entry* entry) : cache_(cache), entry_(entry) {}

  read_cache* cache_ = nullptr;
  detail::cache_entry* entry_ = nullptr;
};

// Counters, read without the cache's lock (each is exact on its own; together a snapshot only
// approximately).
struct read_cache_stats {
  ::std::uint64_t hits = 0;
  ::std::uint64_t misses = 0;     // fills started (a reader that waited for another's fill: a hit)
  ::std::uint64_t evictions = 0;  // copies dropped for capacity (not forget(), not failed fills)
  ::std::uint64_t bytes_cached = 0;
  ::std::uint64_t entries = 0;
};

class read_cache {
 public:
  // Fills `destination` (size bytes, aligned as asked) with the object's bytes.
  using fill_function = absl::FunctionRef<absl::Status(void* destination)>;

  static constexpr ::std::size_t default_alignment = 16;

  // `huge_pages`: copies of 2 MiB and more on transparent huge pages (copy_arena.hpp).
  explicit read_cache(::std::size_t capacity_bytes, bool huge_pages = false);
  read_cache(const read_cache&) = delete;
  read_cache& operator=(const read_cache&) = delete;
  // Every cached_copy must be gone by now.
  ~read_cache();

  // Pins the copy of `key`. On a hit it only pins. On a miss it allocates `size` bytes (aligned to
  // max(alignment, 16)), calls `fill` outside the cache's lock, and publishes the copy; readers
  // that miss the same key meanwhile wait for that fill instead of starting their own, so `fill`
  // runs once per key while the copy stays cached. A failed fill caches nothing, returns its
  // error to its caller, and lets one waiter try again. A key always names the same bytes; a
  // request for more bytes than the cached copy holds replaces the copy (pinned readers of the
  // old one keep it until they unpin). `fill` must not pin `key` itself (it would wait for itself).
  // A key at the last colour (max_colour) is never cached: each pin fills a private copy for its
  // caller alone, freed at unpin (an object at the last colour is written in place without a new
  // colour, so a kept copy could go stale; docs/design/coherence.md, "Colour saturation").
  absl::StatusOr<cached_copy> pin(coloured_address key, ::std::size_t size, fill_function fill) {
    return pin(key, size, default_alignment, fill);
  }
  absl::StatusOr<cached_copy> pin(coloured_address key, ::std::size_t size, ::std::size_t alignment,
                                  fill_function fill) ABSL_LOCKS_EXCLUDED(mu_);

  // Pins the copy of `key` only when it is cached (and filled): never fills, never waits.
  ::std::optional<cached_copy> pin_if_cached(coloured_address key) ABSL_LOCKS_EXCLUDED(mu_);

  // Drops every copy of `address`, whatever its colour. Unpinned copies are freed now; pinned
  // ones are no longer found and are freed when their last reader unpins. Not needed for
  // correctness (colours are), and it scans the whole cache: for tests and for releasing memory
  // early (docs/design/coherence.md).
  void forget(::std::uint64_t address) ABSL_LOCKS_EXCLUDED(mu_);

  ::std::size_t capacity_bytes() const { return capacity_; }
  read_cache_stats stats() const;

 private:
  friend class cached_copy;

  using entry = detail::cache_entry;

  void unpin(entry* e) ABSL_LOCKS_EXCLUDED(mu_);
  // A copy that is never in the map (detached from the start): what pin() gives for a key at the
  // last colour.
  absl::StatusOr<cached_copy> pin_private(coloured_address key, ::std::size_t size, ::std::size_t alignment,
                                          fill_function fill) ABSL_LOCKS_EXCLUDED(mu_);
  // Pins a ready copy of at least `size` bytes aligned to `alignment`, if `key` has one.
  entry* pin_cached(coloured_address key, ::std::size_t size, ::std::size_t alignment)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void ring_push_back(entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ring_remove(entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `e` out of the map and the ring; returns its ownership (for freeing after unlock) when
  // nobody reads it, or leaves it detached for its last reader to free.
  ::std::unique_ptr<entry> detach(entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees `e` (already out of the map and ring, and unread), keeping the byte count; its bytes
  // go back to the arena now. The entry itself is kept for reuse (spare_entries_) or, when there
  // are enough spares, returned to be deleted after unlocking (null otherwise).
  ::std::unique_ptr<entry> retire(entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An entry for a new copy: a spare one when there is one.
  ::std::unique_ptr<entry> make_entry(coloured_address key, ::std::size_t size, ::std::size_t alignment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the copy whose fill failed (or threw).
  void fill_failed(entry* e, ::std::vector<::std::unique_ptr<entry>>* freed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts copies (CLOCK) until the cache is within its capacity or every copy left is pinned.
  void evict_over_capacity(::std::vector<::std::unique_ptr<entry>>* freed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void note_bytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ::std::size_t capacity_;

  mutable absl::Mutex mu_;
  absl::CondVar filled_;  // signalled when a fill finishes, well or badly, if anyone waits
  // Readers waiting on filled_ for another's fill. A filler that succeeds publishes its copy with
  // no lock and takes the lock to signal only when this is not zero (read_cache.cpp, pin()).
  ::std::atomic<::std::uint32_t> fill_waiters_{0};
  absl::flat_hash_map<coloured_address, ::std::unique_ptr<entry>> entries_ ABSL_GUARDED_BY(mu_);
  copy_arena arena_ ABSL_GUARDED_BY(mu_);  // the copies' bytes
  entry* ring_head_ ABSL_GUARDED_BY(mu_) = nullptr;  // the oldest fill
  entry* ring_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  entry* hand_ ABSL_GUARDED_BY(mu_) = nullptr;       // where the next eviction sweep starts
  // Retired entries kept for the next misses (at most max_spare_entries): a miss usually evicts
  // one copy and inserts one, so this seldom holds more than a few.
  static constexpr ::std::size_t max_spare_entries = 64;
  ::std::vector<::std::unique_ptr<entry>> spare_entries_ ABSL_GUARDED_BY(mu_);

  ::std::uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Bytes of copies larger than the whole capacity: served, never kept, and never a reason to
  // evict the copies that do fit.
  ::std::uint64_t oversized_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  // Whether the copies that fit exceed the capacity: an unpin then takes the lock to evict.
  ::std::atomic<bool> over_capacity_{false};
  ::std::atomic<::std::uint64_t> hits_{0};
  ::std::atomic<::std::uint64_t> misses_{0};
  ::std::atomic<::std::uint64_t> evictions_{0};
  ::std::atomic<::std::uint64_t> bytes_counter_{0};
  ::std::atomic<::std::uint64_t> entries_counter_{0};
};

}  // namespace drust::coherence
