// The mutexes homed on other nodes that this node holds *leased* (docs/design/sync.md, "Leases").
//
// A home grants a remote node a lease on a mutex that node locked twice in a row with nobody
// queued (mutex_table.hpp). The node then keeps the mutex after its unlocks: its threads lock and
// unlock it here with one atomic each on the lease's word, and the data word (sync::mutex<T>)
// stays here too. The home recalls the lease when another thread asks for the mutex; the lease
// then ends at once if the mutex is free here, else at the holder's unlock: either way this node
// sends the home one ordinary `mutex_unlock` with the data word, and the home goes on as after
// any unlock (it hands the mutex to the first waiter).
//
// A recall can overtake the grant it recalls: the home's reply goes to the calling thread, the
// recall to whichever thread polls next. A recall for a lease not entered yet is kept, and the
// lease is entered already recalled.
//
//   mutex_leases leases;
//   global_word data;
//   if (leases.try_lock(home, state, data)) { /* held, no message */ }
//   switch (leases.unlock(home, state, data)) { case unlock_result::release: /* send the unlock */ }
//
// A recall of a lease that a thread here holds is answered at once with "busy", so that the home
// can refuse try_locks rather than make them wait for that thread's unlock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include <drust/detail/heap.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace drust::sync {

class mutex_leases {
 public:
  enum class unlock_result {
    not_leased,  // this node holds no lease on it: an ordinary unlock (a message to the home)
    kept,        // unlocked here; the lease stays
    release,     // unlocked, and the lease ended (it was recalled): send the home the unlock
  };

  mutex_leases() = default;
  mutex_leases(const mutex_leases&) = delete;
  mutex_leases& operator=(const mutex_leases&) = delete;

  // Locks the mutex through this node's lease when there is one and the mutex is free here;
  // `data` gets its data word. When another thread of this node holds it, spins about a
  // microsecond for it first. False: no lease, recalled, or held: ask the home.
  bool try_lock(int home, ::std::uint64_t state, detail::global_word& data) ABSL_LOCKS_EXCLUDED(lock_);
  // Unlocks a mutex this thread holds, storing its data word. On release, `served` (when given)
  // gets the locks the lease served (try_lock) for the home's lease policy.
  unlock_result unlock(int home, ::std::uint64_t state, detail::global_word data, ::std::uint64_t* served = nullptr)
      ABSL_LOCKS_EXCLUDED(lock_);
  // The home granted this node a lease, held by the calling thread. True when the home recalled it
  // already (the recall overtook the grant): the caller tells the home it is busy.
  bool enter(int home, ::std::uint64_t state) ABSL_LOCKS_EXCLUDED(lock_);
  // The home recalls the lease: the data word to send back now when the mutex is free here;
  // nullopt when a holder will send it at its unlock (then `busy` is called, under this table's
  // lock, so that the home hears "busy" before that unlock), or when the recall is kept for the
  // grant.
  ::std::optional<detail::global_word> recall(int home, ::std::uint64_t state, absl::FunctionRef<void()> busy,
                                              ::std::uint64_t* served = nullptr) ABSL_LOCKS_EXCLUDED(lock_);
  // Drops the lease on a mutex that is being destroyed, and any recall kept for it.
  void forget(int home, ::std::uint64_t state) ABSL_LOCKS_EXCLUDED(lock_);
  // Drops every lease on mutexes homed on `home` (the node failed: its mutexes are gone).
  void forget_home(int home) ABSL_LOCKS_EXCLUDED(lock_);

  // Leases held now, and locks served by a lease (no message) so far.
  ::std::uint64_t held() const ABSL_LOCKS_EXCLUDED(lock_);
  ::std::uint64_t lease_locks() const { return lease_locks_.load(::std::memory_order_relaxed); }

 private:
  // The lease's word: free or held here, and whether the home recalled it.
  static constexpr ::std::uint32_t held_bit = 1;
  static constexpr ::std::uint32_t recalled_bit = 2;
  struct lease {
    ::std::atomic<::std::uint32_t> word{0};
    detail::global_word data = 0;  // written by the holder before its release of the word
    ::std::uint64_t served = 0;    // locks served by the lease (written by holders, as data)
  };
  using key = ::std::pair<int, ::std::uint64_t>;

  mutable absl::Mutex lock_;
  absl::flat_hash_map<key, ::std::unique_ptr<lease>> leases_ ABSL_GUARDED_BY(lock_);
  absl::flat_hash_set<key> early_recalls_ ABSL_GUARDED_BY(lock_);
  ::std::atomic<::std::uint64_t> lease_locks_{0};
};

}  // namespace drust::sync
