// libFuzzer target: the cluster-file parser (launcher/cluster_file.hpp) on any text. It must
// answer every input with a cluster or an error status: no crash, no leak, no undefined
// behaviour, and what it accepts must satisfy the schema's invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "cluster_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = drust::launcher::parse_cluster_file(text, "fuzz.json");
  if (!parsed.ok()) {
    // Every refusal names the file, so that a user knows where to look.
    if (std::string_view(parsed.status().message().data(), parsed.status().message().size()).rfind("fuzz.json", 0) != 0) {
      std::abort();
    }
    return 0;
  }
  // An accepted file has at least one node, unique names, and values in their documented ranges.
  if (parsed->nodes.empty()) std::abort();
  std::set<std::string> names;
  for (const auto& node : parsed->nodes) {
    if (node.name.empty() || node.host.empty() || !names.insert(node.name).second) std::abort();
    if (node.cores && *node.cores <= 0) std::abort();
    if (node.heap_size && *node.heap_size < drust::launcher::minimum_heap_size) std::abort();
    if (node.heap_pressure && (*node.heap_pressure < 1 || *node.heap_pressure > 100)) std::abort();
  }
  if (parsed->heap_pressure && (*parsed->heap_pressure < 1 || *parsed->heap_pressure > 100)) std::abort();
  return 0;
}
