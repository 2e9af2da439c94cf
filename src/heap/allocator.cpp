#include "heap/allocator.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace drust::heap {

namespace {

constexpr ::std::array<::std::uint32_t, size_class_count> make_class_sizes() {
  ::std::array<::std::uint32_t, size_class_count> sizes{};
  int i = 0;
  for (::std::uint32_t size = 16; size <= 128; size += 16)
    sizes[static_cast<::std::size_t>(i++)] = size;
  for (::std::uint32_t base = 128; base < max_small_size; base *= 2) {
    for (::std::uint32_t step = 1; step <= 4; ++step)
      sizes[static_cast<::std::size_t>(i++)] = base + step * base / 4;
  }
  return sizes;
}
constexpr auto class_sizes = make_class_sizes();
static_assert(class_sizes.back() == max_small_size);

// The class for a size, indexed by (size + 15) / 16.
constexpr ::std::array<::std::uint8_t, max_small_size / 16 + 1> make_class_lookup() {
  ::std::array<::std::uint8_t, max_small_size / 16 + 1> lookup{};
  ::std::size_t c = 0;
  for (::std::size_t units = 0; units < lookup.size(); ++units) {
    while (class_sizes[c] < units * 16) ++c;
    lookup[units] = static_cast<::std::uint8_t>(c);
  }
  return lookup;
}
constexpr auto class_lookup = make_class_lookup();

// Spans are 64 KiB, grown in 64 KiB steps (to 256 KiB) while a class would waste more than 1/8.
constexpr ::std::array<::std::uint32_t, size_class_count> make_span_pages() {
  ::std::array<::std::uint32_t, size_class_count> pages{};
  for (::std::size_t c = 0; c < pages.size(); ++c) {
    ::std::uint32_t p = 16;
    while (p < 64 && (p * heap_page_size) % class_sizes[c] > p * heap_page_size / 8) p += 16;
    pages[c] = p;
  }
  return pages;
}
constexpr auto span_pages = make_span_pages();

// Blocks moved between a thread cache and the central list at a time (64 KiB worth, 2 to 32),
// and the most blocks of a class a thread cache keeps before it gives a batch back: 64 KiB worth,
// between two and eight batches (small classes churn the most), so at most 2.5 MiB per thread.
struct cache_sizing {
  ::std::array<::std::uint32_t, size_class_count> batch{};
  ::std::array<::std::uint32_t, size_class_count> limit{};
};
constexpr cache_sizing make_cache_sizing() {
  cache_sizing sizing;
  for (::std::size_t c = 0; c < sizing.batch.size(); ++c) {
    const auto blocks = static_cast<::std::uint32_t>((64 * 1024) / class_sizes[c]);
    sizing.batch[c] = ::std::clamp<::std::uint32_t>(blocks, 2, 32);
    sizing.limit[c] =
        ::std::clamp<::std::uint32_t>(blocks, 2 * sizing.batch[c], 8 * sizing.batch[c]);
  }
  return sizing;
}
constexpr cache_sizing sizing = make_cache_sizing();
::std::uint32_t batch_size(int size_class) {
  return sizing.batch[static_cast<::std::size_t>(size_class)];
}
::std::uint32_t cache_limit(int size_class) {
  return sizing.limit[static_cast<::std::size_t>(size_class)];
}

// A free block's first word links it to the next free block.
void* load_link(void* block) {
  void* next;
  ::std::memcpy(&next, block, sizeof next);
  return next;
}
void store_link(void* block, void* next) { ::std::memcpy(block, &next, sizeof next); }

::std::atomic<::std::uint64_t> next_allocator_id{1};

}  // namespace

::std::size_t size_class_size(int size_class) {
  return class_sizes[static_cast<::std::size_t>(size_class)];
}

int size_class_for(::std::size_t bytes, ::std::size_t alignment) {
  bytes = ::std::max(bytes, alignment);
  if (bytes > max_small_size || alignment > heap_page_size) return -1;
  int c = class_lookup[(::std::max<::std::size_t>(bytes, 1) + 15) / 16];
  // Spans are page-aligned, so a class whose size is a multiple of the alignment aligns every
  // block.
  while (c < size_class_count &&
         (class_sizes[static_cast<::std::size_t>(c)] & (alignment - 1)) != 0)
    ++c;
  return c < size_class_count ? c : -1;
}

