// Reference counting for drust::std::shared_ptr and weak_ptr across nodes (docs/design/shared.md).
//
// Two levels, so that copies on one node never send a message:
// - The *home* of a control block (the node whose partition holds it) keeps the global counts in
//   the block: strong and weak references, each held by a node (or in flight to one), never by a
//   handle. They change only there: by atomics when the caller is the home, else by messages.
// - Every node keeps a *table*: control block -> how many handles this node counts (strong, weak)
//   and how many global references it holds for them. A node holds at least one global reference
//   of a kind while it counts a handle of that kind, and gives them all back (one message, batched)
//   when its last such handle goes.
// When the strong count at home reaches zero the object's destructor runs at home (on this
// class's worker thread when that happens inside a message handler, which must not block), and
// the block is freed when the weak count reaches zero too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include <drust/detail/shared.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "fabric/transport.hpp"
#include "heap/global_heap.hpp"

namespace drust::coherence {

using ::drust::detail::reference_kind;

struct shared_reference_counters {
  ::std::atomic<::std::uint64_t> acquire_messages{0};   // round trips to a home: acquire, lock, use_count
  ::std::atomic<::std::uint64_t> release_messages{0};   // one-way messages carrying releases (to homes and tables)
  ::std::atomic<::std::uint64_t> messages_received{0};  // count messages other nodes sent here
  ::std::atomic<::std::uint64_t> objects_destroyed{0};  // shared objects whose destructor ran here (their home)
  ::std::atomic<::std::uint64_t> blocks_freed{0};       // control blocks freed here (their home)
};

// Runs the destructor named by a control block's destroy code (set by the runtime, which knows
// how code offsets map to functions).
using shared_destroyer = ::std::function<void(::std::int64_t destroy_code, ::std::uint64_t object, bool in_block)>;

struct shared_reference_options {
  ::std::chrono::milliseconds release_batch_delay{2};  // how long a release may wait for company
};

class shared_references {
 public:
  shared_references(heap::global_heap& heap, int node, shared_destroyer destroyer,
                    const shared_reference_options& options = {});
  ~shared_references();
  shared_references(const shared_references&) = delete;
  shared_references& operator=(const shared_references&) = delete;

  // Joins the cluster: registers the count messages' handlers (before transport::connect) and
  // starts the worker (batched releases, deferred destructors).
  void attach(fabric::transport* transport);
  // Runs the deferred destructors, sends every pending release and stops the worker.
  void stop();

  // The operations of <drust/detail/shared.hpp>, on counted words (address | counting node << 48).
  ::std::uint64_t created(::std::uint64_t control_word);
  absl::StatusOr<::std::uint64_t> acquire(::std::uint64_t counted, reference_kind kind);
  void release(::std::uint64_t counted, reference_kind kind);
  absl::StatusOr<::std::uint64_t> send(::std::uint64_t counted, reference_kind kind);
  ::std::uint64_t receive(::std::uint64_t control_address, reference_kind kind);
  absl::StatusOr<::std::uint64_t> lock(::std::uint64_t counted_weak);
  absl::StatusOr<long> use_count(::std::uint64_t counted);

  const shared_reference_counters& counters() const { return counters_; }
  // Control blocks this node holds references to now.
  ::std::uint64_t table_entries() const;
  // Releases waiting in a batch, and destructors waiting for the worker.
  ::std::uint64_t pending() const ABSL_LOCKS_EXCLUDED(work_lock_);

 private:
  // This node's references to one control block.
  struct table_entry {
    ::std::uint64_t handles[2] = {0, 0};  // handles counted here, by kind
    ::std::uint64_t global[2] = {0, 0};   // global references held at home, by kind
  };
  struct table_shard {
    mutable absl::Mutex lock;
    absl::flat_hash_map<::std::uint64_t, table_entry> entries ABSL_GUARDED_BY(lock);
  };
  static constexpr ::std::size_t shard_count = 16;

  // Counts of releases for one control block, on their way to a node.
  struct release_counts {
    ::std::uint64_t strong = 0;
    ::std::uint64_t weak = 0;
  };
  using release_batch = absl::flat_hash_map<::std::uint64_t, release_counts>;
  enum class batch_target { home, table };

  table_shard& shard_of(::std::uint64_t address);
  // Takes one global reference of `kind` into this node's table for a new handle.
  void adopt(::std::uint64_t address, reference_kind kind);
  // Drops `count` handles of `kind` counted here; gives back the global references when none is left.
  void release_here(::std::uint64_t address, reference_kind kind, ::std::uint64_t count, bool may_block);

  // The home's side.
  absl::Status acquire_at_home(::std::uint64_t address, reference_kind kind);
  absl::StatusOr<bool> lock_at_home(::std::uint64_t address);
  absl::StatusOr<::std::uint64_t> strong_at_home(::std::uint64_t address);
  void release_at_home(::std::uint64_t address, release_counts counts, bool may_block);
  // On a control block of this node: the decrements, and what follows when a count reaches zero.
  void apply_release(::std::uint64_t address, release_counts counts, bool may_block);
  void destroy_object(::std::uint64_t address);
  void release_weak(::std::uint64_t address, ::std::uint64_t count);

  // Batching of one-way releases, per destination node.
  void queue_release(int node, batch_target target, ::std::uint64_t address, release_counts counts);
  void flush_releases();
  void send_batch(int node, batch_target target, const release_batch& batch);
  void worker_loop();
  void run_deferred_destroys();

  heap::global_heap& heap_;
  int node_;
  int nodes_;
  shared_destroyer destroyer_;
  shared_reference_options options_;
  fabric::transport* transport_ = nullptr;
  shared_reference_counters counters_;
  table_shard shards_[shard_count];

  mutable absl::Mutex work_lock_;
  ::std::vector<release_batch> home_batches_ ABSL_GUARDED_BY(work_lock_);   // by home node
  ::std::vector<release_batch> table_batches_ ABSL_GUARDED_BY(work_lock_);  // by counting node
  bool releases_pending_ ABSL_GUARDED_BY(work_lock_) = false;
  ::std::uint64_t releases_sending_ ABSL_GUARDED_BY(work_lock_) = 0;  // taken from the batches, not yet sent
  ::std::deque<::std::uint64_t> destroys_ ABSL_GUARDED_BY(work_lock_);      // control blocks, here
  bool worker_running_ ABSL_GUARDED_BY(work_lock_) = false;
  bool stopping_ ABSL_GUARDED_BY(work_lock_) = false;
  ::std::thread worker_;
};

}  // namespace drust::coherence
