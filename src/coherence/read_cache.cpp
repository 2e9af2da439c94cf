#include "coherence/read_cache.hpp"

#include <algorithm>
#include <bit>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace drust::coherence {

// cached_copy ------------------------------------------------------------------------------------

cached_copy::cached_copy(cached_copy&& other) noexcept
    : cache_(::std::exchange(other.cache_, nullptr)),
      entry_(::std::exchange(other.entry_, nullptr)) {}

cached_copy& cached_copy::operator=(cached_copy&& other) noexcept {
  if (this != &other) {
    reset();
    cache_ = ::std::exchange(other.cache_, nullptr);
    entry_ = ::std::exchange(other.entry_, nullptr);
  }
  return *this;
}

void cached_copy::reset() {
  if (entry_ != nullptr) cache_->unpin(::std::exchange(entry_, nullptr));
  cache_ = nullptr;
}

// read_cache -------------------------------------------------------------------------------------

read_cache::read_cache(::std::size_t capacity_bytes, bool huge_pages) : capacity_(capacity_bytes), arena_(huge_pages) {
  absl::MutexLock lock(&mu_);
  spare_entries_.reserve(max_spare_entries);
}

read_cache::~read_cache() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, e] : entries_) arena_.deallocate(e->bytes, e->size, e->alignment);
}

read_cache::entry* read_cache::pin_cached(coloured_address key, ::std::size_t size, ::std::size_t alignment) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  entry* e = it->second.get();
  if (e->state.load(::std::memory_order_acquire) != detail::entry_state::ready || e->size < size ||
      e->alignment < alignment) {
    return nullptr;
  }
  e->pins.fetch_add(1, ::std::memory_order_acq_rel);
  if (!e->referenced.load(::std::memory_order_relaxed)) e->referenced.store(true, ::std::memory_order_relaxed);
  hits_.fetch_add(1, ::std::memory_order_relaxed);
  return e;
}

absl::StatusOr<cached_copy> read_cache::pin(coloured_address key, ::std::size_t size,
                                            ::std::size_t alignment, fill_function fill) {
  if (!::std::has_single_bit(alignment)) {
    return absl::InvalidArgumentError(absl::StrCat("read cache: alignment ", alignment,
                                                   " of the copy of 0x", absl::Hex(key.address()),
                                                   " is not a power of two"));
  }
  alignment = ::std::max(alignment, default_alignment);
  if (key.colour() == max_colour) [[unlikely]] return pin_private(key, size, alignment, fill);
  {
    // The hit path: the lock in reader mode, so that readers on every thread go on together.
    absl::ReaderMutexLock lock(&mu_);
    if (entry* e = pin_cached(key, size, alignment)) return cached_copy(this, e);
  }

  // Copies freed by this call; declared before the locks so that they are freed after unlocking.
  ::std::vector<::std::unique_ptr<entry>> freed;
  entry* mine = nullptr;
  {
    // All of a miss's bookkeeping happens here, in one writer section before the read: the
    // placeholder goes into the map (one hash probe) and onto the ring, and the cache evicts down
    // to its capacity counting the new copy. After the read there is only the publishing store.
    absl::MutexLock lock(&mu_);
    for (;;) {
      auto [it, inserted] = entries_.try_emplace(key);
      if (inserted) {
        try {
          it->second = make_entry(key, size, alignment);
          it->second->bytes = arena_.allocate(size, alignment);
        } catch (...) {
          entries_.erase(it);  // out of memory: nothing stays cached under the key
          throw;
        }
        mine = it->second.get();
        break;
      }
      entry* e = it->second.get();
      if (e->state.load(::std::memory_order_seq_cst) == detail::entry_state::filling) {
        // Another reader is filling this key: wait for it rather than read the object twice. The
        // count comes first, so that a filler publishing now either sees it or we see ready.
        fill_waiters_.fetch_add(1, ::std::memory_order_seq_cst);
        if (e->state.load(::std::memory_order_seq_cst) == detail::entry_state::filling) filled_.Wait(&mu_);
        fill_waiters_.fetch_sub(1, ::std::memory_order_relaxed);
        continue;
      }
      if (e->size < size || e->alignment < alignment) {
        // Asked for more than was cached: replace the copy (its readers keep the old one).
        if (auto unread = detach(e)) freed.push_back(::std::move(unread));
        continue;
      }
      return cached_copy(this, pin_cached(key, size, alignment));
    }
    mine->pins.store(1, ::std::memory_order_relaxed);  // the filler's pin: a filling copy is never evicted
    ring_push_back(mine);
    bytes_ += size;
    if (size > capacity_) oversized_bytes_ += size;
    entries_counter_.fetch_add(1, ::std::memory_order_relaxed);
    misses_.fetch_add(1, ::std::memory_order_relaxed);
    evict_over_capacity(&freed);
  }

  // Outside the lock: nobody else touches `mine` until it is ready (others wait on filled_).
  absl::Status status;
  try {
    status = fill(mine->bytes);
  } catch (...) {
    {
      absl::MutexLock lock(&mu_);
      fill_failed(mine, &freed);
      filled_.SignalAll();
    }
    throw;
  }
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    fill_failed(mine, &freed);
    filled_.SignalAll();
    return status;
  }
  // Published with no lock: hits test the state (acquire) before using the bytes. A waiter
  // counted itself before testing the state under the lock, so it is woken here (the signal
  // takes the lock, hence comes after the waiter is asleep) or saw ready itself.
  mine->state.store(detail::entry_state::ready, ::std::memory_order_seq_cst);
  if (fill_waiters_.load(::std::memory_order_seq_cst) != 0) {
    absl::MutexLock lock(&mu_);
    filled_.SignalAll();
  }
  return cached_copy(this, mine);
}

