// The channel service's messages and their decoder (docs/design/sync.md, "Channels"): what a
// channel_post or channel_request asks of the channel `id` at its home, followed by an encoded
// value for the sends. Kept apart from the service so that the decoder can be fuzzed on its own
// (tests/fuzz/wire_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "common/message_kinds.hpp"
#include "fabric/wire_check.hpp"

namespace drust::sync {

// What a channel message asks of the channel `id` at its home.
enum class channel_operation : ::std::uint32_t {
  send,           // channel_post: queue the tail's value
  drop_sender,    // channel_post
  drop_receiver,  // channel_post
  clone,          // channel_request: one more sender
  send_bounded,   // channel_request: queue the tail's value unless full
  try_recv,       // channel_request: the next value, if any
};

struct channel_message {
  ::std::uint64_t id;
  ::std::uint64_t sequence;  // channel_post: this node's serial towards the home
  channel_operation op;
  ::std::uint32_t unused;
};
static_assert(::std::is_trivially_copyable_v<channel_message> && sizeof(channel_message) == 24);

// How far ahead of the next expected one a post's sequence number may be: further is garbage
// (a real sender's posts are reordered only by the few messages in flight at once).
inline constexpr ::std::uint64_t max_sequence_lead = ::std::uint64_t{1} << 20;

// A channel message read back from a peer's bytes, or why it is malformed: its operation must be
// one that `kind` carries (posts: send and drops; requests: clone, bounded send, try_recv), and
// only sends carry a value.
inline ::std::string_view read_channel_message(::std::string_view bytes, fabric::message_kind kind,
                                               channel_message& message, ::std::string_view& value) {
  fabric::wire_reader in(bytes);
  if (!in.read(message)) return "shorter than a channel message";
  value = in.take_rest();
  const bool post = kind == message_kinds::channel_post;
  switch (message.op) {
    case channel_operation::send:
    case channel_operation::send_bounded:
      if (post != (message.op == channel_operation::send)) break;
      return {};
    case channel_operation::drop_sender:
    case channel_operation::drop_receiver:
    case channel_operation::clone:
    case channel_operation::try_recv:
      if (post != (message.op != channel_operation::clone && message.op != channel_operation::try_recv)) break;
      return value.empty() ? ::std::string_view() : "a value on an operation that carries none";
  }
  return post ? "not an operation that a channel post carries" : "not an operation that a channel request carries";
}

}  // namespace drust::sync
