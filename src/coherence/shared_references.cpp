#include "coherence/shared_references.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/message_kinds.hpp"

namespace drust::coherence {

namespace {

constexpr unsigned colour_shift = 48;
constexpr ::std::uint64_t address_mask = (::std::uint64_t{1} << colour_shift) - 1;
// A release batch this long goes at once (each entry is 24 bytes: well within one message).
constexpr ::std::size_t release_batch_entries = 2048;

using ::drust::detail::shared_control_block;

constexpr ::std::size_t index_of(reference_kind kind) { return static_cast<::std::size_t>(kind); }

::std::uint64_t counted_here(::std::uint64_t address, int node) { return ::drust::detail::counted_word(address, node); }

shared_control_block* control_at(::std::uint64_t address) {
  return reinterpret_cast<shared_control_block*>(static_cast<::std::uintptr_t>(address));
}

::std::atomic_ref<::std::uint64_t> reference_count(shared_control_block* block, reference_kind kind) {
  return ::std::atomic_ref<::std::uint64_t>(kind == reference_kind::strong ? block->strong : block->weak);
}

struct acquire_request {
  static constexpr fabric::message_kind kind = message_kinds::shared_acquire;
  ::std::uint64_t address;
  ::std::uint32_t reference;  // reference_kind
  ::std::uint32_t unused = 0;
};

struct lock_request {
  static constexpr fabric::message_kind kind = message_kinds::shared_lock;
  ::std::uint64_t address;
};

struct use_count_request {
  static constexpr fabric::message_kind kind = message_kinds::shared_use_count;
  ::std::uint64_t address;
};

// One entry of a shared_release (to a home) or shared_table_release (to a counting node) message.
struct release_entry {
  ::std::uint64_t address;
  ::std::uint64_t strong;
  ::std::uint64_t weak;
};

using fabric::get_word;
using fabric::put_word;

template <class Visit>
void for_each_entry(::std::string_view payload, Visit&& visit) {
  const ::std::size_t count = payload.size() / sizeof(release_entry);
  for (::std::size_t i = 0; i < count; ++i) {
    release_entry entry;
    ::std::memcpy(&entry, payload.data() + i * sizeof entry, sizeof entry);
    visit(entry);
  }
}

}  // namespace

shared_references::shared_references(heap::global_heap& heap, int node, shared_destroyer destroyer,
                                     const shared_reference_options& options)
    : heap_(heap),
      node_(node),
      nodes_(heap.nodes()),
      destroyer_(::std::move(destroyer)),
      options_(options),
      home_batches_(static_cast<::std::size_t>(heap.nodes())),
      table_batches_(static_cast<::std::size_t>(heap.nodes())) {}

shared_references::~shared_references() { stop(); }

shared_references::table_shard& shared_references::shard_of(::std::uint64_t address) {
  return shards_[(address >> 4) * 0x9e3779b97f4a7c15ull >> 60];
}

::std::uint64_t shared_references::table_entries() const {
  ::std::uint64_t total = 0;
  for (const table_shard& shard : shards_) {
    absl::MutexLock hold(&shard.lock);
    total += shard.entries.size();
  }
  return total;
}

::std::uint64_t shared_references::pending() const {
  absl::MutexLock hold(&work_lock_);
  ::std::uint64_t total = destroys_.size() + releases_sending_;
  for (const release_batch& batch : home_batches_) total += batch.size();
  for (const release_batch& batch : table_batches_) total += batch.size();
  return total;
}

// ---------------------------------------------------------------------------------------------
// This node's table

void shared_references::adopt(::std::uint64_t address, reference_kind kind) {
  table_shard& shard = shard_of(address);
  absl::MutexLock hold(&shard.lock);
  table_entry& entry = shard.entries[address];
  ++entry.handles[index_of(kind)];
  ++entry.global[index_of(kind)];
}

void shared_references::release_here(::std::uint64_t address, reference_kind kind, ::std::uint64_t count, bool may_block) {
  if (count == 0) return;
  const ::std::size_t k = index_of(kind);
  ::std::uint64_t give_back = 0;
  {
    table_shard& shard = shard_of(address);
    absl::MutexLock hold(&shard.lock);
    auto found = shard.entries.find(address);
    if (found == shard.entries.end() || found->second.handles[k] < count) {
      ::std::fprintf(stderr, "drust: node %d: shared_ptr: release of %llu %s handle(s) of 0x%llx that this node does not count; ignored\n",
                     node_, static_cast<unsigned long long>(count), kind == reference_kind::strong ? "strong" : "weak",
                     static_cast<unsigned long long>(address));
      return;
    }
    table_entry& entry = found->second;
    entry.handles[k] -= count;
    if (entry.handles[k] == 0) {
      give_back = ::std::exchange(entry.global[k], 0);
      if (entry.handles[0] == 0 && entry.handles[1] == 0) shard.entries.erase(found);
    }
  }
  if (give_back == 0) return;
  release_counts counts;
  (kind == reference_kind::strong ? counts.strong : counts.weak) = give_back;
  release_at_home(address, counts, may_block);
}

::std::uint64_t shared_references::created(::std::uint64_t control_word) {
  const ::std::uint64_t address = control_word & address_mask;
  adopt(address, reference_kind::strong);
  return counted_here(address, node_);
}

absl::StatusOr<::std::uint64_t> shared_references::acquire(::std::uint64_t counted, reference_kind kind) {
  const ::std::uint64_t address = counted & address_mask;
  {
    table_shard& shard = shard_of(address);
    absl::MutexLock hold(&shard.lock);
    auto found = shard.entries.find(address);
    if (found != shard.entries.end() && found->second.handles[index_of(kind)] > 0) {
      // This node already holds a global reference of this kind: a copy costs nothing else.
      ++found->second.handles[index_of(kind)];
      return counted_here(address, node_);
    }
  }
  // The handle the caller holds keeps the block alive (its count at home is at least one) while
  // the home adds ours.
  DRUST_RETURN_IF_ERROR(acquire_at_home(address, kind));
  adopt(address, kind);
  return counted_here(address, node_);
}

void shared_references::release(::std::uint64_t counted, reference_kind kind) {
  const ::std::uint64_t address = counted & address_mask;
  if (address == 0) return;
  const int counter = ::drust::detail::counting_node(counted);
  if (counter == node_) {
    release_here(address, kind, 1, true);
    return;
  }
  if (counter < 0 || counter >= nodes_) {
    ::std::fprintf(stderr, "drust: node %d: shared_ptr: a handle of 0x%llx names node %d, which is not in the job; ignored\n",
                   node_, static_cast<unsigned long long>(address), counter);
    return;
  }
  // A handle counted by another node (it was moved here inside a heap object): that node's table
  // holds its reference.
  release_counts counts;
  (kind == reference_kind::strong ? counts.strong : counts.weak) = 1;
  queue_release(counter, batch_target::table, address, counts);
}

absl::StatusOr<::std::uint64_t> shared_references::send(::std::uint64_t counted, reference_kind kind) {
  const ::std::uint64_t address = counted & address_mask;
  const ::std::size_t k = index_of(kind);
  const int counter = ::drust::detail::counting_node(counted);
  ::std::uint64_t surplus = 0;  // global references left over when this node's last handle goes
  bool handed_over = false;
  {
    table_shard& shard = shard_of(address);
    absl::MutexLock hold(&shard.lock);
    auto found = shard.entries.find(address);
    if (found != shard.entries.end()) {
      table_entry& entry = found->second;
      if (counter == node_ && entry.handles[k] == 1) {
        // This node's last handle of the kind: its global references go, one of them in flight.
        surplus = entry.global[k] - 1;
        entry.handles[k] = 0;
        entry.global[k] = 0;
        if (entry.handles[0] == 0 && entry.handles[1] == 0) shard.entries.erase(found);
        handed_over = true;
      } else if (entry.handles[k] > 0 && entry.global[k] > 1) {
        // A spare global reference (folded in from an earlier arrival) travels.
        --entry.global[k];
        if (counter == node_) --entry.handles[k];
        handed_over = true;
      }
    }
  }
  if (surplus > 0) {
    release_counts counts;
    (kind == reference_kind::strong ? counts.strong : counts.weak) = surplus;
    release_at_home(address, counts, true);
  }
  if (handed_over) {
    if (counter != node_) release(counted, kind);
    return address;
  }
  // Another reference is needed: taken at home while the handle still holds its own, so the
  // count there never touches zero on the way.
  DRUST_RETURN_IF_ERROR(acquire_at_home(address, kind));
  release(counted, kind);
  return address;
}

::std::uint64_t shared_references::receive(::std::uint64_t control_address, reference_kind kind) {
  const ::std::uint64_t address = control_address & address_mask;
  // The reference in flight joins this node's: spare ones go back when the last handle here goes.
  adopt(address, kind);
  return counted_here(address, node_);
}

absl::StatusOr<::std::uint64_t> shared_references::lock(::std::uint64_t counted_weak) {
  const ::std::uint64_t address = counted_weak & address_mask;
  {
    table_shard& shard = shard_of(address);
    absl::MutexLock hold(&shard.lock);
    auto found = shard.entries.find(address);
    if (found != shard.entries.end() && found->second.handles[index_of(reference_kind::strong)] > 0) {
      ++found->second.handles[index_of(reference_kind::strong)];
      return counted_here(address, node_);
    }
  }
  DRUST_ASSIGN_OR_RETURN(bool alive, lock_at_home(address));
  if (!alive) return ::std::uint64_t{0};
  adopt(address, reference_kind::strong);
  return counted_here(address, node_);
}

absl::StatusOr<long> shared_references::use_count(::std::uint64_t counted) {
  const ::std::uint64_t address = counted & address_mask;
  ::std::uint64_t handles = 0;
  ::std::uint64_t held = 0;
  {
    table_shard& shard = shard_of(address);
    absl::MutexLock hold(&shard.lock);
    auto found = shard.entries.find(address);
    if (found != shard.entries.end()) {
      handles = found->second.handles[index_of(reference_kind::strong)];
      held = found->second.global[index_of(reference_kind::strong)];
    }
  }
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t strong, strong_at_home(address));
  // Other nodes count as the global references they hold; this node as its handles.
  const ::std::uint64_t others = strong >= held ? strong - held : 0;
  return static_cast<long>(handles + others);
}

