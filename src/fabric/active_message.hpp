// The wire format of active messages, and typed helpers over it.
//
// Every message is one header plus a payload. Message kinds are small integers: the fabric layer
// owns kind 0 (reply) and 1 (ping); the layers above define theirs (src/runtime/message_kinds.hpp).
// A typed message is a trivially copyable struct with a `static constexpr std::uint16_t kind`,
// optionally followed by variable-length bytes (its "tail").
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace drust::fabric {

using message_kind = ::std::uint16_t;

inline constexpr message_kind reply_kind = 0;
inline constexpr message_kind ping_kind = 1;
inline constexpr message_kind first_user_kind = 8;
inline constexpr message_kind max_message_kinds = 256;

enum message_flags : ::std::uint16_t {
  flag_request = 1,  // the sender waits for a reply with the same request id
  flag_reply = 2,
  flag_error = 4,  // a reply whose payload is an error message
};

struct wire_header {
  ::std::uint64_t cookie;  // the job's cookie, folded to 64 bits: strangers' messages are dropped
  ::std::uint64_t request_id;
  ::std::uint32_t source;  // sending node
  ::std::uint32_t payload_bytes;
  message_kind kind;
  ::std::uint16_t flags;
  ::std::uint32_t reserved;
};
static_assert(sizeof(wire_header) == 32);

// The largest payload one active message carries; object bytes beyond that travel one-sided.
inline constexpr ::std::size_t max_message_bytes = 64 * 1024;
inline constexpr ::std::size_t max_payload_bytes = max_message_bytes - sizeof(wire_header);

template <class M>
concept typed_message = ::std::is_trivially_copyable_v<M> && requires {
  { M::kind } -> ::std::convertible_to<message_kind>;
};

// The bytes of a typed message followed by its tail.
template <typed_message M>
::std::string encode(const M& message, ::std::string_view tail = {}) {
  ::std::string bytes(sizeof(M) + tail.size(), '\0');
  ::std::memcpy(bytes.data(), &message, sizeof(M));
  if (!tail.empty()) ::std::memcpy(bytes.data() + sizeof(M), tail.data(), tail.size());
  return bytes;
}

// A typed message read back from its bytes, or nullopt if they are too short.
template <typed_message M>
::std::optional<M> decode(::std::string_view bytes) {
  if (bytes.size() < sizeof(M)) return ::std::nullopt;
  M message;
  ::std::memcpy(&message, bytes.data(), sizeof(M));
  return message;
}

// The bytes after a typed message.
template <typed_message M>
::std::string_view tail_of(::std::string_view bytes) {
  return bytes.size() < sizeof(M) ? ::std::string_view{} : bytes.substr(sizeof(M));
}

// A payload of one 64-bit word (replies that carry an address or a count), written into a reused
// string, and read back (0 when the payload is not one word).
inline void put_word(::std::string& payload, ::std::uint64_t word) {
  payload.resize(sizeof word);
  ::std::memcpy(payload.data(), &word, sizeof word);
}
inline ::std::uint64_t get_word(::std::string_view payload) {
  ::std::uint64_t word = 0;
  if (payload.size() == sizeof word) ::std::memcpy(&word, payload.data(), sizeof word);
  return word;
}

}  // namespace drust::fabric