// The blocks of one class in a run of pages; its fields are guarded by the class's central mu.
struct allocator::span {
  ::std::uint32_t first_page = 0;
  ::std::uint32_t pages = 0;
  int size_class = 0;  // immutable: deallocate reads it without a lock
  ::std::uint32_t capacity = 0;
  ::std::uint32_t allocated = 0;  // handed out (to a user or a thread cache)
  ::std::uint32_t carved = 0;     // blocks [carved, capacity) were never handed out
  void* free_list = nullptr;
  span* prev = nullptr;
  span* next = nullptr;
};

struct allocator::thread_cache {
  struct bin {
    void* head = nullptr;
    ::std::uint32_t count = 0;
  };
  explicit thread_cache(allocator* a) : owner(a), id(a->id_) {}
  allocator* owner ABSL_GUARDED_BY(registry_mu_);  // null once the allocator is destroyed
  const ::std::uint64_t id;
  ::std::array<bin, size_class_count> bins;
};

ABSL_CONST_INIT absl::Mutex allocator::registry_mu_(absl::kConstInit);

// This thread's caches, one per allocator it has used; flushed when the thread exits.
struct thread_caches {
  ::std::uint64_t last_id = 0;
  allocator::thread_cache* last = nullptr;
  ::std::vector<::std::unique_ptr<allocator::thread_cache>> caches;
  ~thread_caches();
};

namespace {
// Set once this thread's caches are destroyed: later frees (from other thread_local destructors)
// go straight to the central lists. Trivially destructible, so it is still readable then.
thread_local bool caches_gone = false;
thread_local thread_caches caches_of_thread;
}  // namespace

thread_caches::~thread_caches() {
  caches_gone = true;
  absl::MutexLock lock(&allocator::registry_mu_);
  for (auto& cache : caches) {
    allocator* owner = cache->owner;
    if (owner == nullptr) continue;
    owner->flush_cache(*cache);
    ::std::erase(owner->caches_, cache.get());
  }
}

allocator::allocator(void* begin, ::std::size_t size, ::std::size_t usable)
    : begin_(reinterpret_cast<::std::uintptr_t>(begin)),
      size_(size),
      usable_(::std::min(usable, size) / heap_page_size * heap_page_size),
      usable_pages_(static_cast<::std::uint32_t>(usable_ / heap_page_size)),
      id_(next_allocator_id.fetch_add(1, ::std::memory_order_relaxed)),
      pages_(static_cast<page_entry*>(
          ::std::calloc(::std::max<::std::uint32_t>(usable_pages_, 1), sizeof(page_entry)))) {
  if (pages_ == nullptr) {
    ::std::fprintf(stderr, "drust: cannot allocate the heap's page table (%u pages)\n",
                   usable_pages_);
    ::std::abort();
  }
  absl::MutexLock lock(&pages_mu_);
  if (usable_pages_ > 0) add_free_run(0, usable_pages_);
}

allocator::~allocator() {
  {
    absl::MutexLock lock(&registry_mu_);
    for (thread_cache* cache : caches_) cache->owner = nullptr;
    caches_.clear();
  }
  // Runs tile the usable pages, and the first page of each describes it.
  for (::std::uint32_t page = 0; page < usable_pages_;) {
    const page_entry& entry = pages_[page];
    if (entry.state == page_state::small) delete entry.owner;
    page += ::std::max<::std::uint32_t>(entry.run_pages, 1);
  }
}

bool allocator::contains(const void* p) const {
  const auto address = reinterpret_cast<::std::uintptr_t>(p);
  return address >= begin_ && address - begin_ < size_;
}

