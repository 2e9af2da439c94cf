// The numbers of every active-message kind, in one place so that layers never collide.
#pragma once

#include <cstdint>

namespace drust::message_kinds {

// src/fabric: 0 reply, 1 ping (see fabric/active_message.hpp), up to 7.
// src/thread
inline constexpr ::std::uint16_t thread_spawn = 16;
inline constexpr ::std::uint16_t thread_done = 17;
inline constexpr ::std::uint16_t thread_stop = 18;    // a jthread's request_stop, to the running node
inline constexpr ::std::uint16_t future_fulfil = 19;  // a promise's outcome, to the future's home node
inline constexpr ::std::uint16_t thread_start = 20;        // one-way thread_spawn: nobody waits for it
inline constexpr ::std::uint16_t thread_not_started = 21;  // to the spawner: a thread_start was refused
// src/heap
inline constexpr ::std::uint16_t heap_allocate = 24;
inline constexpr ::std::uint16_t heap_free_batch = 25;
inline constexpr ::std::uint16_t heap_adopt = 26;
// src/coherence: shared_ptr reference counts (docs/design/shared.md)
inline constexpr ::std::uint16_t shared_acquire = 32;
inline constexpr ::std::uint16_t shared_lock = 33;
inline constexpr ::std::uint16_t shared_use_count = 34;
inline constexpr ::std::uint16_t shared_release = 35;
inline constexpr ::std::uint16_t shared_table_release = 36;
// src/sync: mutexes, conditions, atomics, latches, barriers at their home (docs/design/sync.md)
inline constexpr ::std::uint16_t sync_request = 40;  // an operation that needs the home's answer
inline constexpr ::std::uint16_t sync_post = 41;     // one-way: unlock, notify
inline constexpr ::std::uint16_t sync_wake = 42;     // home -> waiter's node: a queued waiter goes on
inline constexpr ::std::uint16_t sync_destroy = 43;  // one-way: a state's owner destroyed it
// src/sync: channels at their home (docs/design/sync.md, "Channels")
inline constexpr ::std::uint16_t channel_request = 44;  // clone, bounded send, remote recv: answered
inline constexpr ::std::uint16_t channel_post = 45;     // one-way, in sequence: send, drop an end
inline constexpr ::std::uint16_t channel_closed = 46;   // home -> a sending node: the receiver is gone

// The name of a kind, for log lines ("heap_free_batch"); "unknown" for a number no layer uses.
constexpr const char* name_of(::std::uint16_t kind) {
  switch (kind) {
    case 0: return "reply";
    case 1: return "ping";
    case thread_spawn: return "thread_spawn";
    case thread_done: return "thread_done";
    case thread_stop: return "thread_stop";
    case future_fulfil: return "future_fulfil";
    case thread_start: return "thread_start";
    case thread_not_started: return "thread_not_started";
    case heap_allocate: return "heap_allocate";
    case heap_free_batch: return "heap_free_batch";
    case heap_adopt: return "heap_adopt";
    case shared_acquire: return "shared_acquire";
    case shared_lock: return "shared_lock";
    case shared_use_count: return "shared_use_count";
    case shared_release: return "shared_release";
    case shared_table_release: return "shared_table_release";
    case sync_request: return "sync_request";
    case sync_post: return "sync_post";
    case sync_wake: return "sync_wake";
    case sync_destroy: return "sync_destroy";
    case channel_request: return "channel_request";
    case channel_post: return "channel_post";
    case channel_closed: return "channel_closed";
    default: return "unknown";
  }
}

}  // namespace drust::message_kinds
