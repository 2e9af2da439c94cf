// Result slots of futures (docs/design/threads.md, "Futures"): each lives at its future's home
// node, in a table keyed by future_id; promises anywhere fulfil it by id.
#include <atomic>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>

#include <drust/codec>
#include <drust/detail/future_state.hpp>
#include <drust/std/future>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/message_kinds.hpp"
#include "thread/exception_description.hpp"
#include "thread/thread_service.hpp"

namespace drust::detail {

enum class future_outcome : ::std::uint32_t { value = 0, exception = 1, broken = 2 };

struct future_state {
  mutable absl::Mutex lock;
  bool ready ABSL_GUARDED_BY(lock) = false;
  ::std::string value ABSL_GUARDED_BY(lock);
  ::std::exception_ptr error ABSL_GUARDED_BY(lock);
  // A value too big for one message, still in the global heap (read by future_value).
  global_word value_block ABSL_GUARDED_BY(lock) = 0;
  ::std::uint64_t value_size ABSL_GUARDED_BY(lock) = 0;

  ~future_state() {
    if (value_block != 0) deallocate(value_block);
  }
};

namespace {

struct future_fulfil_message {
  static constexpr fabric::message_kind kind = message_kinds::future_fulfil;
  future_id id;
  future_outcome outcome;
  ::std::uint32_t reserved;
  global_word value_block;  // 0: the outcome's bytes follow as the tail
  ::std::uint64_t value_size;
};

struct slot_entry {
  ::std::shared_ptr<future_state> state;
  bool retrieved = false;
  bool fulfilled = false;
  ::std::uint64_t set_by_thread = 0;  // an async's thread (future_set_by_thread), or 0
};

absl::Mutex slots_lock;
absl::flat_hash_map<future_id, slot_entry> slots ABSL_GUARDED_BY(slots_lock);
::std::atomic<::std::uint64_t> next_slot{1};

int home_of(future_id id) { return static_cast<int>(id >> 48); }
bool is_home(future_id id) {
  const threads::cluster_view& cluster = threads::current_cluster();
  return cluster.transport == nullptr || home_of(id) == cluster.node;
}

// An outcome: a value's bytes (inline, or in a heap block of `block_size` bytes), or an exception.
struct outcome {
  ::std::string value;
  global_word block = 0;
  ::std::uint64_t block_size = 0;
  ::std::exception_ptr error;
};

// Sets the outcome of slot `id` on its home node (the first outcome counts).
void settle(future_id id, outcome result) {
  ::std::shared_ptr<future_state> state;
  ::std::uint64_t set_by_thread = 0;
  {
    absl::MutexLock hold(&slots_lock);
    auto found = slots.find(id);
    if (found == slots.end() || found->second.fulfilled) return;
    state = found->second.state;
    set_by_thread = found->second.set_by_thread;
    if (found->second.retrieved) {
      slots.erase(found);
    } else {
      found->second.fulfilled = true;  // kept for get_future
    }
  }
  // An async's thread counts as ended before its value can be seen: a spawner that starts its next
  // thread the moment get() returns must already see that node free (note_async_result).
  if (set_by_thread != 0) threads::note_async_result(set_by_thread);
  absl::MutexLock hold(&state->lock);
  if (state->ready) return;
  state->value = ::std::move(result.value);
  state->value_block = result.block;
  state->value_size = result.block_size;
  state->error = ::std::move(result.error);
  state->ready = true;
}

// How a std::system_error's code travels: its category (none_category when the exception is not
// one, or its category is neither of these two) and its value.
enum : ::std::int32_t { none_category = 0, generic_category = 1, system_category = 2 };
using exception_wire = ::std::tuple<::std::string, ::std::string, ::std::int32_t, ::std::int32_t>;

// std's own exception types come back as themselves (a std::system_error with its code, when its
// category is std's generic or system one); the rest as drust::remote_exception.
::std::exception_ptr rebuild_exception(const ::std::string& type, ::std::string message, ::std::int32_t category,
                                       ::std::int32_t code, int node) {
  if (type == "std::system_error" && category != none_category) {
    const ::std::error_code error(code, category == generic_category ? ::std::generic_category() : ::std::system_category());
    // what() was "what_arg: <the code's message>"; the rebuilt exception appends that again.
    const ::std::string suffix = ": " + error.message();
    if (message.size() >= suffix.size() && message.compare(message.size() - suffix.size(), suffix.size(), suffix) == 0) {
      message.resize(message.size() - suffix.size());
    }
    return ::std::make_exception_ptr(::std::system_error(error, message));
  }
  if (type == "std::logic_error") return ::std::make_exception_ptr(::std::logic_error(message));
  if (type == "std::invalid_argument") return ::std::make_exception_ptr(::std::invalid_argument(message));
  if (type == "std::domain_error") return ::std::make_exception_ptr(::std::domain_error(message));
  if (type == "std::length_error") return ::std::make_exception_ptr(::std::length_error(message));
  if (type == "std::out_of_range") return ::std::make_exception_ptr(::std::out_of_range(message));
  if (type == "std::runtime_error") return ::std::make_exception_ptr(::std::runtime_error(message));
  if (type == "std::range_error") return ::std::make_exception_ptr(::std::range_error(message));
  if (type == "std::overflow_error") return ::std::make_exception_ptr(::std::overflow_error(message));
  if (type == "std::underflow_error") return ::std::make_exception_ptr(::std::underflow_error(message));
  if (type == "std::bad_alloc") return ::std::make_exception_ptr(::std::bad_alloc());
  return ::std::make_exception_ptr(remote_exception(type, message, node));
}

::std::exception_ptr broken_promise() {
  return ::std::make_exception_ptr(::std::future_error(::std::future_errc::broken_promise));
}

void settle_here(future_id id, future_outcome kind, ::std::string bytes, global_word block, ::std::uint64_t size,
                 int from_node) {
  switch (kind) {
    case future_outcome::value:
      settle(id, outcome{::std::move(bytes), block, size, nullptr});
      break;
    case future_outcome::exception: {
      auto [type, message, category, code] = decode<exception_wire>(bytes);
      settle(id, outcome{{}, 0, 0, rebuild_exception(type, ::std::move(message), category, code, from_node)});
      break;
    }
    case future_outcome::broken:
      settle(id, outcome{{}, 0, 0, broken_promise()});
      break;
  }
}

// An outcome for a slot at another node: one message, the bytes inline or parked in the heap.
void send_outcome(future_id id, future_outcome kind, ::std::string_view bytes) {
  const threads::cluster_view& cluster = threads::current_cluster();
  future_fulfil_message message{id, kind, 0, 0, bytes.size()};
  if (bytes.size() > fabric::max_payload_bytes - sizeof message) {
    message.value_block = threads::park_bytes(bytes);
    bytes = {};
  }
  absl::Status sent = cluster.transport->send(home_of(id), message, bytes);
  if (!sent.ok()) {
    if (message.value_block != 0) deallocate(message.value_block);
    throw remote_error("drust: cannot deliver a promise's outcome to node " + ::std::to_string(home_of(id)) + ": " +
                       ::std::string(sent.message()));
  }
}

void handle_fulfil(const fabric::incoming_message& message) {
  fabric::transport& transport = *threads::current_cluster().transport;
  auto fulfil = fabric::decode<future_fulfil_message>(message.payload);
  if (!fulfil) return transport.reject(message, "shorter than a future_fulfil message");
  const ::std::string_view tail = fabric::tail_of<future_fulfil_message>(message.payload);
  if (fulfil->outcome != future_outcome::value && fulfil->outcome != future_outcome::exception &&
      fulfil->outcome != future_outcome::broken) {
    return transport.reject(message, absl::StrCat("unknown outcome ", static_cast<::std::uint32_t>(fulfil->outcome)));
  }
  if (fulfil->value_block == 0 ? tail.size() != fulfil->value_size : !tail.empty()) {
    return transport.reject(message, "the value's size differs from the bytes that carry it");
  }
  if (fulfil->value_block != 0) {
    if (const char* why = threads::why_not_a_heap_block(fulfil->value_block, fulfil->value_size)) {
      return transport.reject(message, why);
    }
  }
  try {
    settle_here(fulfil->id, fulfil->outcome, ::std::string(tail), fulfil->value_block, fulfil->value_size,
                static_cast<int>(message.source));
  } catch (const ::std::exception& error) {
    transport.reject(message, error.what());
  }
}


}  // namespace

future_id make_future_slot() {
  const future_id id =
      (static_cast<future_id>(threads::current_cluster().node) << 48) | next_slot.fetch_add(1, ::std::memory_order_relaxed);
  auto state = ::std::make_shared<future_state>();
  absl::MutexLock hold(&slots_lock);
  slots.emplace(id, slot_entry{::std::move(state)});
  return id;
}

void future_set_by_thread(future_id id, ::std::uint64_t thread) {
  {
    absl::MutexLock hold(&slots_lock);
    auto found = slots.find(id);
    if (found != slots.end() && !found->second.fulfilled) {
      found->second.set_by_thread = thread;
      return;
    }
  }
  threads::note_async_result(thread);  // the outcome is already here
}

::std::shared_ptr<future_state> retrieve_future(future_id id) {
  if (!is_home(id)) return nullptr;
  absl::MutexLock hold(&slots_lock);
  auto found = slots.find(id);
  if (found == slots.end() || found->second.retrieved) return nullptr;
  ::std::shared_ptr<future_state> state = found->second.state;
  if (found->second.fulfilled) {
    slots.erase(found);
  } else {
    found->second.retrieved = true;
  }
  return state;
}

void forget_future_slot(future_id id) noexcept {
  if (!is_home(id)) return;
  absl::MutexLock hold(&slots_lock);
  auto found = slots.find(id);
  if (found != slots.end() && found->second.fulfilled) slots.erase(found);
}

void fulfil_future(future_id id, ::std::string value_bytes) {
  if (is_home(id)) {
    settle_here(id, future_outcome::value, ::std::move(value_bytes), 0, 0, home_of(id));
  } else {
    send_outcome(id, future_outcome::value, value_bytes);
  }
}

void fail_future(future_id id, ::std::exception_ptr error) {
  if (is_home(id)) {
    settle(id, outcome{{}, 0, 0, ::std::move(error)});
    return;
  }
  threads::exception_description what;
  ::std::int32_t category = none_category, code = 0;
  try {
    ::std::rethrow_exception(error);
  } catch (const ::std::system_error& system) {
    what = threads::describe_current_exception();
    if (system.code().category() == ::std::generic_category()) category = generic_category;
    if (system.code().category() == ::std::system_category()) category = system_category;
    code = system.code().value();
  } catch (...) {
    what = threads::describe_current_exception();
  }
  send_outcome(id, future_outcome::exception, encode(exception_wire(what.type, what.message, category, code)));
}

void break_future(future_id id) noexcept {
  try {
    if (is_home(id)) {
      settle(id, outcome{{}, 0, 0, broken_promise()});
    } else {
      send_outcome(id, future_outcome::broken, {});
    }
  } catch (const ::std::exception& error) {
    ::std::fprintf(stderr, "drust: node %d: a promise was destroyed unfulfilled and its node cannot tell: %s\n",
                   threads::current_cluster().node, error.what());
  }
}

bool future_ready(const future_state& state) {
  absl::MutexLock hold(&state.lock);
  return state.ready;
}

void future_wait(const future_state& state) {
  absl::MutexLock hold(&state.lock);
  state.lock.Await(absl::Condition(&state.ready));
}

bool future_wait_until(const future_state& state, ::std::chrono::steady_clock::time_point deadline) {
  const absl::Time until = absl::Now() + absl::FromChrono(deadline - ::std::chrono::steady_clock::now());
  absl::MutexLock hold(&state.lock);
  return state.lock.AwaitWithDeadline(absl::Condition(&state.ready), until);
}

const ::std::string& future_value(future_state& state) {
  absl::MutexLock hold(&state.lock);
  state.lock.Await(absl::Condition(&state.ready));
  if (state.error) ::std::rethrow_exception(state.error);
  if (state.value_block != 0) {
    state.value = threads::unpark_bytes(::std::exchange(state.value_block, 0), state.value_size);
  }
  return state.value;
}

}  // namespace drust::detail

namespace drust::threads {

void install_futures(const cluster_view& view) {
  if (view.transport != nullptr) view.transport->on_message(detail::future_fulfil_message::kind, detail::handle_fulfil);
}

}  // namespace drust::threads
