// Internal: the boundary between drust::std::thread's templates and the runtime library.
//
// The templates in <drust/detail/spawn.hpp> decide where a thread runs. On this node they hand the
// runtime a heap object holding the callable and its arguments as they are (std::thread's way); on
// another node, the closure's bytes (made by a drust::encoder) and the offset of the entry function
// that decodes and runs them there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <drust/detail/handle.hpp>
#include <drust/sendable>

namespace drust::detail {

// A thread's cluster-wide id: the node that started it and a serial number from that node.
using thread_serial = ::std::uint64_t;

// A thread on this node: `run(object)` runs the closure and frees it; `discard(object)` frees it
// without running it (the thread could not start).
using local_entry = void (*)(void* object);
// A thread on another node: decodes the closure's bytes and runs it.
using remote_entry = void (*)(const char* bytes, ::std::size_t size);
// The other node could not start the thread: decodes the closure's bytes and drops them, giving
// back what they own; a closure that carries its own outcome (async's promise) gets `why` as a
// std::system_error.
using remote_refusal = void (*)(const char* bytes, ::std::size_t size, const char* why);

// Whether a thread placed on `node` runs in this process (this node, or a one-node run).
bool runs_here(int node);
// Starts `run(object)` on a new thread of this node; returns its id. Throws std::system_error
// (after discard(object)) when the thread cannot start.
thread_serial launch_local(local_entry run, local_entry discard, void* object);
// Starts `entry(closure)` on `node`; returns the new thread's id. With `stop_token`, the running
// node keeps a std::stop_source for the thread (current_stop_token) that send_stop triggers, and
// the call waits for `node` to accept the thread. Without, the thread is sent and the call returns
// at once: when `node` cannot start it, it runs `refusal` on the closure there, and the thread ends
// as failed (join throws std::system_error naming the cause; a detached thread that carries no
// outcome of its own ends the job). Throws std::system_error when the thread cannot be sent (or,
// with `stop_token`, started); the caller still owns what the closure's bytes hold.
thread_serial launch_remote(int node, remote_entry entry, remote_refusal refusal, ::std::string_view closure,
                            bool stop_token, bool outcome_in_closure);
// Asks thread `id`, running on `node` with a stop token, to stop (one message; ignored when the
// thread has ended).
void send_stop(int node, thread_serial id);
// On a thread started by launch_remote with a stop token: its token.
::std::stop_token current_stop_token();
// Waits for the thread to finish. Throws std::system_error if its node failed.
void join_thread(thread_serial id);
// Lets the thread run on without anyone joining it. `async`: the thread of an async, whose future
// has its outcome; it still destroys its arguments after that, and the program's main does not
// return until it has (threads::wait_for_async_threads), as std::async's thread completes before
// its future lets go.
void detach_thread(thread_serial id, bool async = false);
// The node a thread goes to when the program names none.
int default_thread_node();
// The id of the calling thread (given lazily to threads drust did not start, e.g. main).
thread_serial current_thread_serial();

// The node that started thread `id` (its top 16 bits).
constexpr int origin_node(thread_serial id) { return static_cast<int>(id >> 48); }

// Before bytes of an object whose members drust cannot see (a lambda's captures) go to `node`:
// throws std::invalid_argument naming the byte offset, what the word there points into and the
// fix when a pointer-sized word of [object, object + size) points into this node's own memory
// (its stack, malloc heap, anonymous mappings, the executable image) rather than the global heap.
// `role` says what the object is ("the thread's callable", "argument 2").
void check_closure_words(const void* object, ::std::size_t size, const ::std::type_info& type, const char* role,
                         int node);

// Code addresses as offsets from one basis symbol of the executable, so that they mean the same
// function in every node process although ASLR places the image differently in each.
// Any function's address travels as this generic type (casts to and from it are well-defined).
using code_pointer = void (*)();
::std::int64_t code_offset(code_pointer code);
code_pointer code_at(::std::int64_t offset);

// A function pointer on its way to another node: its offset from the basis.
template <class Function>
struct shipped_function {
  ::std::int64_t offset;
};

template <class T>
inline constexpr bool is_function_pointer_v =
    ::std::is_pointer_v<T> && ::std::is_function_v<::std::remove_pointer_t<T>>;

template <class T>
struct shipped_form {
  using type = T;
};
template <class T>
  requires is_function_pointer_v<T>
struct shipped_form<T> {
  using type = shipped_function<T>;
};
template <shipped_handle T>
struct shipped_form<T> {
  using type = typename wire_traits<T>::wire;
};

// The form in which a thread's callable or argument of type T travels: a code offset for a
// function pointer, the wire form (global words) for a drust handle, the bytes otherwise.
template <class T>
using shipped = typename shipped_form<T>::type;

// Whether a thread's argument of type T (decayed) can travel to another node: drust::sendable.
template <class T>
inline constexpr bool thread_argument_v = sendable<T>;

template <class T>
shipped<::std::decay_t<T>> ship(T&& value) {
  using plain = ::std::decay_t<T>;
  if constexpr (is_function_pointer_v<plain>) {
    return shipped_function<plain>{code_offset(reinterpret_cast<code_pointer>(plain(value)))};
  } else if constexpr (shipped_handle<plain>) {
    // A handle's ownership travels with it: ship a moved copy, so an lvalue argument (copyable
    // handles such as ref) keeps its own.
    plain moved(::std::forward<T>(value));
    return wire_traits<plain>::to_wire(::std::move(moved));
  } else {
    return ::std::forward<T>(value);
  }
}

template <class T>
T&& unship(T&& value) {
  return ::std::forward<T>(value);
}
template <class Function>
Function unship(shipped_function<Function> value) {
  return reinterpret_cast<Function>(code_at(value.offset));
}
template <class Handle, ::std::size_t Words>
Handle unship(handle_wire<Handle, Words> value) {
  return wire_traits<Handle>::from_wire(value);
}

}  // namespace drust::detail
