// Internal: the boundary between <drust/std/future>'s templates and the runtime's result slots.
//
// A future's result lives in a *slot* at the node that made it (its home: where the future is).
// The slot is named across the cluster by a future_id (home node << 48 | serial). A promise,
// wherever it has been shipped, fulfils the slot by id: on the home node directly, from another
// node by one message (future_fulfil). A value travels as the bytes of its drust::encoder; an
// exception thrown on the home node is kept as it is (std::exception_ptr), one thrown elsewhere as
// its type name and what(), rebuilt at the home (docs/design/threads.md, "Futures").
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

namespace drust::detail {

using future_id = ::std::uint64_t;

struct future_state;  // defined in src/thread/futures.cpp

// A new slot on this node. The table keeps it until it is fulfilled and its future retrieved.
future_id make_future_slot();
// The slot's future side (once per slot; nullptr if already retrieved). Only on its home node.
::std::shared_ptr<future_state> retrieve_future(future_id id);
// The promise on the home node is gone after fulfilling the slot: forget a slot nobody retrieved.
void forget_future_slot(future_id id) noexcept;
// The slot is an async's result, set by thread `thread` (a thread serial) as its last act: when the
// outcome arrives, the thread counts as ended for placement, before its end is reported. On the
// slot's home node.
void future_set_by_thread(future_id id, ::std::uint64_t thread);

// The outcome, from any node; the first one reaching the slot counts.
void fulfil_future(future_id id, ::std::string value_bytes);
void fail_future(future_id id, ::std::exception_ptr error);
void break_future(future_id id) noexcept;  // the promise was destroyed unfulfilled

// The future side, on the home node.
bool future_ready(const future_state& state);
void future_wait(const future_state& state);
bool future_wait_until(const future_state& state, ::std::chrono::steady_clock::time_point deadline);
// The value's bytes once ready, or throws the stored exception (std::future_error with
// broken_promise when the promise was destroyed unfulfilled).
const ::std::string& future_value(future_state& state);

}  // namespace drust::detail
