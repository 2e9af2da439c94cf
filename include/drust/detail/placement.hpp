// Internal: what a thread's arguments tell the scheduler (docs/design/threads.md, "Placement").
//
// A thread, jthread or async without drust::on asks the runtime where to run
// (default_thread_node). The templates pass it, for every argument that is a drust handle, the
// handle's global word and the bytes it points to; the runtime turns the words into home nodes and
// places the thread near most of those bytes. No message is sent. The rule for the bytes:
//   - a container (drust::std::vector, string, a slice): size() elements of its value_type;
//   - unique_ptr<T[]>: size() elements of T;
//   - a handle to one object (unique_ptr<T>, shared_ptr<T>, ref<T>): sizeof(T);
//   - any other handle (a channel end): 1 byte, so it still counts, lightly.
// What a handle's object points to in turn is not followed, and a lambda's captured handles are
// not seen (only the arguments are).
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <drust/detail/handle.hpp>
#include <drust/detail/heap.hpp>

namespace drust::detail {

// One handle among a thread's arguments: its word (0: points nowhere) and the bytes it points to.
struct argument_data {
  global_word word = 0;
  ::std::uint64_t bytes = 0;
};

// The node a thread goes to when the program names none, given its arguments' data.
int default_thread_node(const argument_data* data, ::std::size_t count);

template <class U>
constexpr bool complete_element_v = requires { sizeof(typename U::element_type); };

template <class U>
::std::uint64_t bytes_pointed_to(const U& handle) {
  if constexpr (requires { typename U::value_type; handle.size(); }) {
    return static_cast<::std::uint64_t>(handle.size()) * sizeof(typename U::value_type);
  } else if constexpr (complete_element_v<U> && requires { handle.size(); }) {
    return static_cast<::std::uint64_t>(handle.size()) * sizeof(typename U::element_type);
  } else if constexpr (complete_element_v<U> && !::std::is_void_v<typename U::element_type>) {
    return sizeof(typename U::element_type);
  } else {
    return 1;
  }
}

template <class T>
argument_data argument_data_of(const T& argument) {
  using U = ::std::remove_cvref_t<T>;
  if constexpr (shipped_handle<U> && requires {
                  { argument.word() } -> ::std::convertible_to<global_word>;
                }) {
    return {argument.word(), bytes_pointed_to(argument)};
  } else {
    return {};
  }
}

// default_thread_node for a thread with these arguments (read, never moved).
template <class... Args>
int default_thread_node_for(const Args&... args) {
  const ::std::array<argument_data, sizeof...(Args)> data{argument_data_of(args)...};
  return default_thread_node(data.data(), data.size());
}

}  // namespace drust::detail
