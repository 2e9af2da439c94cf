// Internal: how drust::std::thread, jthread and async ship a callable and its arguments.
//
// On this node a thread gets a heap object holding decayed copies of the callable and arguments,
// as std::thread does (no encoding; a lambda capturing references works as in std). On another
// node it gets bytes written by a drust::encoder: the callable first, then each argument
// (docs/design/threads.md, "Shipping a thread"):
//   - a sendable callable or argument is encoded by the rules of <drust/sendable>;
//   - a callable that is a class drust cannot see into and that is not trivially copyable (a
//     lambda capturing a drust::std::unique_ptr or shared_ptr) is *relocated*: moved once into a
//     scratch object, whose bytes become the closure's; that object's destructor never runs here,
//     because the receiving node now owns what it held (its handles' ownership went with the
//     bytes, so nothing is counted twice). The receiver moves it out of the bytes, runs it and
//     destroys it there;
//   - before anything is sent, the bytes of every object whose members drust cannot see (the
//     callable's captures, other non-aggregate classes) are checked word by word against this
//     node's memory map (check_closure_words): a captured reference, std::string or pointer to a
//     local throws std::invalid_argument naming the problem, and nothing runs remotely.
// If the target refuses the thread, the bytes are decoded here and dropped, which gives back
// everything they owned.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <stop_token>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <drust/codec>
#include <drust/detail/handle.hpp>
#include <drust/detail/launch.hpp>
#include <drust/relocatable>
#include <drust/sendable>

