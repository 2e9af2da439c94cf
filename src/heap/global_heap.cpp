#include "heap/global_heap.hpp"

#include <cstdio>
#include <cstring>

#include "common/message_kinds.hpp"

namespace drust::heap {

namespace {

constexpr unsigned colour_shift = 48;
constexpr ::std::uint64_t address_mask = (::std::uint64_t{1} << colour_shift) - 1;
// A batch of frees this long goes at once (4 KiB of words).
constexpr ::std::size_t free_batch_words = 512;

::std::uint64_t word_of(::std::uint64_t address, ::std::uint16_t colour) {
  return (address & address_mask) | (static_cast<::std::uint64_t>(colour) << colour_shift);
}

struct allocate_request {
  static constexpr fabric::message_kind kind = message_kinds::heap_allocate;
  ::std::uint64_t size;
  ::std::uint64_t alignment;
};

struct adopt_request {
  static constexpr fabric::message_kind kind = message_kinds::heap_adopt;
  ::std::uint64_t address;
};

using fabric::get_word;
using fabric::put_word;

}  // namespace

global_heap::global_heap(const partition& local, int node, const global_heap_options& options)
    : layout_(local.layout()),
      node_(node),
      options_(options),
      allocator_(local.begin(), local.size(), ::std::min<::std::size_t>(options.heap_size, local.size()) / heap_page_size * heap_page_size),
      watermarks_(reinterpret_cast<::std::uintptr_t>(local.begin()), local.size()),
      counters_(local.layout().nodes),
      pending_frees_(static_cast<::std::size_t>(local.layout().nodes)) {}

global_heap::~global_heap() { stop(); }

void global_heap::attach(fabric::transport* transport) {
  transport_ = transport;
  transport->on_request(message_kinds::heap_allocate,
                        [this](const fabric::incoming_message& message, ::std::string& reply) -> absl::Status {
                          auto request = fabric::decode<allocate_request>(message.payload);
                          if (!request || message.payload.size() != sizeof(allocate_request)) {
                            return fabric::malformed_message(absl::StrCat("a heap_allocate request of ", message.payload.size(),
                                                                          " bytes (expected ", sizeof(allocate_request), ")"));
                          }
                          if (request->alignment == 0 || (request->alignment & (request->alignment - 1)) != 0) {
                            return fabric::malformed_message(
                                absl::StrCat("alignment ", request->alignment, " is not a power of two"));
                          }
                          // A size past the partition is a valid question with the answer "no room" (0).
                          const ::std::uint64_t word = allocate_local(request->size, request->alignment);
                          if (word != 0) counters_.blocks_served.fetch_add(1, ::std::memory_order_relaxed);
                          put_word(reply, word);
                          return absl::OkStatus();
                        });
  transport->on_request(message_kinds::heap_adopt,
                        [this](const fabric::incoming_message& message, ::std::string& reply) -> absl::Status {
                          auto request = fabric::decode<adopt_request>(message.payload);
                          if (!request || message.payload.size() != sizeof(adopt_request)) {
                            return fabric::malformed_message("a heap_adopt request that is not one address");
                          }
                          if (const char* why = allocator_.why_not_a_block(reinterpret_cast<const void*>(request->address))) {
                            return fabric::malformed_message(
                                absl::StrCat("heap_adopt of 0x", absl::Hex(request->address), ": ", why));
                          }
                          DRUST_ASSIGN_OR_RETURN(::std::uint64_t word, adopt(request->address));
                          put_word(reply, word);
                          return absl::OkStatus();
                        });
  transport->on_message(message_kinds::heap_free_batch, [this](const fabric::incoming_message& message) {
    if (message.payload.size() % sizeof(::std::uint64_t) != 0) {
      transport_->reject(message, absl::StrCat("a batch of ", message.payload.size(),
                                               " bytes is not a whole number of 8-byte words; none freed"));
      return;
    }
    fabric::wire_reader in(message.payload);
    ::std::uint64_t word;
    while (in.read(word)) {
      // A bad word is reported and skipped: the others name blocks the sender really gave up.
      if (const char* why = allocator_.why_not_a_block(reinterpret_cast<const void*>(word & address_mask))) {
        transport_->reject(message, absl::StrCat("a free of 0x", absl::Hex(word & address_mask), ": ", why, "; ignored"));
        continue;
      }
      free_here(word);
      counters_.remote_frees_received.fetch_add(1, ::std::memory_order_relaxed);
    }
  });
  batching_thread_ = ::std::thread([this] { batching_loop(); });
}

void global_heap::stop() {
  {
    absl::MutexLock hold(&frees_lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (batching_thread_.joinable()) batching_thread_.join();
  flush_frees();
}

::std::uint64_t global_heap::allocate_local(::std::size_t size, ::std::size_t alignment) {
  void* block = allocator_.allocate(size, alignment);
  if (block == nullptr) return 0;
  counters_.live_blocks.fetch_add(1, ::std::memory_order_relaxed);
  const auto address = reinterpret_cast<::std::uintptr_t>(block);
  return word_of(address, watermarks_.colour_for(address, allocator_.usable_size(block)));
}

void global_heap::free_here(::std::uint64_t word) {
  void* block = reinterpret_cast<void*>(word & address_mask);
  const ::std::size_t size = allocator_.usable_size(block);
  counters_.live_blocks.fetch_sub(1, ::std::memory_order_relaxed);
  if (!watermarks_.retire(reinterpret_cast<::std::uintptr_t>(block), size, static_cast<::std::uint16_t>(word >> colour_shift))) {
    // Every colour of this block was used: reusing it could meet a stale copy. Keep it.
    counters_.quarantined_bytes.fetch_add(size, ::std::memory_order_relaxed);
    return;
  }
  allocator_.deallocate(block);
}

::std::uint64_t global_heap::allocate_at(int node, ::std::size_t size, ::std::size_t alignment) {
  if (node == node_) return allocate_local(size, alignment);
  if (transport_ == nullptr) return 0;
  thread_local ::std::string reply;
  absl::Status called = transport_->call(node, message_kinds::heap_allocate,
                                         fabric::encode(allocate_request{size, alignment}), reply);
  return called.ok() ? get_word(reply) : 0;
}

absl::StatusOr<::std::uint64_t> global_heap::allocate(::std::size_t size, ::std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("alignment ", alignment, " is not a power of two"));
  }
  // Below the threshold: here. Past it: the advised node, then the others in turn, then here
  // up to the last byte.
  const double threshold = options_.pressure_threshold * static_cast<double>(allocator_.capacity());
  ::std::uint64_t word = 0;
  int home = node_;
  if (static_cast<double>(allocator_.bytes_in_use() + size) <= threshold) word = allocate_local(size, alignment);
  if (word == 0 && layout_.nodes > 1) {
    int advised = preferred_node_.load(::std::memory_order_relaxed);
    if (advised < 0 || advised >= layout_.nodes || advised == node_) advised = (node_ + 1) % layout_.nodes;
    for (int step = 0; step < layout_.nodes && word == 0; ++step) {
      home = (advised + step) % layout_.nodes;
      if (home != node_) word = allocate_at(home, size, alignment);
    }
  }
  if (word == 0) {
    home = node_;
    word = allocate_local(size, alignment);
  }
  if (word == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the global heap is full: no node has room for ", size, " more bytes (",
        layout_.nodes, " node", layout_.nodes == 1 ? "" : "s", " of ", allocator_.capacity() >> 20,
        " MiB; this node uses ", allocator_.bytes_in_use() >> 20,
        " MiB); give the nodes more heap (drun --heap, or \"heap\" in the cluster file) or free objects sooner"));
  }
  counters_.allocations_by_node[static_cast<::std::size_t>(home)].fetch_add(1, ::std::memory_order_relaxed);
  return word;
}

