// The functions of <drust/detail/sync.hpp>: the synchronisation types' way into this node's sync
// service (src/sync). Errors become the exceptions std uses for these types: std::system_error,
// whose message names the operation, the node and the cause.
#include <drust/detail/sync.hpp>

#include <cstdio>
#include <system_error>

#include "common/status.hpp"
#include "sync/sync_service.hpp"

namespace drust::detail {

int sync_node = sync_process_local;

namespace {

sync::sync_service& service() { return sync::sync_service::instance(); }

[[noreturn]] void throw_status(const absl::Status& status) {
  const ::std::string message(status.message());
  if (absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status)) {
    throw ::std::system_error(::std::make_error_code(::std::errc::invalid_argument), message);
  }
  // The home node failed, or this node's part of the job is over: the state is gone with it.
  throw ::std::system_error(::std::make_error_code(::std::errc::owner_dead), message);
}

// For the operations std declares noexcept (or "throws nothing"): a failure there means the job
// is ending (fail-stop), so it is reported and not thrown.
void ok_or_report(const absl::Status& status) noexcept {
  if (status.ok() || heap_closed.load(::std::memory_order_relaxed)) return;
  ::std::fprintf(stderr, "drust: node %d: %s\n", sync_node, ::std::string(status.message()).c_str());
}

}  // namespace

sync_handle sync_create(sync_kind kind, ::std::uint64_t initial) { return service().create(kind, initial); }

void sync_destroy(const sync_handle& handle) noexcept {
  if (handle.state == 0) return;
  // After this node's part of the job, other nodes' states are out of reach, and need not be freed.
  if (!handle.is_local() && heap_closed.load(::std::memory_order_relaxed)) return;
  service().destroy(handle);
}

global_word mutex_lock(const sync_handle& handle) { return value_or_throw<throw_status>(service().mutex_lock(handle)); }

bool mutex_try_lock(const sync_handle& handle, global_word& data) {
  ::std::optional<global_word> taken = value_or_throw<throw_status>(service().mutex_try_lock(handle));
  if (!taken) return false;
  data = *taken;
  return true;
}

bool mutex_lock_until(const sync_handle& handle, sync_deadline deadline, global_word& data) {
  ::std::optional<global_word> taken = value_or_throw<throw_status>(service().mutex_lock_until(handle, deadline));
  if (!taken) return false;
  data = *taken;
  return true;
}

void mutex_unlock(const sync_handle& handle, global_word data) noexcept { ok_or_report(service().mutex_unlock(handle, data)); }

void shared_mutex_lock(const sync_handle& handle, bool shared) {
  ok_or_throw<throw_status>(service().shared_mutex_lock(handle, shared));
}

bool shared_mutex_try_lock(const sync_handle& handle, bool shared) {
  return value_or_throw<throw_status>(service().shared_mutex_try_lock(handle, shared));
}

void shared_mutex_unlock(const sync_handle& handle, bool shared) noexcept {
  ok_or_report(service().shared_mutex_unlock(handle, shared));
}

::std::uint64_t condition_enter(const sync_handle& handle) { return value_or_throw<throw_status>(service().condition_enter(handle)); }

bool condition_wait(const sync_handle& handle, ::std::uint64_t ticket, sync_deadline deadline) {
  return value_or_throw<throw_status>(service().condition_wait(handle, ticket, deadline));
}

void condition_notify(const sync_handle& handle, bool all) noexcept {
  ok_or_report(service().condition_notify(handle, all));
}

::std::uint64_t atomic_remote(const sync_handle& handle, atomic_op op, unsigned width, ::std::uint64_t a,
                              ::std::uint64_t b, bool& success) {
  return value_or_throw<throw_status>(service().atomic_apply(handle, op, width, a, b, success));
}

void atomic_wait(const sync_handle& handle, unsigned width, ::std::uint64_t old) {
  ok_or_throw<throw_status>(service().atomic_wait(handle, width, old));
}

void atomic_notify(const sync_handle& handle, unsigned width, bool all) noexcept {
  ok_or_report(service().atomic_notify(handle, width, all));
}

void latch_count_down(const sync_handle& handle, ::std::ptrdiff_t update) {
  ok_or_throw<throw_status>(service().latch_count_down(handle, update));
}

bool latch_try_wait(const sync_handle& handle) { return value_or_throw<throw_status>(service().latch_try_wait(handle)); }

void latch_wait(const sync_handle& handle) { ok_or_throw<throw_status>(service().latch_wait(handle)); }

barrier_arrival barrier_arrive(const sync_handle& handle, ::std::ptrdiff_t update, bool drop) {
  return value_or_throw<throw_status>(service().barrier_arrive(handle, update, drop));
}

void barrier_complete(const sync_handle& handle, ::std::uint64_t phase) {
  ok_or_throw<throw_status>(service().barrier_complete(handle, phase));
}

void barrier_wait(const sync_handle& handle, ::std::uint64_t phase) {
  ok_or_throw<throw_status>(service().barrier_wait(handle, phase));
}

}  // namespace drust::detail