namespace drust::detail {

// Bytes that drust sends without seeing the members inside (lambdas, classes with private
// members): checked at run time by check_closure_words.
template <class U>
inline constexpr bool opaque_bytes_v =
    ::std::is_class_v<U> && !::std::is_aggregate_v<U> && send_form_of<U>() == send_form::bytes;

// A callable that travels by relocation (see the file comment): a class, movable, that is neither
// sendable nor refused by drust::relocatable for a reason its bytes cannot cure.
template <class U>
inline constexpr bool relocated_callable_v =
    !sendable<U> && ::std::is_class_v<U> && ::std::is_move_constructible_v<U> &&
    (relocation_problem_of<U> == relocation_problem::none ||
     relocation_problem_of<U> == relocation_problem::not_trivially_copyable);

// A thread's callable may be sendable or relocated; the message names the problem otherwise.
template <class U>
constexpr bool require_shippable_callable() noexcept {
  if constexpr (!relocated_callable_v<U>) require_sendable<U>();
  return true;
}

// Zeroes the padding bytes of a trivially copyable *object where the compiler can (GCC's
// __builtin_clear_padding), so that leftovers of earlier stack or heap contents there are neither
// taken for pointers by check_closure_words nor sent. Elsewhere (clang 14) padding copied from the
// caller's object stays. A relocated callable is built in zeroed memory by member-wise moves.
template <class U>
void clear_padding(U*) noexcept {}
#if defined(__has_builtin)
#if __has_builtin(__builtin_clear_padding)
template <class U>
  requires(::std::is_trivially_copyable_v<U> && ::std::is_copy_assignable_v<U>)  // GCC 12 wants both
void clear_padding(U* object) noexcept {
  __builtin_clear_padding(object);
}
#endif
#endif

// A copy of a trivially copyable object whose members drust cannot see, its padding zeroed.
template <class U>
U cleared_copy(const U& value) noexcept {
  U copy(value);
  clear_padding(::std::addressof(copy));
  return copy;
}

// The callable travels first.
template <class F>
void write_callable(encoder& out, F&& f, int node) {
  using U = ::std::decay_t<F>;
  if constexpr (relocated_callable_v<U>) {
    object_buffer scratch(sizeof(U), alignof(U));
    ::std::memset(scratch.get(), 0, sizeof(U));  // member-wise moves leave padding as it was
    U* object = ::new (scratch.get()) U(::std::forward<F>(f));
    clear_padding(object);
    try {
      check_closure_words(object, sizeof(U), typeid(U), "the thread's callable", node);
    } catch (...) {
      object->~U();
      throw;
    }
    out.write_bytes(object, sizeof(U));
    // *object is not destroyed: its bytes are the object now, owned by whoever decodes them.
  } else if constexpr (opaque_bytes_v<U>) {
    const U copy = cleared_copy<U>(f);
    check_closure_words(::std::addressof(copy), sizeof(U), typeid(U), "the thread's callable", node);
    out.write(copy);
  } else {
    out.write(::std::forward<F>(f));
  }
}

template <class U>
U read_callable(decoder& in) {
  if constexpr (relocated_callable_v<U>) {
    object_buffer relocated(sizeof(U), alignof(U));
    in.read_bytes(relocated.get(), sizeof(U));
    U* object = ::std::launder(static_cast<U*>(relocated.get()));
    struct destroy_after {
      U* object;
      ~destroy_after() { object->~U(); }
    } destroy{object};
    return U(::std::move(*object));
  } else {
    return in.read<U>();
  }
}

// Checks, before anything is encoded, the arguments whose members drust cannot see.
template <class Argument>
void check_argument(const Argument& argument, ::std::size_t index, int node) {
  using U = ::std::decay_t<Argument>;
  if constexpr (opaque_bytes_v<U>) {
    const ::std::string role = "argument " + ::std::to_string(index);
    const U copy = cleared_copy<U>(argument);
    check_closure_words(::std::addressof(copy), sizeof(U), typeid(U), role.c_str(), node);
  }
}

// Then the arguments: the opaque ones as checked, their padding zeroed.
template <class Argument>
void write_argument(encoder& out, Argument&& argument) {
  using U = ::std::decay_t<Argument>;
  if constexpr (opaque_bytes_v<U>) {
    out.write(cleared_copy<U>(argument));
  } else {
    out.write(::std::forward<Argument>(argument));
  }
}

// The closure decoded on the receiving node: the callable, then the arguments.
template <class U, class... Args>
struct decoded_closure {
  explicit decoded_closure(decoder& in) : callable(read_callable<U>(in)), arguments{in.read<Args>()...} {}
  U callable;
  ::std::tuple<Args...> arguments;
};

// How a thread calls its closure: std::invoke, as std::thread does. (async's invoker also puts
// the outcome into a promise: <drust/std/future>.) An invoker whose closure carries its thread's
// outcome has refused(why, parts...), run when the thread could not start.
struct plain_invoker {
  static constexpr bool reports_refusal = false;
  template <class... Parts>
  static void run(Parts&&... parts) {
    ::std::invoke(::std::forward<Parts>(parts)...);
  }
};

// The entry that runs on the other node (named there by its code offset).
template <bool WithStop, class Invoker, class U, class... Args>
void run_remote(const char* bytes, ::std::size_t size) {
  decoder in(::std::string_view(bytes, size));
  decoded_closure<U, Args...> closure(in);
  in.finish();
  ::std::apply(
      [&](Args&... arguments) {
        if constexpr (WithStop) {
          Invoker::run(::std::move(closure.callable), current_stop_token(), ::std::move(arguments)...);
        } else {
          Invoker::run(::std::move(closure.callable), ::std::move(arguments)...);
        }
      },
      closure.arguments);
}

// The thread cannot start: its closure's bytes are decoded and dropped, giving back what they own.
// On the node that refused it, `why` says why, and an invoker whose closure carries the thread's
// outcome (async's promise) hears it first; on the spawner, whose send failed, `why` is null (the
// spawn throws instead).
template <class Invoker, class U, class... Args>
void refuse_remote(const char* bytes, ::std::size_t size, const char* why) noexcept {
  try {
    decoder in(::std::string_view(bytes, size));
    decoded_closure<U, Args...> dropped(in);
    if constexpr (Invoker::reports_refusal) {
      if (why != nullptr) ::std::apply([&](Args&... arguments) { Invoker::refused(why, arguments...); }, dropped.arguments);
    }
  } catch (...) {
  }
}

template <class Invoker, class Closure>
void run_local(void* object) {
  ::std::unique_ptr<Closure> closure(static_cast<Closure*>(object));
  ::std::apply([](auto&... parts) { Invoker::run(::std::move(parts)...); }, *closure);
}
template <class Closure>
void discard_local(void* object) {
  delete static_cast<Closure*>(object);
}

struct spawned {
  thread_serial serial;
  int node;
  bool remote;
};

// Starts Invoker::run(f, args...) — f(token, args...) when WithStop — on `node`.
template <bool WithStop, class Invoker, class F, class... Args>
spawned spawn(int node, ::std::stop_token token, F&& f, Args&&... args) {
  using U = ::std::decay_t<F>;
  if (runs_here(node)) {
    if constexpr (WithStop) {
      using closure = ::std::tuple<U, ::std::stop_token, ::std::decay_t<Args>...>;
      auto* object = new closure(::std::forward<F>(f), ::std::move(token), ::std::forward<Args>(args)...);
      return {launch_local(&run_local<Invoker, closure>, &discard_local<closure>, object), node, false};
    } else {
      using closure = ::std::tuple<U, ::std::decay_t<Args>...>;
      auto* object = new closure(::std::forward<F>(f), ::std::forward<Args>(args)...);
      return {launch_local(&run_local<Invoker, closure>, &discard_local<closure>, object), node, false};
    }
  }
  ::std::size_t index = 0;
  (check_argument(args, ++index, node), ...);
  encoder out;
  write_callable(out, ::std::forward<F>(f), node);
  (write_argument(out, ::std::forward<Args>(args)), ...);
  const ::std::string bytes = out.take();
  try {
    return {launch_remote(node, &run_remote<WithStop, Invoker, U, ::std::decay_t<Args>...>,
                          &refuse_remote<Invoker, U, ::std::decay_t<Args>...>, bytes, WithStop, Invoker::reports_refusal),
            node, true};
  } catch (...) {
    refuse_remote<Invoker, U, ::std::decay_t<Args>...>(bytes.data(), bytes.size(), nullptr);
    throw;
  }
}

}  // namespace drust::detail
