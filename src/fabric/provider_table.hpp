// Everything that differs between libfabric providers, in one table (as Mercury's na_ofi does).
//
// The rest of src/fabric/ asks this table instead of comparing provider names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace drust::fabric {

// How an idle progress engine waits for the next message.
enum class idle_wait {
  doorbell,    // no blocking CQ wait (shm): sleep on a futex that senders ring
  wait_fd,     // the CQ exposes a file descriptor (FI_WAIT_FD): poll(2) on it
  backoff,     // neither: sleep in growing steps
};

struct provider_traits {
  ::std::string_view name;       // what users write: "shm", "tcp;ofi_rxm", ...
  ::std::string_view libfabric;  // the fabric_attr->prov_name asked of fi_getinfo
  bool single_host;              // only reaches processes on this host
  bool bind_to_host;             // the endpoint binds to DRUST_FABRIC_HOST (socket providers)
  idle_wait idle;                // how the progress engine sleeps
  bool one_sided_needs_target;   // a read or write completes only if the target polls (rxm
                                 // emulates RMA with messages; shm copies in the caller's call)
};

// The provider called `name` ("tcp" and "verbs" are short for their ofi_rxm stacks), or nullptr.
const provider_traits* find_provider(::std::string_view name);

// "shm, tcp;ofi_rxm, ..." for error messages.
::std::string known_provider_names();

}  // namespace drust::fabric
