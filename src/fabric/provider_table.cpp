#include "fabric/provider_table.hpp"

#include <array>

namespace drust::fabric {

namespace {

constexpr ::std::array providers = {
    provider_traits{"shm", "shm", true, false, idle_wait::doorbell, false},
    provider_traits{"tcp;ofi_rxm", "tcp;ofi_rxm", false, true, idle_wait::wait_fd, true},
    provider_traits{"verbs;ofi_rxm", "verbs;ofi_rxm", false, true, idle_wait::backoff, false},
    provider_traits{"efa", "efa", false, false, idle_wait::backoff, true},
    provider_traits{"cxi", "cxi", false, false, idle_wait::backoff, false},
};

struct alias {
  ::std::string_view short_name;
  ::std::string_view full_name;
};
constexpr ::std::array aliases = {alias{"tcp", "tcp;ofi_rxm"}, alias{"verbs", "verbs;ofi_rxm"}};

}  // namespace

const provider_traits* find_provider(::std::string_view name) {
  for (const alias& a : aliases) {
    if (a.short_name == name) name = a.full_name;
  }
  for (const provider_traits& p : providers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

::std::string known_provider_names() {
  ::std::string names;
  for (const provider_traits& p : providers) {
    if (!names.empty()) names += ", ";
    names += p.name;
  }
  return names;
}

}  // namespace drust::fabric
