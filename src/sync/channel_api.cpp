// The functions of <drust/detail/channel.hpp>: the channel ends' way into this node's channel
// service. Errors become exceptions: std::system_error naming the node and the cause when a node
// failed, std::length_error for a value too big for one message.
#include <drust/detail/channel.hpp>

#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "common/status.hpp"
#include "sync/channel_service.hpp"

namespace drust::detail {

namespace {

sync::channel_service& service() { return sync::channel_service::instance(); }

[[noreturn]] void throw_status(const absl::Status& status) {
  const ::std::string message(status.message());
  if (absl::IsOutOfRange(status)) throw ::std::length_error(message);
  if (absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status)) {
    throw ::std::system_error(::std::make_error_code(::std::errc::invalid_argument), message);
  }
  throw ::std::system_error(::std::make_error_code(::std::errc::owner_dead), message);
}

void report(const absl::Status& status) noexcept {
  // A drop towards a failed node: the job ends with it; nothing to give back there.
  if (!status.ok() && !absl::IsUnavailable(status)) {
    ::std::fprintf(stderr, "drust: %s\n", ::std::string(status.message()).c_str());
  }
}

}  // namespace

channel_handle channel_create(::std::size_t bound, channel_discard discard) { return service().create(bound, discard); }

void channel_clone(const channel_handle& handle) {
  const absl::Status cloned = service().clone(handle);
  if (!cloned.ok()) throw_status(cloned);
}

void channel_drop_sender(const channel_handle& handle) noexcept { report(service().drop_sender(handle)); }

void channel_drop_receiver(const channel_handle& handle) noexcept { report(service().drop_receiver(handle)); }

channel_outcome channel_send(const channel_handle& handle, ::std::string& bytes, bool block) {
  return value_or_throw<throw_status>(service().send(handle, bytes, block));
}

channel_outcome channel_recv(const channel_handle& handle, sync_deadline deadline, ::std::string& bytes) {
  using clock = ::std::chrono::steady_clock;
  const clock::time_point until =
      deadline == no_deadline
          ? clock::time_point::max()
          : clock::time_point(::std::chrono::duration_cast<clock::duration>(::std::chrono::nanoseconds(deadline)));
  return value_or_throw<throw_status>(service().recv(handle, until, bytes));
}

}  // namespace drust::detail
