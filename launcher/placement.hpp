// Placement advice: where each node's new objects go once its own heap partition is past the
// pressure threshold.
//
// The controller keeps every node's latest heap report (the `load` frames) and, after each one,
// advises every node to allocate on the node with the most free heap other than itself. It is a
// pure function of the reports, so it is tested without sockets.
//
//   ::std::vector<::std::optional<heap_report>> heaps = {heap_report{60, 100}, heap_report{10, 100}, ::std::nullopt};
//   auto advice = placement_advice(heaps);   // {1, 0, 1}: node 1 has the most room, node 0 the most after it
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace drust::launcher {

// One node's heap as its latest `load` frame described it.
struct heap_report {
  ::std::uint64_t used = 0;
  ::std::uint64_t capacity = 0;

  // capacity - used, never below 0.
  ::std::uint64_t free() const { return used < capacity ? capacity - used : 0; }
};

// For each node, the node its allocations should go to past its threshold: the node with the most
// free heap other than itself (ties: the lowest id). Nodes without a report (nullopt) are never
// chosen, but are advised too. An entry is nullopt when no other node has reported: advising a node
// to allocate on itself would say nothing (past its threshold it tries the others in turn anyway).
::std::vector<::std::optional<int>> placement_advice(const ::std::vector<::std::optional<heap_report>>& heaps);

}  // namespace drust::launcher
