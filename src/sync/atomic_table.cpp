#include "sync/atomic_table.hpp"

#include <atomic>

namespace drust::sync::atomic_table {

namespace {

template <class U>
U* bits(atomic_state& state) {
  return reinterpret_cast<U*>(state.storage);
}

template <class Visit>
auto with_width(unsigned width, Visit&& visit) {
  switch (width) {
    case 1:
      return visit(::std::uint8_t{});
    case 2:
      return visit(::std::uint16_t{});
    case 4:
      return visit(::std::uint32_t{});
    default:
      return visit(::std::uint64_t{});
  }
}

}  // namespace

bool valid_width(unsigned width) { return width == 1 || width == 2 || width == 4 || width == 8; }

::std::uint64_t apply(atomic_state& state, detail::atomic_op op, unsigned width, ::std::uint64_t a,
                      ::std::uint64_t b, bool& success) {
  return with_width(width, [&](auto zero) -> ::std::uint64_t {
    using U = decltype(zero);
    return detail::atomic_apply<U>(bits<U>(state), op, static_cast<U>(a), static_cast<U>(b), success,
                                   ::std::memory_order_seq_cst);
  });
}

bool enter_wait(atomic_state& state, unsigned width, ::std::uint64_t old, waiter_ref waiter) {
  // Checked and registered under the lock that notify takes after a store: a store and notify
  // that come after the check find the waiter.
  absl::MutexLock hold(&state.lock);
  bool unused = true;
  if (apply(state, detail::atomic_op::load, width, 0, 0, unused) != old) return false;
  state.waiters.push_back(waiter);
  state.remote_waiters.store(static_cast<::std::uint32_t>(state.waiters.size()), ::std::memory_order_seq_cst);
  return true;
}

::std::vector<waiter_ref> notify(atomic_state& state, unsigned width, bool all) {
  with_width(width, [&](auto zero) {
    using U = decltype(zero);
    ::std::atomic_ref<U> value(*bits<U>(state));
    if (all) {
      value.notify_all();
    } else {
      value.notify_one();
    }
    return 0;
  });
  absl::MutexLock hold(&state.lock);
  ::std::vector<waiter_ref> woken;
  if (all) {
    woken.swap(state.waiters);
  } else if (!state.waiters.empty()) {
    woken.push_back(state.waiters.front());
    state.waiters.erase(state.waiters.begin());
  }
  state.remote_waiters.store(static_cast<::std::uint32_t>(state.waiters.size()), ::std::memory_order_seq_cst);
  return woken;
}

}  // namespace drust::sync::atomic_table
