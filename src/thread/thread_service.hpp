// The thread layer's runtime side: starting closures on nodes, and knowing when they end.
//
// `install` connects it to the transport at bootstrap; before that (or in a one-node run) every
// thread starts locally. The templates in <drust/std/thread> call the functions declared in
// <drust/detail/launch.hpp>, which are defined here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <drust/detail/heap.hpp>
#include <drust/detail/launch.hpp>

#include "fabric/transport.hpp"

namespace drust::threads {

struct cluster_view {
  fabric::transport* transport = nullptr;  // nullptr: a one-node cluster
  int node = 0;
  int nodes = 1;
  unsigned total_cores = 0;  // 0: this machine's, as std::thread::hardware_concurrency()
};

// Registers the thread messages' handlers; call before transport::connect.
void install(const cluster_view& view);
// Fails the joins of every unfinished thread that runs on `node`.
void fail_node(int node, const ::std::string& reason);
// The outcome of async thread `serial`, started by this node, has reached its future: the thread
// only destroys its arguments now, so it counts as ended for placement (its thread_done can come
// much later from a node under a CPU quota, docs/design/scheduler.md).
void note_async_result(detail::thread_serial serial);
// For tests: this node refuses the next `count` threads other nodes ask it to start, as when it
// cannot create one (the spawner's join, or the async's future, then reports why).
void refuse_thread_starts(int count);
// Threads this node has run for anyone, and threads running here now.
::std::uint64_t threads_started();
::std::uint64_t threads_running();
// Waits, at most `limit`, until every async thread this node started has ended, also the part
// after its value (destroying its arguments); false when some have not. Called when the program's
// main returns, before the runtime stops.
bool wait_for_async_threads(::std::chrono::milliseconds limit);
// The threads running here now (not those still being created), by the node that started them
// (index: node; empty before install).
::std::vector<::std::uint64_t> threads_running_by_origin();

}  // namespace drust::threads

namespace drust::threads {

// The cluster as install() was told (a one-node view before that).
const cluster_view& current_cluster();
// Registers the future_fulfil handler (src/thread/futures.cpp); called by install().
void install_futures(const cluster_view& view);

// Why the block a peer named (by word and size) in a message cannot be read, or nullptr when it
// can: it must lie inside one partition of this job's global heap.
const char* why_not_a_heap_block(detail::global_word block, ::std::uint64_t size);

// Bytes too big for one active message wait in a block of the global heap: `park_bytes` copies
// them into a new block and returns its word, `unpark_bytes` reads them back and frees the block.
// Call unpark_bytes on an application thread, never on the progress thread (it reads remotely).
detail::global_word park_bytes(::std::string_view bytes);
::std::string unpark_bytes(detail::global_word block, ::std::size_t size);

}  // namespace drust::threads