const char* allocator::why_not_a_block(const void* p) const {
  const auto address = reinterpret_cast<::std::uintptr_t>(p);
  if (address < begin_ || address - begin_ >= usable_) return "it is not in this node's heap partition";
  const ::std::uint32_t page = page_of(p);
  const page_entry& entry = pages_[page];
  if (entry.state == page_state::large) {
    return entry.run_start == page && page_address(page) == p ? nullptr : "it points inside a block, not at its start";
  }
  if (entry.state != page_state::small || entry.owner == nullptr) return "no block is allocated there";
  const span& owner = *entry.owner;
  const ::std::uintptr_t offset = address - reinterpret_cast<::std::uintptr_t>(page_address(owner.first_page));
  const ::std::size_t size = class_sizes[static_cast<::std::size_t>(owner.size_class)];
  if (offset % size != 0 || offset / size >= owner.capacity) return "it points inside a block, not at its start";
  return nullptr;
}

void* allocator::allocate(::std::size_t bytes, ::std::size_t alignment) {
  if (alignment == 0) alignment = 16;
  if ((alignment & (alignment - 1)) != 0 || bytes > usable_ || alignment > usable_) return nullptr;
  alignment = ::std::max<::std::size_t>(alignment, 16);
  const int size_class = size_class_for(bytes, alignment);
  return size_class >= 0 ? allocate_small(size_class) : allocate_large(bytes, alignment);
}

void allocator::deallocate(void* p) {
  if (p == nullptr) return;
  if (reinterpret_cast<::std::uintptr_t>(p) - begin_ >= usable_) {
    bad_free(p, "it is not in this node's heap partition");
  }
  const ::std::uint32_t page = page_of(p);
  const page_entry& entry = pages_[page];
  if (entry.state == page_state::large) {
    if (entry.run_start != page || page_address(page) != p) {
      bad_free(p, "it points inside a block, not at its start");
    }
    deallocate_large(page);
    return;
  }
  if (entry.state != page_state::small) bad_free(p, "it is not allocated (freed twice?)");
  const int size_class = entry.owner->size_class;
  bytes_in_use_.fetch_sub(class_sizes[static_cast<::std::size_t>(size_class)],
                          ::std::memory_order_relaxed);
  thread_cache* cache = local_cache();
  if (cache == nullptr) {
    central_list& list = central_[static_cast<::std::size_t>(size_class)];
    absl::MutexLock lock(&list.mu);
    release_one(list, p);
    return;
  }
  thread_cache::bin& bin = cache->bins[static_cast<::std::size_t>(size_class)];
  store_link(p, bin.head);
  bin.head = p;
  if (++bin.count > cache_limit(size_class)) {
    flush_class(*cache, size_class, cache_limit(size_class) - batch_size(size_class));
  }
}

void allocator::free_deleter::operator()(void* p) const { ::std::free(p); }

void allocator::bad_free(const void* p, const char* why) const {
  ::std::fprintf(
      stderr,
      "drust: heap: deallocate(%p) is invalid: %s (this partition: %p, %zu bytes usable); "
      "free only what allocate returned, once\n",
      p, why, reinterpret_cast<const void*>(begin_), usable_);
  ::std::abort();
}

::std::size_t allocator::usable_size(const void* p) const {
  const page_entry& entry = pages_[page_of(p)];
  if (entry.state == page_state::large)
    return static_cast<::std::size_t>(entry.run_pages) * heap_page_size;
  return class_sizes[static_cast<::std::size_t>(entry.owner->size_class)];
}

void allocator::flush_thread_cache() {
  if (thread_cache* cache = local_cache()) flush_cache(*cache);
}

// ---- small objects -------------------------------------------------------------------------

void* allocator::allocate_small(int size_class) {
  const ::std::size_t size = class_sizes[static_cast<::std::size_t>(size_class)];
  thread_cache* cache = local_cache();
  void* block = nullptr;
  if (cache == nullptr) {
    if (fetch_blocks(size_class, 1, &block) == 0) return nullptr;
  } else {
    thread_cache::bin& bin = cache->bins[static_cast<::std::size_t>(size_class)];
    if (bin.count == 0) {
      bin.count = fetch_blocks(size_class, batch_size(size_class), &bin.head);
      if (bin.count == 0) {
        // Blocks of other classes in this thread's cache may be holding spans: give them back.
        flush_cache(*cache);
        bin.count = fetch_blocks(size_class, batch_size(size_class), &bin.head);
        if (bin.count == 0) return nullptr;
      }
    }
    block = bin.head;
    bin.head = load_link(block);
    --bin.count;
  }
  bytes_in_use_.fetch_add(size, ::std::memory_order_relaxed);
  return block;
}