// ---------------------------------------------------------------------------------------------
// The home's side

absl::Status shared_references::acquire_at_home(::std::uint64_t address, reference_kind kind) {
  if (heap_.is_local(address)) {
    reference_count(control_at(address), kind).fetch_add(1, ::std::memory_order_relaxed);
    return absl::OkStatus();
  }
  const int home = heap_.home_of(address);
  if (home < 0 || transport_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not a shared object of the global heap"));
  }
  counters_.acquire_messages.fetch_add(1, ::std::memory_order_relaxed);
  thread_local ::std::string reply;
  return transport_->call(home, message_kinds::shared_acquire,
                          fabric::encode(acquire_request{address, static_cast<::std::uint32_t>(kind)}), reply);
}

absl::StatusOr<bool> shared_references::lock_at_home(::std::uint64_t address) {
  if (heap_.is_local(address)) {
    auto strong = reference_count(control_at(address), reference_kind::strong);
    ::std::uint64_t seen = strong.load(::std::memory_order_relaxed);
    while (seen != 0) {
      if (strong.compare_exchange_weak(seen, seen + 1, ::std::memory_order_acq_rel, ::std::memory_order_relaxed)) return true;
    }
    return false;
  }
  const int home = heap_.home_of(address);
  if (home < 0 || transport_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not a shared object of the global heap"));
  }
  counters_.acquire_messages.fetch_add(1, ::std::memory_order_relaxed);
  thread_local ::std::string reply;
  DRUST_RETURN_IF_ERROR(transport_->call(home, message_kinds::shared_lock, fabric::encode(lock_request{address}), reply));
  return get_word(reply) != 0;
}

