// Where a thread goes when the program names no node (docs/design/scheduler.md).
//
// The decision is a pure function of what this node knows when it spawns: its own cores, threads
// and heap room, its estimate of every other node's load (the controller's last table, corrected
// by the threads this node itself has running there: estimated_threads), and the home nodes of the
// bytes the thread's arguments point to. It sends no message; it is tested without a cluster.
//
//   ::std::vector<threads::node_load> table = {{3, 2}, {0, 2}, {1, 2}};  // threads, cores
//   threads::placement_inputs in{.node = 0, .cores = 2, .running = 3, .heap_has_room = true, .table = table};
//   int node = threads::choose_thread_node(in);   // 1: node 0 is full, node 1 the least loaded
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace drust::threads {

// One node's entry of the load table: threads running there and the cores it offers; and, of
// those threads, the ones the node reading the table started there.
struct node_load {
  ::std::uint64_t threads = 0;
  ::std::uint64_t cores = 0;
  ::std::uint64_t started_by_reader = 0;

  // Whether a new thread there would still have a core of its own.
  bool has_free_core() const { return threads < cores; }
};

// A handle's object or buffer among a thread's arguments: its home node and its size in bytes.
struct data_at {
  int node = -1;
  ::std::uint64_t bytes = 0;
};

struct placement_inputs {
  int node = 0;                 // the spawning node
  ::std::uint64_t cores = 1;    // its cores
  ::std::uint64_t running = 0;  // threads running on it now
  bool heap_has_room = true;    // its heap partition is below the pressure threshold
  // Every node's load (index: node), this node's entry included (it is not read: `running` and
  // `cores` are fresher). Entries for other nodes are estimates (estimated_threads): they count
  // the threads this node has running there now, not as of the table.
  ::std::span<const node_load> table;
  ::std::span<const data_at> data;  // what the arguments point to; entries with node < 0 are ignored
};

// The node a thread without drust::on runs on:
//  1. data affinity: the node holding most of the argument bytes (ties: this node if it is among
//     them, else the lowest id), when that is another node with a free core in the table;
//  2. else this node, while it has a free core and heap room;
//  3. else the least loaded node: the lowest threads per core (this node by its own count, and
//     only while its heap has room or no other node is known); ties go to the data's node, then
//     to this node, then to the one with the most free cores, then to the lowest id.
int choose_thread_node(const placement_inputs& in);

// A node's threads as this node should count them: `reported` (the controller's table, from that
// node's last report), less `reported_mine` (those of them this node started), plus
// `running_now` (the threads this node has running there now, by its own exact count). So this
// node's threads are counted as they are now, never as the report saw them; only the threads
// other nodes started there come from the (older) report.
::std::uint64_t estimated_threads(::std::uint64_t reported, ::std::uint64_t reported_mine, ::std::uint64_t running_now);

// The node holding most of `data`'s bytes (ties: `prefer` if among them, else the lowest id);
// -1 when `data` names no node.
int data_home(::std::span<const data_at> data, int prefer);

}  // namespace drust::threads