allocator::thread_cache* allocator::local_cache() {
  if (caches_gone) return nullptr;
  if (caches_of_thread.last_id == id_) return caches_of_thread.last;
  return attach_cache();
}

allocator::thread_cache* allocator::attach_cache() {
  thread_caches& mine = caches_of_thread;
  thread_cache* found = nullptr;
  for (auto& cache : mine.caches) {
    if (cache->id == id_) found = cache.get();
  }
  if (found == nullptr) {
    absl::MutexLock lock(&registry_mu_);
    // Caches of destroyed allocators hold nothing usable: drop them.
    ::std::size_t kept = 0;
    for (auto& cache : mine.caches) {
      if (cache->owner != nullptr) mine.caches[kept++] = ::std::move(cache);
    }
    mine.caches.resize(kept);
    mine.caches.push_back(::std::make_unique<thread_cache>(this));
    found = mine.caches.back().get();
    caches_.push_back(found);
  }
  mine.last_id = id_;
  mine.last = found;
  return found;
}

void allocator::flush_cache(thread_cache& cache) {
  for (int c = 0; c < size_class_count; ++c) {
    if (cache.bins[static_cast<::std::size_t>(c)].count > 0) flush_class(cache, c, 0);
  }
}

void allocator::flush_class(thread_cache& cache, int size_class, ::std::uint32_t keep) {
  thread_cache::bin& bin = cache.bins[static_cast<::std::size_t>(size_class)];
  central_list& list = central_[static_cast<::std::size_t>(size_class)];
  absl::MutexLock lock(&list.mu);
  while (bin.count > keep) {
    void* block = bin.head;
    bin.head = load_link(block);
    --bin.count;
    release_one(list, block);
  }
}

::std::uint32_t allocator::fetch_blocks(int size_class, ::std::uint32_t max, void** head) {
  const ::std::size_t index = static_cast<::std::size_t>(size_class);
  const ::std::size_t size = class_sizes[index];
  central_list& list = central_[index];
  absl::MutexLock lock(&list.mu);
  ::std::uint32_t got = 0;
  // The chain is built in carving order (lowest address first), so that a thread allocates
  // consecutive blocks at rising addresses across batches: structures built one allocation at a
  // time are then laid out in order, which the CPU's prefetchers follow.
  void* first = nullptr;
  void* last = nullptr;
  while (got < max) {
    span* s = list.nonempty;
    if (s == nullptr) {
      s = new span;
      s->size_class = size_class;
      s->pages = span_pages[index];
      s->capacity = static_cast<::std::uint32_t>(s->pages * heap_page_size / size);
      const ::std::int64_t first = take_run(s->pages, heap_page_size, page_state::small, s);
      if (first < 0) {
        delete s;
        break;
      }
      s->first_page = static_cast<::std::uint32_t>(first);
      link_span(list, s);
    }
    while (got < max && s->allocated < s->capacity) {
      void* block;
      if (s->free_list != nullptr) {
        block = s->free_list;
        s->free_list = load_link(block);
      } else {
        block = page_address(s->first_page) + static_cast<::std::size_t>(s->carved++) * size;
      }
      ++s->allocated;
      if (first == nullptr) {
        first = block;
      } else {
        store_link(last, block);
      }
      last = block;
      ++got;
    }
    if (s->allocated == s->capacity) unlink_span(list, s);
  }
  if (last != nullptr) {
    store_link(last, *head);
    *head = first;
  }
  return got;
}

void allocator::release_one(central_list& list, void* block) {
  span* s = pages_[page_of(block)].owner;
  store_link(block, s->free_list);
  s->free_list = block;
  if (s->allocated-- == s->capacity) link_span(list, s);
  if (s->allocated == 0) {
    // Every block is back: the pages go back to the page heap (and may become a large object).
    unlink_span(list, s);
    give_run(s->first_page, s->pages);
    delete s;
  }
}

void allocator::link_span(central_list& list, span* s) {
  s->prev = nullptr;
  s->next = list.nonempty;
  if (list.nonempty != nullptr) list.nonempty->prev = s;
  list.nonempty = s;
}

