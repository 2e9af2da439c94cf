// libFuzzer target: everything a node decodes from a peer's bytes, without a network.
//
// The input is one received frame. It goes through the transport's header checks
// (fabric::check_frame); a frame that passes is handed to the payload decoder of the kind it
// names, as the node's handlers decode it: sync requests and posts, channel messages, heap frees
// checked against a real allocator with live blocks, a future's exception text through
// drust::decoder. The same bytes are also fed to the control channel's frame reader and its
// field accessors (the controller's JSON frames). No input may crash, leak, read out of bounds or
// trip UBSan; checks that accept must leave values the handlers can use safely.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <drust/codec>

#include "common/message_kinds.hpp"
#include "control/frame.hpp"
#include "fabric/wire_check.hpp"
#include "heap/allocator.hpp"
#include "sync/channel_wire.hpp"
#include "sync/wire.hpp"

namespace {

namespace fabric = drust::fabric;
namespace kinds = drust::message_kinds;

// The job the frames are checked against (the seed corpus carries this cookie).
constexpr std::uint64_t job_cookie = 0x0123456789abcdefull;
constexpr std::size_t job_nodes = 4;
constexpr std::uint64_t address_mask = (std::uint64_t{1} << 48) - 1;

// A partition with a few live blocks, small and large, for the heap's free checks.
struct heap_fixture {
  static constexpr std::size_t bytes = 4u << 20;
  void* memory = std::aligned_alloc(drust::heap::heap_page_size, bytes);
  drust::heap::allocator blocks{memory, bytes, bytes};
  std::vector<void*> live;
  heap_fixture() {
    for (std::size_t size : {16u, 48u, 1000u, 40000u, 200000u}) live.push_back(blocks.allocate(size));
  }
};

heap_fixture& heap() {
  static heap_fixture* fixture = new heap_fixture();  // kept for the whole run
  return *fixture;
}

void decode_heap_frees(std::string_view payload) {
  heap_fixture& fixture = heap();
  fabric::wire_reader in(payload);
  std::uint64_t word;
  while (in.read(word)) {
    // Fuzzed words are mostly far from the fixture's partition; fold some into it.
    const auto base = reinterpret_cast<std::uintptr_t>(fixture.memory);
    const std::uint64_t address = (word & 1) ? base + ((word >> 1) % (heap_fixture::bytes + 4096)) : word & address_mask;
    const char* why = fixture.blocks.why_not_a_block(reinterpret_cast<const void*>(address));
    // What passes must be a block start that usable_size can describe.
    if (why == nullptr && fixture.blocks.usable_size(reinterpret_cast<const void*>(address)) == 0) std::abort();
  }
}

void decode_sync(fabric::message_kind kind, std::string_view payload) {
  namespace sync = drust::sync;
  if (kind == kinds::sync_request || kind == kinds::sync_post) {
    sync::request asked;
    if (sync::read_message(payload, asked)) {
      (void)(kind == kinds::sync_post ? sync::is_post_operation(asked.op) : sync::is_known_operation(asked.op));
    }
  } else if (kind == kinds::sync_wake) {
    sync::wake_message wake;
    (void)sync::read_message(payload, wake);
  } else {
    sync::destroy_message destroyed;
    (void)sync::read_message(payload, destroyed);
  }
}

void decode_channel(fabric::message_kind kind, std::string_view payload) {
  drust::sync::channel_message message;
  std::string_view value;
  if (!drust::sync::read_channel_message(payload, kind, message, value).empty()) return;
  // An accepted message's value lies inside the payload.
  if (value.data() < payload.data() || value.data() + value.size() > payload.data() + payload.size()) std::abort();
  // A value is an encoded object of the receiver's type; try the common shapes.
  try {
    (void)drust::detail::decode<std::vector<std::string>>(value);
  } catch (const drust::decode_error&) {
  }
}

void decode_future_exception(std::string_view payload) {
  // future_fulfil's exception outcome: the type, the message and a std::system_error's category and
  // code, encoded, after a 32-byte header.
  fabric::wire_reader in(payload);
  std::string_view header;
  if (!in.read_bytes(32, header)) return;
  try {
    auto [type, message, category, code] =
        drust::detail::decode<std::tuple<std::string, std::string, std::int32_t, std::int32_t>>(in.take_rest());
    (void)type;
    (void)message;
    (void)category;
    (void)code;
  } catch (const drust::decode_error&) {
  }
}

void decode_payload(fabric::message_kind kind, std::string_view payload) {
  switch (kind) {
    case kinds::heap_free_batch:
      return decode_heap_frees(payload);
    case kinds::sync_request:
    case kinds::sync_post:
    case kinds::sync_wake:
    case kinds::sync_destroy:
      return decode_sync(kind, payload);
    case kinds::channel_request:
    case kinds::channel_post:
      return decode_channel(kind, payload);
    case kinds::future_fulfil:
      return decode_future_exception(payload);
    default:
      return;
  }
}

void decode_control(std::string_view bytes) {
  drust::control::frame_reader reader;
  reader.feed(bytes.data(), bytes.size());
  for (int frames = 0; frames < 16; ++frames) {
    auto next = reader.next();
    if (!next.ok() || !next->has_value()) return;
    const nlohmann::json& message = **next;
    (void)drust::control::string_field(message, "type");
    (void)drust::control::integer_field(message, "node");
    (void)drust::control::string_field(message, "reason");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto frame = fabric::check_frame(bytes, job_cookie, job_nodes);
  if (frame.ok()) {
    const fabric::wire_header& header = frame->header;
    // What the checks promise the dispatcher.
    if (header.kind >= fabric::max_message_kinds || header.source >= job_nodes ||
        frame->payload.size() != header.payload_bytes || sizeof header + frame->payload.size() != size) {
      std::abort();
    }
    decode_payload(header.kind, frame->payload);
  } else if (fabric::message_of(frame.status()).empty()) {
    std::abort();  // a rejection always says why
  }
  decode_control(bytes);
  return 0;
}
