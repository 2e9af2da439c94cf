#include "provider.hpp"

#include <array>

namespace drust::launcher {

namespace {

struct provider_name {
  ::std::string_view written;  // what a user may write
  ::std::string_view full;     // what the nodes are given
};

constexpr ::std::array<provider_name, 8> provider_names{{
    {"auto", "auto"},
    {"shm", "shm"},
    {"tcp", "tcp;ofi_rxm"},
    {"tcp;ofi_rxm", "tcp;ofi_rxm"},
    {"verbs", "verbs;ofi_rxm"},
    {"verbs;ofi_rxm", "verbs;ofi_rxm"},
    {"efa", "efa"},
    {"cxi", "cxi"},
}};

}  // namespace

absl::StatusOr<::std::string> normalize_provider(::std::string_view name) {
  for (const provider_name& known : provider_names) {
    if (name == known.written) return ::std::string(known.full);
  }
  return absl::InvalidArgumentError(absl::StrCat("provider \"", ::std::string(name),
                                                 "\" is unknown; use one of ", known_provider_names()));
}

::std::string known_provider_names() {
  ::std::string names;
  for (const provider_name& known : provider_names) {
    if (!names.empty()) names += ", ";
    names += known.written;
  }
  return names;
}

::std::string automatic_provider(bool every_node_is_local) {
  return every_node_is_local ? "shm" : "tcp;ofi_rxm";
}

}  // namespace drust::launcher