absl::StatusOr<::std::uint64_t> shared_references::strong_at_home(::std::uint64_t address) {
  if (heap_.is_local(address)) {
    return reference_count(control_at(address), reference_kind::strong).load(::std::memory_order_acquire);
  }
  const int home = heap_.home_of(address);
  if (home < 0 || transport_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("0x", absl::Hex(address), " is not a shared object of the global heap"));
  }
  counters_.acquire_messages.fetch_add(1, ::std::memory_order_relaxed);
  thread_local ::std::string reply;
  DRUST_RETURN_IF_ERROR(transport_->call(home, message_kinds::shared_use_count, fabric::encode(use_count_request{address}), reply));
  return get_word(reply);
}

void shared_references::release_at_home(::std::uint64_t address, release_counts counts, bool may_block) {
  if (heap_.is_local(address)) {
    apply_release(address, counts, may_block);
    return;
  }
  const int home = heap_.home_of(address);
  if (home < 0) {
    ::std::fprintf(stderr, "drust: node %d: shared_ptr: release of 0x%llx, which is not in the global heap; ignored\n",
                   node_, static_cast<unsigned long long>(address));
    return;
  }
  queue_release(home, batch_target::home, address, counts);
}

void shared_references::apply_release(::std::uint64_t address, release_counts counts, bool may_block) {
  shared_control_block* block = control_at(address);
  if (counts.strong > 0) {
    const ::std::uint64_t before = reference_count(block, reference_kind::strong).fetch_sub(counts.strong, ::std::memory_order_acq_rel);
    if (before < counts.strong) {
      ::std::fprintf(stderr, "drust: node %d: shared_ptr: strong count of 0x%llx went below zero (%llu - %llu)\n", node_,
                     static_cast<unsigned long long>(address), static_cast<unsigned long long>(before),
                     static_cast<unsigned long long>(counts.strong));
    } else if (before == counts.strong) {
      // The last strong reference anywhere: the destructor may read or free objects of other
      // nodes, so it never runs inside a message handler.
      bool deferred = false;
      if (!may_block) {
        absl::MutexLock hold(&work_lock_);
        if (worker_running_) {
          destroys_.push_back(address);
          deferred = true;
        }
      }
      if (!deferred) destroy_object(address);
    }
  }
  if (counts.weak > 0) release_weak(address, counts.weak);
}

