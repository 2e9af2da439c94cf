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
    sent.assign(table.size(), 0);
  }

  const scheduler_view view;
  absl::Mutex lock;
  // Until the first table: every node idle, with the cores it announced.
  ::std::vector<node_load> table ABSL_GUARDED_BY(lock);
  ::std::vector<::std::uint64_t> sent ABSL_GUARDED_BY(lock);  // threads sent to each node since `table`, still running
};

// Set once at bootstrap, before any application thread spawns; never freed (threads may outlive main).
scheduler_state* state = nullptr;

}  // namespace

void install_scheduler(scheduler_view view) { state = new scheduler_state(::std::move(view)); }

void receive_load_table(::std::vector<node_load> table) {
  if (state == nullptr) return;
  absl::MutexLock hold(&state->lock);
  for (::std::size_t node = 0; node < table.size() && node < state->table.size(); ++node) {
    state->table[node] = table[node];
  }
  state->sent.assign(state->table.size(), 0);
}

void note_thread_sent(int node) {
  if (state == nullptr) return;
  absl::MutexLock hold(&state->lock);
  if (node >= 0 && static_cast<::std::size_t>(node) < state->sent.size()) ++state->sent[static_cast<::std::size_t>(node)];
}

void note_thread_ended(int node) {
  if (state == nullptr) return;
  absl::MutexLock hold(&state->lock);
  if (node >= 0 && static_cast<::std::size_t>(node) < state->sent.size() && state->sent[static_cast<::std::size_t>(node)] > 0) {
    --state->sent[static_cast<::std::size_t>(node)];
  }
}

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
    for (::std::size_t node = 0; node < table.size(); ++node) table[node].threads += state->sent[node];
  }
  in.table = table;
  return threads::choose_thread_node(in);
}

}  // namespace drust::detail
