// The libfabric providers a job may name, and how drun picks one.
//
// Users write "tcp" or "verbs"; nodes are always told the full provider string ("tcp;ofi_rxm"), since
// drust needs reliable datagram endpoints and those providers offer them only through the rxm layer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace drust::launcher {

// "auto" until drun knows where the nodes run.
inline constexpr ::std::string_view auto_provider = "auto";

// The full name of `name` ("tcp" -> "tcp;ofi_rxm"), or an error that lists the known names.
absl::StatusOr<::std::string> normalize_provider(::std::string_view name);

// "auto, shm, tcp, tcp;ofi_rxm, ...": for error messages and --help.
::std::string known_provider_names();

// The provider auto chooses: shm when every node is on this host, tcp;ofi_rxm otherwise.
::std::string automatic_provider(bool every_node_is_local);

}  // namespace drust::launcher
