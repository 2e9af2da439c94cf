#include "thread/placement.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>

namespace drust::threads {

int data_home(::std::span<const data_at> data, int prefer) {
  int highest = -1;
  for (const data_at& part : data) highest = ::std::max(highest, part.node);
  if (highest < 0) return -1;
  ::std::vector<::std::uint64_t> bytes(static_cast<::std::size_t>(highest) + 1, 0);
  ::std::vector<bool> named(bytes.size(), false);
  for (const data_at& part : data) {
    if (part.node < 0) continue;
    bytes[static_cast<::std::size_t>(part.node)] += part.bytes;
    named[static_cast<::std::size_t>(part.node)] = true;
  }
  int best = -1;
  for (int node = 0; node <= highest; ++node) {
    if (!named[static_cast<::std::size_t>(node)]) continue;
    if (best < 0 || bytes[static_cast<::std::size_t>(node)] > bytes[static_cast<::std::size_t>(best)]) best = node;
  }
  if (prefer >= 0 && prefer <= highest && named[static_cast<::std::size_t>(prefer)] &&
      bytes[static_cast<::std::size_t>(prefer)] == bytes[static_cast<::std::size_t>(best)]) {
    return prefer;
  }
  return best;
}

namespace {

// a.threads / a.cores < b.threads / b.cores, without division (a node with no cores counts as one).
bool lighter(const node_load& a, const node_load& b) {
  const ::std::uint64_t a_cores = ::std::max<::std::uint64_t>(a.cores, 1);
  const ::std::uint64_t b_cores = ::std::max<::std::uint64_t>(b.cores, 1);
  return a.threads * b_cores < b.threads * a_cores;
}

::std::uint64_t free_cores(const node_load& load) { return load.threads < load.cores ? load.cores - load.threads : 0; }

}  // namespace

int choose_thread_node(const placement_inputs& in) {
  const auto entry = [&](int node) -> ::std::optional<node_load> {
    if (node == in.node) return node_load{in.running, in.cores};
    if (node < 0 || static_cast<::std::size_t>(node) >= in.table.size()) return ::std::nullopt;
    return in.table[static_cast<::std::size_t>(node)];
  };

  // 1. Near the data, when its node has a core to spare.
  const int home = data_home(in.data, in.node);
  if (home >= 0 && home != in.node) {
    if (auto load = entry(home); load && load->has_free_core()) return home;
  }

  // 2. Here, while a core and heap room are free.
  if (in.running < in.cores && in.heap_has_room) return in.node;

  // 3. The least loaded node.
  int best = in.heap_has_room ? in.node : -1;
  for (int node = 0; node < static_cast<int>(in.table.size()); ++node) {
    if (node == in.node) continue;
    const node_load load = *entry(node);
    if (best < 0) {
      best = node;
      continue;
    }
    const node_load current = *entry(best);
    if (lighter(load, current)) {
      best = node;
    } else if (!lighter(current, load) && best != in.node && free_cores(load) > free_cores(current)) {
      best = node;  // as loaded, more cores free; equal in both: the lower id stays
    }
  }
  if (best < 0) return in.node;
  // Where every candidate is as busy, being near the data still saves its reads.
  if (home >= 0 && home != best && (home != in.node || in.heap_has_room)) {
    if (auto load = entry(home); load && !lighter(*entry(best), *load)) return home;
  }
  return best;
}

::std::uint64_t estimated_threads(::std::uint64_t reported, ::std::uint64_t reported_mine, ::std::uint64_t running_now) {
  // The two figures of a report are read one after the other on its node: `reported_mine` can be
  // one thread ahead.
  return reported - ::std::min(reported, reported_mine) + running_now;
}

}  // namespace drust::threads