void shared_references::destroy_object(::std::uint64_t address) {
  shared_control_block* block = control_at(address);
  destroyer_(block->destroy_code, block->object, (block->flags & ::drust::detail::shared_object_in_block) != 0);
  counters_.objects_destroyed.fetch_add(1, ::std::memory_order_relaxed);
  release_weak(address, 1);  // the one the strong references held together
}

void shared_references::release_weak(::std::uint64_t address, ::std::uint64_t count) {
  shared_control_block* block = control_at(address);
  const ::std::uint64_t before = reference_count(block, reference_kind::weak).fetch_sub(count, ::std::memory_order_acq_rel);
  if (before == count) {
    heap_.deallocate(block->self);
    counters_.blocks_freed.fetch_add(1, ::std::memory_order_relaxed);
  } else if (before < count) {
    ::std::fprintf(stderr, "drust: node %d: shared_ptr: weak count of 0x%llx went below zero\n", node_,
                   static_cast<unsigned long long>(address));
  }
}

// ---------------------------------------------------------------------------------------------
// Messages and batching

void shared_references::attach(fabric::transport* transport) {
  transport_ = transport;
  transport->on_request(message_kinds::shared_acquire,
                        [this](const fabric::incoming_message& message, ::std::string& reply) -> absl::Status {
                          counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
                          auto request = fabric::decode<acquire_request>(message.payload);
                          if (!request || !heap_.is_local(request->address) || request->reference > 1) {
                            return absl::InvalidArgumentError("shared_acquire of a control block this node does not own");
                          }
                          reference_count(control_at(request->address), static_cast<reference_kind>(request->reference))
                              .fetch_add(1, ::std::memory_order_relaxed);
                          reply.clear();
                          return absl::OkStatus();
                        });
  transport->on_request(message_kinds::shared_lock,
                        [this](const fabric::incoming_message& message, ::std::string& reply) -> absl::Status {
                          counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
                          auto request = fabric::decode<lock_request>(message.payload);
                          if (!request || !heap_.is_local(request->address)) {
                            return absl::InvalidArgumentError("shared_lock of a control block this node does not own");
                          }
                          absl::StatusOr<bool> alive = lock_at_home(request->address);
                          if (!alive.ok()) return alive.status();
                          put_word(reply, *alive ? 1 : 0);
                          return absl::OkStatus();
                        });
  transport->on_request(message_kinds::shared_use_count,
                        [this](const fabric::incoming_message& message, ::std::string& reply) -> absl::Status {
                          counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
                          auto request = fabric::decode<use_count_request>(message.payload);
                          if (!request || !heap_.is_local(request->address)) {
                            return absl::InvalidArgumentError("shared_use_count of a control block this node does not own");
                          }
                          put_word(reply, reference_count(control_at(request->address), reference_kind::strong).load(::std::memory_order_acquire));
                          return absl::OkStatus();
                        });
  transport->on_message(message_kinds::shared_release, [this](const fabric::incoming_message& message) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    for_each_entry(message.payload, [&](const release_entry& entry) {
      if (!heap_.is_local(entry.address)) {
        ::std::fprintf(stderr, "drust: node %d: shared_ptr: node %d sent a release of 0x%llx, which is not in this partition; ignored\n",
                       node_, message.source, static_cast<unsigned long long>(entry.address));
        return;
      }
      apply_release(entry.address, {entry.strong, entry.weak}, false);
    });
  });
  transport->on_message(message_kinds::shared_table_release, [this](const fabric::incoming_message& message) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    for_each_entry(message.payload, [&](const release_entry& entry) {
      release_here(entry.address, reference_kind::strong, entry.strong, false);
      release_here(entry.address, reference_kind::weak, entry.weak, false);
    });
  });
  {
    absl::MutexLock hold(&work_lock_);
    worker_running_ = true;
  }
  worker_ = ::std::thread([this] { worker_loop(); });
}

