#include "fabric/wire_check.hpp"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/cord.h"
#include "common/message_kinds.hpp"

namespace drust::fabric {

namespace {

constexpr ::std::uint16_t known_flags = flag_request | flag_reply | flag_error;
// The status payload that marks a malformed-message error (a URL, as Abseil asks).
constexpr char malformed_tag[] = "drust.dev/malformed-message";
// The most rejection lines a node writes; later ones are counted only.
constexpr int max_logged_rejections = 100;

::std::atomic<int> rejections_logged{0};

}  // namespace

absl::StatusOr<checked_frame> check_frame(::std::string_view bytes, ::std::uint64_t cookie, ::std::size_t nodes) {
  checked_frame frame;
  wire_reader in(bytes);
  if (!in.read(frame.header)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a frame of ", bytes.size(), " bytes is shorter than a header (", sizeof(wire_header), ")"));
  }
  const wire_header& header = frame.header;
  // First: a stranger learns nothing from the other checks' answers.
  if (header.cookie != cookie) return absl::PermissionDeniedError("the frame does not carry this job's cookie");
  if (header.payload_bytes != in.remaining()) {
    return absl::InvalidArgumentError(absl::StrCat("the header announces ", header.payload_bytes,
                                                   " payload bytes, but ", in.remaining(), " arrived"));
  }
  if (header.source >= nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sender claims to be node ", header.source, ", but the job has ", nodes, " nodes"));
  }
  if (header.kind >= max_message_kinds) {
    return absl::InvalidArgumentError(
        absl::StrCat("message kind ", header.kind, " is out of range (kinds are below ", max_message_kinds, ")"));
  }
  if ((header.flags & ~known_flags) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flags 0x", absl::Hex(header.flags)));
  }
  const bool request = (header.flags & flag_request) != 0;
  const bool reply = (header.flags & flag_reply) != 0;
  if (request && reply) return absl::InvalidArgumentError("a frame cannot be both a request and a reply");
  if ((header.flags & flag_error) != 0 && !reply) return absl::InvalidArgumentError("an error flag on a non-reply");
  if (reply != (header.kind == reply_kind)) {
    return absl::InvalidArgumentError(reply ? "a reply of a kind other than reply" : "kind reply without the reply flag");
  }
  if (reply ? header.request_id == 0 : (request && header.request_id == 0)) {
    return absl::InvalidArgumentError("request id 0 (ids start at 1)");
  }
  frame.payload = in.take_rest();
  return frame;
}

absl::Status malformed_message(::std::string_view what) {
  absl::Status status = absl::InvalidArgumentError(::std::string(what));
  status.SetPayload(malformed_tag, absl::Cord("1"));
  return status;
}

bool is_malformed_message(const absl::Status& status) { return status.GetPayload(malformed_tag).has_value(); }

void log_rejected_message(int node, int source, message_kind kind, ::std::string_view what) {
  const int logged = rejections_logged.fetch_add(1, ::std::memory_order_relaxed);
  if (logged > max_logged_rejections) return;
  if (logged == max_logged_rejections) {
    ::std::fprintf(stderr, "drust: node %d: %d messages rejected; further rejections are counted "
                           "(the transport's messages_rejected), not logged\n", node, logged + 1);
    return;
  }
  const ::std::string sender = source < 0 ? ::std::string("an unknown sender") : absl::StrCat("node ", source);
  ::std::fprintf(stderr, "drust: node %d: rejected a message from %s (kind %u, %s): %.*s\n", node, sender.c_str(),
                 static_cast<unsigned>(kind), message_kinds::name_of(kind), static_cast<int>(what.size()),
                 what.data());
}

}  // namespace drust::fabric
