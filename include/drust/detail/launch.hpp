// Internal: the boundary between drust::std::thread's templates and the runtime library.
//
// A thread's callable and arguments are packed, by the template in <drust/std/thread>, into one
// trivially copyable closure object. The runtime copies its bytes to the chosen node, where an
// entry function (named by its offset within the executable) runs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <drust/detail/handle.hpp>

namespace drust::detail {

// Runs the closure whose bytes start at `closure` (suitably aligned) on the current thread.
using closure_entry = void (*)(void* closure);

// A thread's cluster-wide id: the node that started it and a serial number from that node.
using thread_serial = ::std::uint64_t;

// Starts `entry(copy of closure)` on `node`; returns the new thread's id. Throws
// std::system_error when the thread cannot be started there.
thread_serial launch_thread(int node, closure_entry entry, const void* closure, ::std::size_t size,
                            ::std::size_t alignment);
// Waits for the thread to finish. Throws std::system_error if its node failed.
void join_thread(thread_serial id);
// Lets the thread run on without anyone joining it.
void detach_thread(thread_serial id);
// The node a thread goes to when the program names none.
int default_thread_node();
// The id of the calling thread (given lazily to threads drust did not start, e.g. main).
thread_serial current_thread_serial();

// The node that started thread `id` (its top 16 bits).
constexpr int origin_node(thread_serial id) { return static_cast<int>(id >> 48); }

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

// Whether a thread's argument of type T (decayed) can travel to another node.
template <class T>
inline constexpr bool thread_argument_v = ::std::is_trivially_copyable_v<T> || shipped_handle<T>;

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
