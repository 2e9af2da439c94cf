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

read_cache::read_cache(::std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

read_cache::~read_cache() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, e] : entries_) arena_.deallocate(e->bytes, e->size, e->alignment);
}

absl::StatusOr<cached_copy> read_cache::pin(coloured_address key, ::std::size_t size,
                                            ::std::size_t alignment, fill_function fill) {
  if (!::std::has_single_bit(alignment)) {
    return absl::InvalidArgumentError(absl::StrCat("read cache: alignment ", alignment,
                                                   " of the copy of 0x", absl::Hex(key.address()),
                                                   " is not a power of two"));
  }
  alignment = ::std::max(alignment, default_alignment);

  // Copies freed by this call; declared before the locks so that they are freed after unlocking.
  ::std::vector<::std::unique_ptr<entry>> freed;
  entry* mine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    for (;;) {
      auto it = entries_.find(key);
      if (it == entries_.end()) break;
      entry* e = it->second.get();
      if (e->state == detail::entry_state::filling) {
        // Another reader is filling this key: wait for it rather than read the object twice.
        filled_.Wait(&mu_);
        continue;
      }
      if (e->size < size || e->alignment < alignment) {
        // Asked for more than was cached: replace the copy (its readers keep the old one).
        if (auto unread = detach(e)) freed.push_back(::std::move(unread));
        break;
      }
      if (e->readers++ == 0) lru_remove(e);
      hits_.fetch_add(1, ::std::memory_order_relaxed);
      return cached_copy(this, e);
    }
    auto owned = ::std::make_unique<entry>(key, size, alignment);
    owned->bytes = arena_.allocate(size, alignment);
    mine = owned.get();
    mine->readers = 1;  // the filler's pin: a filling copy is never evicted
    entries_.emplace(key, ::std::move(owned));
    bytes_ += size;
    if (size > capacity_) oversized_bytes_ += size;
    bytes_counter_.store(bytes_, ::std::memory_order_relaxed);
    entries_counter_.fetch_add(1, ::std::memory_order_relaxed);
    misses_.fetch_add(1, ::std::memory_order_relaxed);
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
  absl::MutexLock lock(&mu_);
  filled_.SignalAll();
  if (!status.ok()) {
    fill_failed(mine, &freed);
    return status;
  }
  mine->state = detail::entry_state::ready;
  evict_over_capacity(&freed);
  return cached_copy(this, mine);
}

::std::optional<cached_copy> read_cache::pin_if_cached(coloured_address key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->state != detail::entry_state::ready)
    return ::std::nullopt;
  entry* e = it->second.get();
  if (e->readers++ == 0) lru_remove(e);
  hits_.fetch_add(1, ::std::memory_order_relaxed);
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
  ::std::vector<::std::unique_ptr<entry>> freed;
  absl::MutexLock lock(&mu_);
  if (--e->readers != 0) return;
  if (e->detached) {
    freed.push_back(retire(e));
  } else if (e->size > capacity_) {
    // Larger than the whole cache: served while pinned, never kept.
    evictions_.fetch_add(1, ::std::memory_order_relaxed);
    freed.push_back(detach(e));
  } else {
    lru_push_back(e);
    evict_over_capacity(&freed);
  }
}

void read_cache::fill_failed(entry* e, ::std::vector<::std::unique_ptr<entry>>* freed) {
  e->readers = 0;
  freed->push_back(e->detached ? retire(e) : detach(e));
}

void read_cache::evict_over_capacity(::std::vector<::std::unique_ptr<entry>>* freed) {
  while (bytes_ - oversized_bytes_ > capacity_ && lru_head_ != nullptr) {
    evictions_.fetch_add(1, ::std::memory_order_relaxed);
    freed->push_back(detach(lru_head_));
  }
}

::std::unique_ptr<read_cache::entry> read_cache::detach(entry* e) {
  if (!e->detached) {
    if (e->state == detail::entry_state::ready && e->readers == 0) lru_remove(e);
    auto it = entries_.find(e->key);
    // Ownership passes to retire(), now or at the last unpin.
    static_cast<void>(it->second.release());
    entries_.erase(it);
    e->detached = true;
  }
  if (e->readers != 0) return nullptr;
  return retire(e);
}

::std::unique_ptr<read_cache::entry> read_cache::retire(entry* e) {
  bytes_ -= e->size;
  if (e->size > capacity_) oversized_bytes_ -= e->size;
  bytes_counter_.store(bytes_, ::std::memory_order_relaxed);
  entries_counter_.fetch_sub(1, ::std::memory_order_relaxed);
  arena_.deallocate(::std::exchange(e->bytes, nullptr), e->size, e->alignment);
  return ::std::unique_ptr<entry>(e);
}

void read_cache::lru_push_back(entry* e) {
  e->lru_next = nullptr;
  e->lru_previous = lru_tail_;
  if (lru_tail_ != nullptr) {
    lru_tail_->lru_next = e;
  } else {
    lru_head_ = e;
  }
  lru_tail_ = e;
}

void read_cache::lru_remove(entry* e) {
  if (e->lru_previous != nullptr) {
    e->lru_previous->lru_next = e->lru_next;
  } else {
    lru_head_ = e->lru_next;
  }
  if (e->lru_next != nullptr) {
    e->lru_next->lru_previous = e->lru_previous;
  } else {
    lru_tail_ = e->lru_previous;
  }
  e->lru_previous = e->lru_next = nullptr;
}

}  // namespace drust::coherence
