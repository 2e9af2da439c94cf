// What a node learns from drun through its environment (docs/design/bootstrap.md).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.hpp"

namespace drust::runtime {

struct node_config {
  bool in_job = false;  // false: started without drun, a one-node cluster
  int node = 0;
  int nodes = 1;
  ::std::string job;
  ::std::string cookie;
  ::std::string controller;  // host:port
  ::std::string provider;
  ::std::string fabric_host;
  ::std::uint64_t partition_size = 1ull << 30;
  ::std::uint64_t heap_size = 1ull << 30;
  ::std::uint64_t cache_size = 256ull << 20;
  double heap_pressure = 0.9;  // past this fraction of its heap, a node allocates elsewhere
  // Copies of remote objects at their own addresses (coherence/mirror.hpp), in half of cache_size;
  // the read cache has the other half. DRUST_MIRROR=off: none, the read cache has all of it.
  bool read_mirror = true;
  // Mutexes homed here are leased to a remote node that locks them twice in a row
  // (sync/mutex_table.hpp). DRUST_MUTEX_LEASES=off: never (every remote lock is a round trip).
  bool mutex_leases = true;
  // Transparent huge pages for this node's partition and for large copies of remote objects
  // (heap/partition.hpp, coherence/copy_arena.hpp). DRUST_HUGE_PAGES=off: 4 KiB pages only.
  bool huge_pages = true;
  int cores = 1;

  // Reads DRUST_* variables; an error names the variable and what is wrong with it.
  static absl::StatusOr<node_config> from_environment();
};

}  // namespace drust::runtime
