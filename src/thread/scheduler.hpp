// This node's side of the thread scheduler: what it knows of the cluster's load, and the choice of
// a node for each thread the program does not place itself (the rules: placement.hpp).
//
// The controller broadcasts a `load_table` (threads running and cores, per node, and of those
// threads the ones each node started) as the nodes' load reports (every 250 ms) change it; the
// node runtime hands each table to receive_load_table. This node also counts, exactly, the threads
// it has started on each other node and that are still running (note_thread_sent,
// note_thread_ended), and counts those in place of what the table says of them (placement.hpp,
// estimated_threads): a burst of spawns spreads at once instead of
// piling onto the node that looked free in the last table, and a node whose threads from this
// node have ended looks free again at once instead of a report later. The spawn path sends no
// message of its own.
//
//   threads::install_scheduler({.node = 0, .cores = {2, 2}, .heap_has_room = [] { return true; },
//                               .home_of = [](::std::uint64_t address) { return 0; }});
//   threads::receive_load_table({{2, 2, 0}, {0, 2, 0}});   // threads, cores, started by node 0
//   int node = detail::default_thread_node(nullptr, 0);   // 1 once node 0 runs 2 threads
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "thread/placement.hpp"

namespace drust::threads {

struct scheduler_view {
  int node = 0;
  ::std::vector<::std::uint64_t> cores;  // per node, from the controller's welcome
  // Whether this node's heap partition is below its pressure threshold.
  ::std::function<bool()> heap_has_room;
  // The home node of a global-heap address (-1 outside the heap).
  ::std::function<int(::std::uint64_t address)> home_of;
};

// Called once at bootstrap, before the first thread is spawned; without it every thread stays on
// the spawning node (a one-node run).
void install_scheduler(scheduler_view view);
// The controller's latest table (index: node).
void receive_load_table(::std::vector<node_load> table);
// A thread was just started on `node` (another node) by this one.
void note_thread_sent(int node);
// A thread this node started on `node` has ended (its end may be noted before its start).
void note_thread_ended(int node);

}  // namespace drust::threads
