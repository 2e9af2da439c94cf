// The table `drun --stats` prints at the end of a job: one row per node, from the `stats` frame
// each node sends the controller as its part of the job ends (docs/launcher.md explains the
// columns).
//
//   ::std::vector<::std::optional<nlohmann::json>> stats(2);
//   stats[0] = {{"heap_used", 1 << 20}, {"heap_capacity", 64 << 20}, {"allocations_by_node", {5, 3}}};
//   ::std::cerr << format_stats_table(stats);   // node 1 sent nothing: its row says so
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drust::launcher {

// The title line, then two header lines and one line per node, each ending in '\n'. stats[i] holds
// node i's counters (the names of drust::runtime_stats), or nullopt when node i sent none; a
// counter missing from a frame counts as 0.
::std::string format_stats_table(const ::std::vector<::std::optional<nlohmann::json>>& stats);

// "0B", "512B", "1.5KiB", "12.0MiB": bytes for a person, one decimal from KiB up.
::std::string readable_bytes(::std::uint64_t bytes);

}  // namespace drust::launcher
