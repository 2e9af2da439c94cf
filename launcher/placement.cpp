#include "placement.hpp"

namespace drust::launcher {

::std::vector<::std::optional<int>> placement_advice(const ::std::vector<::std::optional<heap_report>>& heaps) {
  // The best and second-best nodes by free heap, in one pass: the best is everyone's advice but
  // its own, which is the second best.
  ::std::optional<int> best;
  ::std::optional<int> second;
  auto roomier = [&](int node, const ::std::optional<int>& than) {
    // Scanning by increasing id, so a tie keeps the earlier (lower) node.
    return !than || heaps[static_cast<::std::size_t>(node)]->free() > heaps[static_cast<::std::size_t>(*than)]->free();
  };
  for (int node = 0; node < static_cast<int>(heaps.size()); ++node) {
    if (!heaps[static_cast<::std::size_t>(node)]) continue;
    if (roomier(node, best)) {
      second = best;
      best = node;
    } else if (roomier(node, second)) {
      second = node;
    }
  }

  ::std::vector<::std::optional<int>> advice(heaps.size());
  for (int node = 0; node < static_cast<int>(heaps.size()); ++node) {
    if (!best) continue;
    advice[static_cast<::std::size_t>(node)] = node != *best ? best : second;
  }
  return advice;
}

}  // namespace drust::launcher
