#include "provider.hpp"

#include "fabric/provider_table.hpp"

namespace drust::launcher {

// The names and their short forms are the fabric layer's (src/fabric/provider_table.cpp), so that
// what drun accepts is exactly what a node can open; drun adds only "auto".
absl::StatusOr<::std::string> normalize_provider(::std::string_view name) {
  if (name == auto_provider) return ::std::string(auto_provider);
  if (const fabric::provider_traits* known = fabric::find_provider(name)) return ::std::string(known->name);
  return absl::InvalidArgumentError(absl::StrCat("provider \"", ::std::string(name),
                                                 "\" is unknown; use one of ", known_provider_names()));
}

::std::string known_provider_names() {
  return absl::StrCat(::std::string(auto_provider), ", ", fabric::known_provider_names(), " (tcp and verbs are short for their ofi_rxm forms)");
}

::std::string automatic_provider(bool every_node_is_local) {
  return every_node_is_local ? "shm" : "tcp;ofi_rxm";
}

}  // namespace drust::launcher
