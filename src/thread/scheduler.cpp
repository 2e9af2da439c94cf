#include "thread/scheduler.hpp"

#include <cstddef>
#include <memory>
#include <utility>

#include <drust/detail/placement.hpp>

#include "absl/synchronization/mutex.h"
#include "thread/thread_service.hpp"

namespace drust::threads {

namespace {

struct scheduler_state {
  explicit scheduler_state(scheduler_view installed) : view(::std::move(installed)) {
    table.resize(view.cores.size());
    for (::std::size_t node = 0; node < table.size(); ++node) table[node].cores = view.cores[node];
    running_there.assign(table.size(), 0);
    ended_before_start.assign(table.size(), 0);
  }

  const scheduler_view view;
  absl::Mutex lock;
  // Until the first table: every node idle, with the cores it announced.
  ::std::vector<node_load> table ABSL_GUARDED_BY(lock);
  // Per node: the threads this node started there that are still running (exact, never reset by a
  // table).
  ::std::vector<::std::uint64_t> running_there ABSL_GUARDED_BY(lock);
  ::std::vector<::std::uint64_t> ended_before_start ABSL_GUARDED_BY(lock);  // count_running_there
};

// Set once at bootstrap, before any application thread spawns; never freed (threads may outlive main).
scheduler_state* state = nullptr;

// A thread this node started on `node` began (`started`) or ended. The end can be handled first:
// a short thread may finish, and its node's `thread_done` arrive, before the spawner, back from
// sending the spawn, notes the start. Such an end is kept as a credit that the start then cancels,
// so that the count neither misses a thread nor keeps one that has ended.
void count_running_there(int node, bool started) {
  if (state == nullptr) return;
  absl::MutexLock hold(&state->lock);
  if (node < 0 || static_cast<::std::size_t>(node) >= state->running_there.size()) return;
  const auto index = static_cast<::std::size_t>(node);
  ::std::uint64_t& count = state->running_there[index];
  ::std::uint64_t& ended_early = state->ended_before_start[index];
  if (started) {
    if (ended_early > 0) {
      --ended_early;
      return;
    }
    ++count;
  } else if (count > 0) {
    --count;
  } else {
    ++ended_early;
  }
}

}  // namespace

void install_scheduler(scheduler_view view) { state = new scheduler_state(::std::move(view)); }

void receive_load_table(::std::vector<node_load> table) {
  if (state == nullptr) return;
  absl::MutexLock hold(&state->lock);
  for (::std::size_t node = 0; node < table.size() && node < state->table.size(); ++node) {
    state->table[node] = table[node];
  }
}

void note_thread_sent(int node) { count_running_there(node, true); }

void note_thread_ended(int node) { count_running_there(node, false); }

}  // namespace drust::threads

namespace drust::detail {

int default_thread_node(const argument_data* data, ::std::size_t count) {
  threads::scheduler_state* const state = threads::state;
  if (state == nullptr) return threads::current_cluster().node;
  const threads::scheduler_view& view = state->view;

  ::std::vector<threads::data_at> homes;
  homes.reserve(count);
  for (::std::size_t i = 0; i < count; ++i) {
    if (address_of(data[i].word) == 0) continue;
    homes.push_back({view.home_of(address_of(data[i].word)), data[i].bytes});
  }

  threads::placement_inputs in;
  in.node = view.node;
  in.cores = static_cast<::std::size_t>(view.node) < view.cores.size() ? view.cores[static_cast<::std::size_t>(view.node)] : 1;
  in.running = threads::threads_running();
  in.heap_has_room = view.heap_has_room ? view.heap_has_room() : true;
  in.data = homes;
  ::std::vector<threads::node_load> table;
  {
    absl::MutexLock hold(&state->lock);
    table = state->table;
    for (::std::size_t node = 0; node < table.size(); ++node) {
      table[node].threads = threads::estimated_threads(table[node].threads, table[node].started_by_reader,
                                                       state->running_there[node]);
    }
  }
  in.table = table;
  return threads::choose_thread_node(in);
}

}  // namespace drust::detail
