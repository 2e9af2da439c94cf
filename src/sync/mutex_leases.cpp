#include "sync/mutex_leases.hpp"

#include "common/cpu_relax.hpp"

namespace drust::sync {

namespace {

// As long as a thread of the home spins before it queues (mutex_table.cpp): a short critical
// section of another thread here ends within it; asking the home would cost the lease.
constexpr int spins_before_asking = 100;

}  // namespace

// Every change of a lease's word happens under lock_: lockers and unlockers in reader mode (they
// change the word with a CAS), recall() in writer mode, so a recall sees the word settled.

bool mutex_leases::try_lock(int home, ::std::uint64_t state, detail::global_word& data) {
  absl::ReaderMutexLock hold(&lock_);
  auto found = leases_.find(key{home, state});
  if (found == leases_.end()) return false;
  lease& mine = *found->second;
  for (int spin = 0; spin < spins_before_asking; ++spin) {
    ::std::uint32_t expected = 0;
    if (mine.word.compare_exchange_strong(expected, held_bit, ::std::memory_order_acquire,
                                          ::std::memory_order_relaxed)) {
      data = mine.data;
      ++mine.served;
      lease_locks_.fetch_add(1, ::std::memory_order_relaxed);
      return true;
    }
    if ((expected & recalled_bit) != 0) return false;
    cpu_relax();
  }
  return false;
}

mutex_leases::unlock_result mutex_leases::unlock(int home, ::std::uint64_t state, detail::global_word data,
                                                 ::std::uint64_t* served) {
  {
    absl::ReaderMutexLock hold(&lock_);
    auto found = leases_.find(key{home, state});
    if (found == leases_.end()) return unlock_result::not_leased;
    lease& mine = *found->second;
    mine.data = data;
    ::std::uint32_t expected = held_bit;
    if (mine.word.compare_exchange_strong(expected, 0, ::std::memory_order_release, ::std::memory_order_relaxed)) {
      return unlock_result::kept;
    }
  }
  // Recalled while held: the lease ends with this unlock. Only its holder ends a held lease, so
  // it is still here (unless the mutex was destroyed while held, which std leaves undefined).
  absl::MutexLock hold(&lock_);
  auto found = leases_.find(key{home, state});
  if (found == leases_.end()) return unlock_result::not_leased;
  if (served != nullptr) *served = found->second->served;
  leases_.erase(found);
  return unlock_result::release;
}

bool mutex_leases::enter(int home, ::std::uint64_t state) {
  auto entered = ::std::make_unique<lease>();
  absl::MutexLock hold(&lock_);
  const bool recalled = early_recalls_.erase(key{home, state}) != 0;
  entered->word.store(held_bit | (recalled ? recalled_bit : 0), ::std::memory_order_relaxed);
  leases_.insert_or_assign(key{home, state}, ::std::move(entered));
  return recalled;
}

::std::optional<detail::global_word> mutex_leases::recall(int home, ::std::uint64_t state,
                                                          absl::FunctionRef<void()> busy, ::std::uint64_t* served) {
  absl::MutexLock hold(&lock_);
  auto found = leases_.find(key{home, state});
  if (found == leases_.end()) {
    early_recalls_.insert(key{home, state});  // the grant is still on its way to its thread
    return ::std::nullopt;
  }
  lease& mine = *found->second;
  const ::std::uint32_t word = mine.word.load(::std::memory_order_acquire);
  if ((word & held_bit) != 0) {
    mine.word.store(word | recalled_bit, ::std::memory_order_relaxed);
    busy();
    return ::std::nullopt;
  }
  const detail::global_word data = mine.data;
  if (served != nullptr) *served = mine.served;
  leases_.erase(found);
  return data;
}

void mutex_leases::forget(int home, ::std::uint64_t state) {
  absl::MutexLock hold(&lock_);
  leases_.erase(key{home, state});
  early_recalls_.erase(key{home, state});
}

void mutex_leases::forget_home(int home) {
  absl::MutexLock hold(&lock_);
  absl::erase_if(leases_, [home](const auto& entry) { return entry.first.first == home; });
  absl::erase_if(early_recalls_, [home](const key& k) { return k.first == home; });
}

::std::uint64_t mutex_leases::held() const {
  absl::ReaderMutexLock hold(&lock_);
  return leases_.size();
}

}  // namespace drust::sync