void global_heap::deallocate(::std::uint64_t word) {
  const ::std::uint64_t address = word & address_mask;
  if (address == 0) return;
  if (is_local(address)) {
    free_here(word);
    return;
  }
  const int home = home_of(address);
  if (home < 0 || transport_ == nullptr) {
    ::std::fprintf(stderr, "drust: node %d: heap: free of 0x%llx, which is not in the global heap; ignored\n",
                   node_, static_cast<unsigned long long>(address));
    return;
  }
  counters_.remote_frees_sent.fetch_add(1, ::std::memory_order_relaxed);
  ::std::vector<::std::uint64_t> full;
  {
    absl::MutexLock hold(&frees_lock_);
    auto& batch = pending_frees_[static_cast<::std::size_t>(home)];
    batch.push_back(word);
    if (batch.size() >= free_batch_words) {
      full.swap(batch);
    } else {
      frees_pending_ = true;
    }
  }
  if (!full.empty()) send_frees(home, full);
}

void global_heap::send_frees(int node, ::std::vector<::std::uint64_t>& words) {
  if (words.empty() || transport_ == nullptr) return;
  ::std::string_view bytes(reinterpret_cast<const char*>(words.data()), words.size() * sizeof(::std::uint64_t));
  // A node that failed ends the job anyway; its frees no longer matter.
  (void)transport_->send(node, message_kinds::heap_free_batch, bytes);
  words.clear();
}

