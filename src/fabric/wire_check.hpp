// Checks on bytes that arrive from a peer, before anything uses them.
//
// A frame is accepted only when its header is consistent with what arrived (the job's cookie, a
// payload length equal to the bytes received, a sending node of this job, a kind below
// max_message_kinds, known flags); handlers then read their payloads through a `wire_reader`,
// which never reads past the end. A rejected frame is logged (one line: this node, the sending
// node, the message kind, what was wrong) and counted; the job goes on. docs/RELIABILITY.md,
// "Hostile input", lists every check.
//
//   fabric::wire_reader in(message.payload);
//   ::std::uint64_t address;
//   if (!in.read(address) || !in.at_end()) return fabric::malformed_message("not one address");
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/status.hpp"
#include "fabric/active_message.hpp"

namespace drust::fabric {

// A cursor over a payload: each read takes the next bytes or fails, leaving the cursor where it
// was; nothing is read past the end.
class wire_reader {
 public:
  explicit wire_reader(::std::string_view bytes) : rest_(bytes) {}

  // Copies the next sizeof(T) bytes into `value`; false when fewer are left.
  template <class T>
  bool read(T& value) {
    static_assert(::std::is_trivially_copyable_v<T>, "wire_reader reads trivially copyable values only");
    if (rest_.size() < sizeof(T)) return false;
    ::std::memcpy(&value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }

  // The next `count` bytes; false when fewer are left.
  bool read_bytes(::std::size_t count, ::std::string_view& bytes) {
    if (rest_.size() < count) return false;
    bytes = rest_.substr(0, count);
    rest_.remove_prefix(count);
    return true;
  }

  // Every byte not read yet, which the reader then counts as read.
  ::std::string_view take_rest() { return ::std::exchange(rest_, ::std::string_view()); }

  ::std::size_t remaining() const { return rest_.size(); }
  bool at_end() const { return rest_.empty(); }

 private:
  ::std::string_view rest_;
};

// A frame whose header passed check_frame, and its payload (a view into the received bytes).
struct checked_frame {
  wire_header header;
  ::std::string_view payload;
};

// The header of `bytes` checked against this job (its folded cookie, its node count). A frame
// from a stranger (wrong cookie) is PermissionDeniedError; any other inconsistency is
// InvalidArgumentError saying what was wrong.
absl::StatusOr<checked_frame> check_frame(::std::string_view bytes, ::std::uint64_t cookie, ::std::size_t nodes);

// The error a handler returns (or reports) for a payload it cannot use: the transport logs it as
// a rejected message, and a requester gets it back as the error of its call.
absl::Status malformed_message(::std::string_view what);
bool is_malformed_message(const absl::Status& status);

// A status's message as a std::string_view (Debian's Abseil has its own string_view type).
inline ::std::string_view message_of(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

// Logs one rejected message: "drust: node 0: rejected a message from node 1 (kind 25,
// heap_free_batch): <what>". `source` < 0: the sender is unknown (the header itself was bad).
// After the first 100 lines, further rejections are only counted (a flood would drown the log).
void log_rejected_message(int node, int source, message_kind kind, ::std::string_view what);

}  // namespace drust::fabric
