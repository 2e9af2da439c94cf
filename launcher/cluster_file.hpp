// The cluster file: which hosts run a job's nodes, and how big each node is.
//
// drun reads it for `drun --cluster cluster.json ./app`. The schema, with an example, is in
// docs/cluster-file.md. Parsing only checks the file itself (types, ranges, unknown keys, duplicate
// names); combining it with the command line and the hosts is job_plan's work.
//
//   auto cluster = drust::launcher::read_cluster_file("cluster.json");
//   if (!cluster.ok()) { ::std::cerr << "drun: " << cluster.status().message() << "\n"; return 1; }
//   for (const auto& node : cluster->nodes) ::std::cout << node.name << " on " << node.host << "\n";
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace drust::launcher {

// The smallest heap a node may have: below this the runtime's own tables do not fit.
inline constexpr ::std::uint64_t minimum_heap_size = 16u << 20;

// The fill level (percent of a node's heap) past which its new objects go to another node.
inline constexpr int default_heap_pressure = 90;

struct cluster_node {
  ::std::string name;                          // unique; "n<i>" when the file gives none
  ::std::string host;                          // where the node runs
  ::std::optional<int> cores;                  // cores offered to the scheduler
  ::std::optional<::std::uint64_t> heap_size;  // bytes of the global heap this node holds
  ::std::optional<::std::string> program;      // the executable's path on `host`
  ::std::optional<::std::uint64_t> cache_size; // bytes of this node's read cache ("cache")
  ::std::optional<int> heap_pressure;          // percent, 1..100 ("heap_pressure")
};

struct controller_address {
  ::std::string host;
  ::std::uint16_t port = 0;  // 0: any free port
};

struct cluster_file {
  ::std::optional<::std::string> provider;          // normalized ("tcp" -> "tcp;ofi_rxm"); may be "auto"
  ::std::optional<controller_address> controller;   // where drun's controller listens
  ::std::optional<::std::uint64_t> cache_size;      // read-cache bytes per node, unless a node says
  ::std::optional<int> heap_pressure;               // percent, 1..100, unless a node says
  ::std::vector<cluster_node> nodes;                // never empty
};

// Parses the text of a cluster file. `file_name` starts every error message, which names the field
// at fault and what was found there, e.g. `cluster.json: nodes[1].cores must be a positive integer,
// got "two"`. JSON comments (// and /* */) are allowed.
absl::StatusOr<cluster_file> parse_cluster_file(::std::string_view text, ::std::string_view file_name);

// Reads and parses the file at `path`.
absl::StatusOr<cluster_file> read_cluster_file(const ::std::string& path);

}  // namespace drust::launcher