void global_heap::flush_frees() {
  ::std::vector<::std::vector<::std::uint64_t>> batches(static_cast<::std::size_t>(layout_.nodes));
  {
    absl::MutexLock hold(&frees_lock_);
    batches.swap(pending_frees_);
    pending_frees_.resize(static_cast<::std::size_t>(layout_.nodes));
    frees_pending_ = false;
  }
  for (int node = 0; node < layout_.nodes; ++node) send_frees(node, batches[static_cast<::std::size_t>(node)]);
}

void global_heap::batching_loop() {
  while (true) {
    {
      absl::MutexLock hold(&frees_lock_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(frees_lock_) { return frees_pending_ || stopping_; };
      frees_lock_.Await(absl::Condition(&ready));
      if (stopping_) return;
    }
    // Let more frees join the batch, then send them all.
    ::std::this_thread::sleep_for(options_.free_batch_delay);
    flush_frees();
  }
}

absl::StatusOr<::std::uint64_t> global_heap::adopt(::std::uint64_t address) {
  if (is_local(address)) {
    const auto block = static_cast<::std::uintptr_t>(address);
    return word_of(address, watermarks_.colour_for(block, allocator_.usable_size(reinterpret_cast<void*>(block))));
  }
  const int home = home_of(address);
  if (home < 0 || transport_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not an address in the global heap"));
  }
  thread_local ::std::string reply;
  DRUST_RETURN_IF_ERROR(transport_->call(home, message_kinds::heap_adopt, fabric::encode(adopt_request{address}), reply));
  return get_word(reply);
}

void global_heap::retire_colours(::std::uint64_t word, ::std::size_t size) {
  const ::std::uint64_t address = word & address_mask;
  if (!is_local(address)) return;  // release() makes the object local first
  (void)size;
  const auto block = static_cast<::std::uintptr_t>(address);
  // The raw pointer's owner may hand it back (adopt): its colour must then be above this one. The
  // last colour cannot be passed; adopt then gives the last colour again, which no copy can carry
  // (readers never keep a copy at the last colour: docs/design/coherence.md, "Colour saturation").
  const auto colour = ::std::min<::std::uint16_t>(static_cast<::std::uint16_t>(word >> colour_shift), colour_watermarks::exhausted - 1);
  watermarks_.retire(block, allocator_.usable_size(reinterpret_cast<void*>(block)), colour);
}

}  // namespace drust::heap