absl::StatusOr<cached_copy> read_cache::pin_private(coloured_address key, ::std::size_t size,
                                                    ::std::size_t alignment, fill_function fill) {
  ::std::vector<::std::unique_ptr<entry>> freed;
  ::std::unique_ptr<entry> owned;
  {
    absl::MutexLock lock(&mu_);
    owned = make_entry(key, size, alignment);
    owned->bytes = arena_.allocate(size, alignment);
    bytes_ += size;
    if (size > capacity_) oversized_bytes_ += size;
    entries_counter_.fetch_add(1, ::std::memory_order_relaxed);
    misses_.fetch_add(1, ::std::memory_order_relaxed);
    evict_over_capacity(&freed);
  }
  // Detached from the start, pinned once by its only reader: the last unpin frees it.
  entry* mine = owned.release();
  mine->pins.store(1 | detail::cache_entry::detached_bit, ::std::memory_order_relaxed);
  absl::Status status;
  try {
    status = fill(mine->bytes);
  } catch (...) {
    absl::MutexLock lock(&mu_);
    if (auto unused = retire(mine)) freed.push_back(::std::move(unused));
    throw;
  }
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    if (auto unused = retire(mine)) freed.push_back(::std::move(unused));
    return status;
  }
  mine->state.store(detail::entry_state::ready, ::std::memory_order_release);
  return cached_copy(this, mine);
}

::std::optional<cached_copy> read_cache::pin_if_cached(coloured_address key) {
  absl::ReaderMutexLock lock(&mu_);
  entry* e = pin_cached(key, 0, 0);
  if (e == nullptr) return ::std::nullopt;
  return cached_copy(this, e);
}

void read_cache::forget(::std::uint64_t address) {
  ::std::vector<::std::unique_ptr<entry>> freed;
  absl::MutexLock lock(&mu_);
  ::std::vector<entry*> matching;
  for (auto& [key, e] : entries_) {
    if (key.address() == (address & address_mask)) matching.push_back(e.get());
  }
  for (entry* e : matching) {
    if (auto unread = detach(e)) freed.push_back(::std::move(unread));
  }
}

read_cache_stats read_cache::stats() const {
  read_cache_stats s;
  s.hits = hits_.load(::std::memory_order_relaxed);
  s.misses = misses_.load(::std::memory_order_relaxed);
  s.evictions = evictions_.load(::std::memory_order_relaxed);
  s.bytes_cached = bytes_counter_.load(::std::memory_order_relaxed);
  s.entries = entries_counter_.load(::std::memory_order_relaxed);
  return s;
}

void read_cache::unpin(entry* e) {
  // Read before letting go: once the pin is gone, another thread may free the entry.
  const coloured_address key = e->key;
  const bool oversized = e->size > capacity_;
  const ::std::uint32_t left = e->pins.fetch_sub(1, ::std::memory_order_acq_rel) - 1;
  ::std::vector<::std::unique_ptr<entry>> freed;
  if (left == detail::cache_entry::detached_bit) {
    // The last reader of a copy that left the map frees it.
    absl::MutexLock lock(&mu_);
    if (auto unused = retire(e)) freed.push_back(::std::move(unused));
    return;
  }
  if (left != 0 || (!oversized && !over_capacity_.load(::std::memory_order_acquire))) return;
  absl::MutexLock lock(&mu_);
  if (oversized) {
    // Larger than the whole cache: served while pinned, never kept. Found again by key, since it
    // may have been freed (and its key cached anew) since the pin went.
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.get() == e && e->pins.load(::std::memory_order_acquire) == 0) {
      evictions_.fetch_add(1, ::std::memory_order_relaxed);
      if (auto unused = detach(e)) freed.push_back(::std::move(unused));
    }
  }
  evict_over_capacity(&freed);
}

