// The global heap as one node sees it: allocation anywhere in the cluster, frees sent home.
//
// Each node owns the allocator of its own partition. A block is allocated here while the
// partition is below the pressure threshold, else on the node the controller advises (or, failing
// that, on any node with room), by asking that node. A free of a block homed elsewhere is batched
// per home node and sent without waiting. Every block gets a colour from its home's watermarks,
// so a new object never matches a copy of an old one that is still cached somewhere.
//
// Blocks are named by *words*: the address in the low 48 bits and the colour in the top 16
// (drust::detail::global_word).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "fabric/transport.hpp"
#include "heap/allocator.hpp"
#include "heap/colour_watermarks.hpp"
#include "heap/partition.hpp"

namespace drust::heap {

struct global_heap_options {
  ::std::size_t heap_size = 0;           // bytes of the partition that may be handed out
  double pressure_threshold = 0.9;       // past this fraction, new blocks go to another node
  ::std::chrono::milliseconds free_batch_delay{2};  // how long a remote free may wait for company
};

struct global_heap_counters {
  explicit global_heap_counters(int nodes) : allocations_by_node(static_cast<::std::size_t>(nodes)) {}
  ::std::vector<::std::atomic<::std::uint64_t>> allocations_by_node;  // blocks this node asked for, by home
  ::std::atomic<::std::uint64_t> remote_frees_sent{0};      // frees of blocks homed elsewhere
  ::std::atomic<::std::uint64_t> remote_frees_received{0};  // frees other nodes sent here
  ::std::atomic<::std::uint64_t> blocks_served{0};          // blocks allocated here for other nodes
  ::std::atomic<::std::uint64_t> live_blocks{0};            // blocks of this partition in use
  ::std::atomic<::std::uint64_t> quarantined_bytes{0};      // blocks whose colours ran out
};

class global_heap {
 public:
  global_heap(const partition& local, int node, const global_heap_options& options);
  ~global_heap();
  global_heap(const global_heap&) = delete;
  global_heap& operator=(const global_heap&) = delete;

  // Joins the cluster: registers the heap's message handlers (call before transport::connect).
  void attach(fabric::transport* transport);
  // Sends every pending free and stops the batching thread.
  void stop();

  // A block of `size` bytes anywhere in the cluster; ResourceExhaustedError naming the sizes when
  // no node has room.
  absl::StatusOr<::std::uint64_t> allocate(::std::size_t size, ::std::size_t alignment);
  // A block of this node's partition, whatever the threshold; 0 when it has no room.
  ::std::uint64_t allocate_local(::std::size_t size, ::std::size_t alignment);
  // Frees the block named by `word`, wherever it lives.
  void deallocate(::std::uint64_t word);
  // Sends the pending frees now (also done by a timer within free_batch_delay).
  void flush_frees();

  // The home of `address`, or -1 outside the global heap.
  int home_of(::std::uint64_t address) const { return layout_.home_of(address); }
  bool is_local(::std::uint64_t address) const { return allocator_.contains(reinterpret_cast<const void*>(address)); }

  // A word for a block given up by a handle (release()) and taken back (adopt), and the retiring
  // of its colours at release. `adopt` asks the home node when the block is remote.
  absl::StatusOr<::std::uint64_t> adopt(::std::uint64_t address);
  void retire_colours(::std::uint64_t word, ::std::size_t size);

  // The node the controller advises for allocations past the threshold.
  void set_preferred_node(int node) { preferred_node_.store(node, ::std::memory_order_relaxed); }

  ::std::size_t bytes_in_use() const { return allocator_.bytes_in_use(); }
  ::std::size_t capacity() const { return allocator_.capacity(); }
  const global_heap_counters& counters() const { return counters_; }
  int nodes() const { return layout_.nodes; }

 private:
  void free_here(::std::uint64_t word);
  ::std::uint64_t allocate_at(int node, ::std::size_t size, ::std::size_t alignment);
  void send_frees(int node, ::std::vector<::std::uint64_t>& words);
  void batching_loop();

  heap_layout layout_;
  int node_;
  global_heap_options options_;
  allocator allocator_;
  colour_watermarks watermarks_;
  fabric::transport* transport_ = nullptr;
  ::std::atomic<int> preferred_node_{-1};
  global_heap_counters counters_;

  absl::Mutex frees_lock_;
  ::std::vector<::std::vector<::std::uint64_t>> pending_frees_ ABSL_GUARDED_BY(frees_lock_);
  bool frees_pending_ ABSL_GUARDED_BY(frees_lock_) = false;
  bool stopping_ ABSL_GUARDED_BY(frees_lock_) = false;
  ::std::thread batching_thread_;
};

}  // namespace drust::heap
