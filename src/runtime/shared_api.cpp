// The functions of <drust/detail/shared.hpp>: shared_ptr's way into this node's reference table
// and the control blocks' homes. Errors become exceptions as in heap_api.cpp (drust::remote_error
// for a node that failed or did not answer).
#include <drust/detail/shared.hpp>
#include <drust/runtime>

#include <stdexcept>

#include "common/status.hpp"
#include "runtime/node_runtime.hpp"

namespace drust::detail {

namespace {

coherence::shared_references& references() {
  coherence::shared_references* references = runtime::node_runtime::instance().shared_references();
  if (references == nullptr) {
    throw ::std::logic_error(
        "drust: the global heap is not ready: drust objects can be created only once main has started "
        "(not from static initialisers)");
  }
  return *references;
}

[[noreturn]] void throw_status(const absl::Status& status) {
  const ::std::string message = absl::StrCat("drust: shared_ptr: ", ::std::string(status.message()));
  if (absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status)) throw ::std::invalid_argument(message);
  throw remote_error(message);
}

}  // namespace

global_word shared_created(global_word control) { return references().created(control); }

global_word shared_acquire(global_word counted, reference_kind kind) {
  return value_or_throw<throw_status>(references().acquire(counted, kind));
}

void shared_release(global_word counted, reference_kind kind) noexcept {
  if (address_of(counted) == 0) return;
  // After the runtime is gone (static destructors at exit) there is nobody left to tell.
  if (coherence::shared_references* references = runtime::node_runtime::instance().shared_references()) {
    references->release(counted, kind);
  }
}

::std::uint64_t shared_send(global_word counted, reference_kind kind) {
  return value_or_throw<throw_status>(references().send(counted, kind));
}

global_word shared_receive(::std::uint64_t control_address, reference_kind kind) {
  if (address_of(control_address) == 0) return 0;
  return references().receive(control_address, kind);
}

global_word shared_lock(global_word counted_weak) { return value_or_throw<throw_status>(references().lock(counted_weak)); }

long shared_use_count(global_word counted) { return value_or_throw<throw_status>(references().use_count(counted)); }

}  // namespace drust::detail