void read_cache::fill_failed(entry* e, ::std::vector<::std::unique_ptr<entry>>* freed) {
  // The filler's pin goes with the entry: nobody else pinned a copy that was never ready.
  e->pins.fetch_sub(1, ::std::memory_order_acq_rel);
  if (auto unread = detach(e)) freed->push_back(::std::move(unread));
}

void read_cache::evict_over_capacity(::std::vector<::std::unique_ptr<entry>>* freed) {
  // One full turn clears every mark, a second finds an unmarked copy if any is unpinned.
  ::std::size_t budget = 2 * entries_.size() + 2;
  while (bytes_ - oversized_bytes_ > capacity_ && ring_head_ != nullptr && budget-- > 0) {
    entry* e = hand_ != nullptr ? hand_ : ring_head_;
    hand_ = e->ring_next;
    // No pin can be taken while this thread holds the lock in writer mode; unpins only lower it.
    if (e->pins.load(::std::memory_order_acquire) != 0) continue;
    if (e->referenced.exchange(false, ::std::memory_order_relaxed)) continue;
    evictions_.fetch_add(1, ::std::memory_order_relaxed);
    if (auto unused = detach(e)) freed->push_back(::std::move(unused));
  }
  note_bytes();
}

void read_cache::note_bytes() {
  bytes_counter_.store(bytes_, ::std::memory_order_relaxed);
  over_capacity_.store(bytes_ - oversized_bytes_ > capacity_, ::std::memory_order_release);
}

::std::unique_ptr<read_cache::entry> read_cache::detach(entry* e) {
  auto it = entries_.find(e->key);
  if (it != entries_.end() && it->second.get() == e) {
    ring_remove(e);  // every entry in the map is on the ring
    // Ownership passes to retire(), now or at the last unpin.
    static_cast<void>(it->second.release());
    entries_.erase(it);
  }
  const ::std::uint32_t pins = e->pins.fetch_or(detail::cache_entry::detached_bit, ::std::memory_order_acq_rel);
  if ((pins & ~detail::cache_entry::detached_bit) != 0) return nullptr;
  return retire(e);
}

::std::unique_ptr<read_cache::entry> read_cache::retire(entry* e) {
  bytes_ -= e->size;
  if (e->size > capacity_) oversized_bytes_ -= e->size;
  note_bytes();
  entries_counter_.fetch_sub(1, ::std::memory_order_relaxed);
  arena_.deallocate(::std::exchange(e->bytes, nullptr), e->size, e->alignment);
  ::std::unique_ptr<entry> owned(e);
  if (spare_entries_.size() < max_spare_entries) {
    spare_entries_.push_back(::std::move(owned));  // reserved in the constructor: cannot throw
    return nullptr;
  }
  return owned;
}

::std::unique_ptr<read_cache::entry> read_cache::make_entry(coloured_address key, ::std::size_t size,
                                                            ::std::size_t alignment) {
  if (spare_entries_.empty()) return ::std::make_unique<entry>(key, size, alignment);
  ::std::unique_ptr<entry> e = ::std::move(spare_entries_.back());
  spare_entries_.pop_back();
  e->reuse(key, size, alignment);
  return e;
}

void read_cache::ring_push_back(entry* e) {
  e->ring_next = nullptr;
  e->ring_previous = ring_tail_;
  if (ring_tail_ != nullptr) {
    ring_tail_->ring_next = e;
  } else {
    ring_head_ = e;
  }
  ring_tail_ = e;
}

void read_cache::ring_remove(entry* e) {
  if (hand_ == e) hand_ = e->ring_next;
  if (e->ring_previous != nullptr) {
    e->ring_previous->ring_next = e->ring_next;
  } else {
    ring_head_ = e->ring_next;
  }
  if (e->ring_next != nullptr) {
    e->ring_next->ring_previous = e->ring_previous;
  } else {
    ring_tail_ = e->ring_previous;
  }
  e->ring_previous = e->ring_next = nullptr;
}

}  // namespace drust::coherence