void allocator::unlink_span(central_list& list, span* s) {
  if (s->prev != nullptr)
    s->prev->next = s->next;
  else
    list.nonempty = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

// ---- large objects and the page heap -------------------------------------------------------

void* allocator::allocate_large(::std::size_t bytes, ::std::size_t alignment) {
  const auto pages = static_cast<::std::uint32_t>(
      (::std::max<::std::size_t>(bytes, 1) + heap_page_size - 1) / heap_page_size);
  ::std::int64_t first = take_run(pages, alignment, page_state::large, nullptr);
  if (first < 0) {
    flush_thread_cache();
    first = take_run(pages, alignment, page_state::large, nullptr);
    if (first < 0) return nullptr;
  }
  bytes_in_use_.fetch_add(static_cast<::std::size_t>(pages) * heap_page_size,
                          ::std::memory_order_relaxed);
  return page_address(static_cast<::std::uint32_t>(first));
}

void allocator::deallocate_large(::std::uint32_t page) {
  const ::std::uint32_t pages = pages_[page].run_pages;
  bytes_in_use_.fetch_sub(static_cast<::std::size_t>(pages) * heap_page_size,
                          ::std::memory_order_relaxed);
  // Later: madvise(MADV_DONTNEED) for big runs, once it is known to be safe with the fabric's
  // memory registration (a pinned region must keep its pages).
  give_run(page, pages);
}

::std::int64_t allocator::take_run(::std::uint32_t pages, ::std::size_t alignment, page_state state,
                                   span* owner) {
  absl::MutexLock lock(&pages_mu_);
  for (auto it = free_runs_.lower_bound({pages, 0}); it != free_runs_.end(); ++it) {
    const auto [run_pages, start] = *it;
    const auto address = reinterpret_cast<::std::uintptr_t>(page_address(start));
    const auto aligned =
        (address + alignment - 1) & ~(static_cast<::std::uintptr_t>(alignment) - 1);
    const auto skip = static_cast<::std::uint32_t>((aligned - address) / heap_page_size);
    if (static_cast<::std::uint64_t>(skip) + pages > run_pages) continue;
    free_runs_.erase(it);
    if (skip > 0) add_free_run(start, skip);
    if (skip + pages < run_pages) add_free_run(start + skip + pages, run_pages - skip - pages);
    mark_run(start + skip, pages, state, owner);
    return start + skip;
  }
  return -1;
}

void allocator::give_run(::std::uint32_t start, ::std::uint32_t pages) {
  absl::MutexLock lock(&pages_mu_);
  // Mark the run free before merging it: pages that end up inside a larger free run then never
  // describe a live block, so a second free of one of its blocks is caught (best effort: a block
  // freed twice while its span is still live is not).
  if (pages_[start].state == page_state::small) {
    ::std::fill(&pages_[start], &pages_[start] + pages,
                page_entry{start, pages, page_state::free_run, nullptr});
  } else {
    mark_run(start, pages, page_state::free_run, nullptr);
  }
  if (start > 0) {
    const page_entry& before = pages_[start - 1];
    if (before.state == page_state::free_run) {
      free_runs_.erase({before.run_pages, before.run_start});
      pages += before.run_pages;
      start = before.run_start;
    }
  }
  const ::std::uint32_t end = start + pages;
  if (end < usable_pages_) {
    const page_entry& after = pages_[end];
    if (after.state == page_state::free_run) {
      free_runs_.erase({after.run_pages, end});
      pages += after.run_pages;
    }
  }
  add_free_run(start, pages);
}

void allocator::add_free_run(::std::uint32_t start, ::std::uint32_t pages) {
  free_runs_.insert({pages, start});
  mark_run(start, pages, page_state::free_run, nullptr);
}

void allocator::mark_run(::std::uint32_t start, ::std::uint32_t pages, page_state state,
                         span* owner) {
  const page_entry entry{start, pages, state, owner};
  if (state == page_state::small) {
    ::std::fill(&pages_[start], &pages_[start] + pages, entry);
  } else {
    pages_[start] = entry;
    pages_[start + pages - 1] = entry;
  }
}

}  // namespace drust::heap