void shared_references::stop() {
  {
    absl::MutexLock hold(&work_lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
  {
    absl::MutexLock hold(&work_lock_);
    worker_running_ = false;
  }
  // Destructors may release more (nested shared objects): until nothing is left.
  while (true) {
    run_deferred_destroys();
    flush_releases();
    absl::MutexLock hold(&work_lock_);
    if (destroys_.empty()) break;
  }
}

void shared_references::queue_release(int node, batch_target target, ::std::uint64_t address, release_counts counts) {
  release_batch full;
  {
    absl::MutexLock hold(&work_lock_);
    auto& batches = target == batch_target::home ? home_batches_ : table_batches_;
    release_batch& batch = batches[static_cast<::std::size_t>(node)];
    release_counts& pending = batch[address];
    pending.strong += counts.strong;
    pending.weak += counts.weak;
    if (batch.size() >= release_batch_entries) {
      full.swap(batch);
      releases_sending_ += full.size();
    } else {
      releases_pending_ = true;
    }
  }
  if (full.empty()) return;
  send_batch(node, target, full);
  absl::MutexLock hold(&work_lock_);
  releases_sending_ -= full.size();
}

void shared_references::flush_releases() {
  ::std::vector<release_batch> homes(static_cast<::std::size_t>(nodes_));
  ::std::vector<release_batch> tables(static_cast<::std::size_t>(nodes_));
  ::std::uint64_t taken = 0;
  {
    absl::MutexLock hold(&work_lock_);
    homes.swap(home_batches_);
    tables.swap(table_batches_);
    home_batches_.resize(static_cast<::std::size_t>(nodes_));
    table_batches_.resize(static_cast<::std::size_t>(nodes_));
    releases_pending_ = false;
    for (const release_batch& batch : homes) taken += batch.size();
    for (const release_batch& batch : tables) taken += batch.size();
    releases_sending_ += taken;
  }
  for (int node = 0; node < nodes_; ++node) {
    send_batch(node, batch_target::table, tables[static_cast<::std::size_t>(node)]);
    send_batch(node, batch_target::home, homes[static_cast<::std::size_t>(node)]);
  }
  absl::MutexLock hold(&work_lock_);
  releases_sending_ -= taken;
}

void shared_references::send_batch(int node, batch_target target, const release_batch& batch) {
  if (batch.empty()) return;
  if (transport_ == nullptr) {
    ::std::fprintf(stderr, "drust: node %d: shared_ptr: %zu release(s) for node %d, but this node is not in a cluster; dropped\n",
                   node_, batch.size(), node);
    return;
  }
  ::std::vector<release_entry> entries;
  entries.reserve(batch.size());
  for (const auto& [address, counts] : batch) entries.push_back({address, counts.strong, counts.weak});
  const auto kind = target == batch_target::home ? message_kinds::shared_release : message_kinds::shared_table_release;
  ::std::string_view bytes(reinterpret_cast<const char*>(entries.data()), entries.size() * sizeof(release_entry));
  counters_.release_messages.fetch_add(1, ::std::memory_order_relaxed);
  // A node that failed ends the job anyway; its counts no longer matter.
  (void)transport_->send(node, kind, bytes);
}

void shared_references::run_deferred_destroys() {
  ::std::deque<::std::uint64_t> destroys;
  {
    absl::MutexLock hold(&work_lock_);
    destroys.swap(destroys_);
  }
  for (::std::uint64_t address : destroys) destroy_object(address);
}

void shared_references::worker_loop() {
  while (true) {
    bool flush = false;
    {
      absl::MutexLock hold(&work_lock_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(work_lock_) {
        return releases_pending_ || !destroys_.empty() || stopping_;
      };
      work_lock_.Await(absl::Condition(&ready));
      if (stopping_) return;
      flush = releases_pending_;
    }
    run_deferred_destroys();
    if (flush) {
      // Let more releases join the batch, then send them all.
      ::std::this_thread::sleep_for(options_.release_batch_delay);
      flush_releases();
    }
  }
}

}  // namespace drust::coherence
