// The control channel's wire format: length-prefixed JSON frames over a TCP socket.
//
// Used by the node runtime (src/runtime/) and by drun's controller (launcher/). See
// docs/design/bootstrap.md for the messages. Blocking helpers for the node side, an incremental
// `frame_reader` for the controller's poll loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace drust::control {

inline constexpr ::std::size_t max_frame_bytes = 16u << 20;

// Encodes `message` as one frame (4-byte big-endian length, then the JSON text).
::std::string encode_frame(const nlohmann::json& message);

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Never raises SIGPIPE.
absl::Status write_all(int fd, ::std::string_view bytes);

// Sends one frame.
absl::Status send_frame(int fd, const nlohmann::json& message);

// Reads one whole frame, waiting at most `timeout`. A closed connection is UnavailableError.
absl::StatusOr<nlohmann::json> receive_frame(int fd, ::std::chrono::milliseconds timeout);

// Collects bytes as they arrive and cuts them into frames.
class frame_reader {
 public:
  void feed(const char* data, ::std::size_t size) { buffer_.append(data, size); }
  // The next complete frame, nullopt while incomplete, or an error for an oversized or bad frame.
  absl::StatusOr<::std::optional<nlohmann::json>> next();

 private:
  ::std::string buffer_;
};

// A field of a control message, or nullopt when it is missing or of another type. A frame from
// the other side is checked, never trusted to hold the types it should (nlohmann's own accessors
// throw on a type mismatch).
::std::optional<::std::int64_t> integer_field(const nlohmann::json& message, const char* name);
::std::optional<::std::string> string_field(const nlohmann::json& message, const char* name);

// "host:port" split in two; port must be a number.
absl::StatusOr<::std::pair<::std::string, ::std::uint16_t>> split_host_port(::std::string_view text);

// Opens a TCP connection, waiting at most `timeout`.
absl::StatusOr<int> connect_tcp(const ::std::string& host, ::std::uint16_t port,
                                ::std::chrono::milliseconds timeout);

// Listens on host:port (port 0 picks a free one). Returns the socket and the bound port.
absl::StatusOr<::std::pair<int, ::std::uint16_t>> listen_tcp(const ::std::string& host,
                                                              ::std::uint16_t port);

}  // namespace drust::control
