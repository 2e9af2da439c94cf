#include "sync/sync_service.hpp"

#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "common/message_kinds.hpp"
#include "sync/atomic_table.hpp"
#include "sync/barrier_table.hpp"
#include "sync/condition_table.hpp"
#include "sync/latch_table.hpp"
#include "sync/mutex_table.hpp"
#include "sync/shared_mutex_table.hpp"

namespace drust::sync {

namespace {

using clock = ::std::chrono::steady_clock;
using detail::sync_kind;

constexpr clock::time_point forever = clock::time_point::max();

clock::time_point deadline_of(detail::sync_deadline deadline) {
  if (deadline == detail::no_deadline) return forever;
  return clock::time_point(::std::chrono::duration_cast<clock::duration>(::std::chrono::nanoseconds(deadline)));
}

const char* name_of(sync_kind kind) {
  switch (kind) {
    case sync_kind::mutex:
      return "mutex";
    case sync_kind::condition:
      return "condition_variable";
    case sync_kind::atomic:
      return "atomic";
    case sync_kind::latch:
      return "latch";
    case sync_kind::barrier:
      return "barrier";
    case sync_kind::shared_mutex:
      return "shared_mutex";
  }
  return "synchronisation object";
}

// The kind of state an operation applies to.
sync_kind kind_of(operation op) {
  switch (op) {
    case operation::mutex_lock:
    case operation::mutex_try_lock:
    case operation::mutex_cancel:
    case operation::mutex_unlock:
    case operation::mutex_recall:
    case operation::mutex_forget:
    case operation::mutex_forgotten:
    case operation::mutex_recall_busy:
      return sync_kind::mutex;
    case operation::shared_mutex_lock:
    case operation::shared_mutex_try_lock:
    case operation::shared_mutex_unlock:
      return sync_kind::shared_mutex;
    case operation::condition_enter:
    case operation::condition_cancel:
    case operation::condition_notify_one:
    case operation::condition_notify_all:
      return sync_kind::condition;
    case operation::atomic_apply:
    case operation::atomic_wait:
    case operation::atomic_notify_one:
    case operation::atomic_notify_all:
      return sync_kind::atomic;
    case operation::latch_count_down:
    case operation::latch_try_wait:
    case operation::latch_wait:
      return sync_kind::latch;
    case operation::barrier_arrive:
    case operation::barrier_arrive_and_drop:
    case operation::barrier_complete:
    case operation::barrier_wait:
      return sync_kind::barrier;
  }
  return sync_kind::mutex;
}

mutex_state& mutex_at(::std::uint64_t address) {
  return *static_cast<mutex_state*>(reinterpret_cast<detail::mutex_core*>(static_cast<::std::uintptr_t>(address)));
}
shared_mutex_state& shared_mutex_at(::std::uint64_t address) {
  return *static_cast<shared_mutex_state*>(
      reinterpret_cast<detail::shared_mutex_core*>(static_cast<::std::uintptr_t>(address)));
}
atomic_state& atomic_at(::std::uint64_t address) {
  return *static_cast<atomic_state*>(reinterpret_cast<detail::atomic_core*>(static_cast<::std::uintptr_t>(address)));
}
template <class State>
State& state_at(::std::uint64_t address) {
  return *reinterpret_cast<State*>(static_cast<::std::uintptr_t>(address));
}

template <class State>
::std::uint64_t address_of_state(State* state) {
  return static_cast<::std::uint64_t>(reinterpret_cast<::std::uintptr_t>(state));
}

// An atomic request's detail word: the width in the low byte, the operation above it.
constexpr ::std::uint32_t atomic_detail(detail::atomic_op op, unsigned width) {
  return static_cast<::std::uint32_t>(width) | (static_cast<::std::uint32_t>(op) << 8);
}

request make_request(const detail::sync_handle& handle, operation op, ::std::uint64_t a = 0, ::std::uint64_t b = 0,
                     ::std::uint32_t detail_word = 0) {
  return request{handle.state, 0, a, b, op, detail_word};
}

// A mutex_lock request's detail word: the asker was woken to retry (mutex_table.hpp).
constexpr ::std::uint32_t mutex_lock_retrying = 1;
// A mutex wake's second word: retry (the mutex was released), rather than handed over.
constexpr ::std::uint64_t mutex_wake_retry = 1;
// A granted lock's second word (the reply's b): granted as a lease to the caller's node.
constexpr ::std::uint64_t mutex_granted_leased = 2;
// A try_lock's second word: refused (held), in the reply or in the wake of a queued try_lock.
constexpr ::std::uint64_t mutex_refused = 3;

}  // namespace

sync_service& sync_service::instance() {
  static sync_service* service = new sync_service();  // never destroyed (see the header)
  return *service;
}

void sync_service::start(int node, bool leases) {
  node_.store(node, ::std::memory_order_relaxed);
  leases_enabled_.store(leases, ::std::memory_order_relaxed);
}

bool sync_service::here(const detail::sync_handle& handle) const {
  return handle.home == self() || handle.home == detail::sync_process_local;
}

::std::string sync_service::failure_of(int node) const {
  if (node == self() || node == detail::sync_process_local) return {};
  if (transport_ == nullptr) return {};
  ::std::string failure = transport_->peer_failure(node);
  if (failure.empty()) return {};
  return absl::StrCat("node ", node, " failed: ", failure);
}

bool sync_service::live(::std::uint64_t state, sync_kind kind) const {
  absl::ReaderMutexLock hold(&live_lock_);
  auto found = live_.find(state);
  return found != live_.end() && found->second == kind;
}

// ---------------------------------------------------------------------------------------------
// States

detail::sync_handle sync_service::create(sync_kind kind, ::std::uint64_t initial) {
  ::std::uint64_t address = 0;
  switch (kind) {
    case sync_kind::mutex: {
      auto* state = new mutex_state();
      state->data = initial;
      address = address_of_state(static_cast<detail::mutex_core*>(state));
      break;
    }
    case sync_kind::condition:
      address = address_of_state(new condition_state());
      break;
    case sync_kind::shared_mutex:
      address = address_of_state(static_cast<detail::shared_mutex_core*>(new shared_mutex_state()));
      break;
    case sync_kind::atomic: {
      auto* state = new atomic_state();
      ::std::memcpy(state->storage, &initial, sizeof initial);
      address = address_of_state(static_cast<detail::atomic_core*>(state));
      break;
    }
    case sync_kind::latch: {
      auto* state = new latch_state();
      absl::MutexLock hold(&state->lock);
      state->count = static_cast<::std::ptrdiff_t>(initial);
      address = address_of_state(state);
      break;
    }
    case sync_kind::barrier: {
      auto* state = new barrier_state();
      absl::MutexLock hold(&state->lock);
      state->expected = static_cast<::std::ptrdiff_t>(initial);
      state->remaining = state->expected;
      address = address_of_state(state);
      break;
    }
  }
  {
    absl::MutexLock hold(&live_lock_);
    live_.emplace(address, kind);
  }
  counters_.states.fetch_add(1, ::std::memory_order_relaxed);
  return detail::sync_handle{self(), kind, address};
}

void sync_service::destroy(const detail::sync_handle& handle) {
  if (here(handle)) {
    destroy_here(handle.state, self());
    return;
  }
  if (handle.kind == sync_kind::mutex) leases_.forget(handle.home, handle.state);
  if (stopped_.load(::std::memory_order_acquire) || transport_ == nullptr) return;
  counters_.posts_sent.fetch_add(1, ::std::memory_order_relaxed);
  // A home that failed ends the job anyway: nothing to free there.
  (void)transport_->send(handle.home, message_kinds::sync_destroy, bytes_of(destroy_message{handle.state}));
}

void sync_service::destroy_here(::std::uint64_t address, int source) {
  sync_kind kind;
  {
    absl::MutexLock hold(&live_lock_);
    auto found = live_.find(address);
    if (found == live_.end()) {
      ::std::fprintf(stderr, "drust: node %d: a synchronisation object at 0x%llx was destroyed twice; ignored\n", self(),
                     static_cast<unsigned long long>(address));
      return;
    }
    kind = found->second;
    live_.erase(found);
  }
  counters_.states.fetch_sub(1, ::std::memory_order_relaxed);
  ::std::vector<waiter_ref> stranded;
  switch (kind) {
    case sync_kind::mutex: {
      mutex_state* state = &mutex_at(address);
      stranded = mutex_table::take_waiters(*state);
      const int leaseholder = mutex_table::end_lease(*state);
      if (leaseholder != no_node && leaseholder != source && transport_ != nullptr) {
        // Another node holds it leased: the state stays (so that its address names no new mutex)
        // until that node says it forgot the lease.
        {
          absl::MutexLock hold(&live_lock_);
          forgetting_.insert(address);
        }
        send_lease_message(leaseholder, operation::mutex_forget, address, 0);
        break;
      }
      delete state;
      break;
    }
    case sync_kind::condition: {
      auto* state = &state_at<condition_state>(address);
      stranded = condition_table::notify(*state, true);
      delete state;
      break;
    }
    case sync_kind::shared_mutex: {
      shared_mutex_state* state = &shared_mutex_at(address);
      stranded = shared_mutex_table::take_waiters(*state);
      delete state;
      break;
    }
    case sync_kind::atomic: {
      atomic_state* state = &atomic_at(address);
      stranded = atomic_table::notify(*state, 8, true);
      delete state;
      break;
    }
    case sync_kind::latch: {
      auto* state = &state_at<latch_state>(address);
      {
        absl::MutexLock hold(&state->lock);
        stranded.swap(state->waiters);
      }
      delete state;
      break;
    }
    case sync_kind::barrier: {
      auto* state = &state_at<barrier_state>(address);
      {
        absl::MutexLock hold(&state->lock);
        for (const auto& entry : state->waiters) stranded.push_back(entry.second);
        state->waiters.clear();
      }
      delete state;
      break;
    }
  }
  const ::std::string reason =
      absl::StrCat("the ", name_of(kind), " it waited on was destroyed meanwhile (node ", self(),
                   "): a synchronisation object must outlive every thread that waits on it");
  for (const waiter_ref& waiter : stranded) deliver_failure(waiter, reason);
}

// ---------------------------------------------------------------------------------------------
// The home's side

absl::Status sync_service::serve(int source, const request& asked, reply& answered) {
  answered = reply{};
  const waiter_ref waiter{source, asked.ticket};
  switch (asked.op) {
    case operation::mutex_lock: {
      const mutex_table::lock_request how{source == self() || source == detail::sync_process_local,
                                          (asked.detail & mutex_lock_retrying) != 0,
                                          leases_enabled_.load(::std::memory_order_relaxed)};
      const mutex_lock_result result = mutex_table::lock(mutex_at(asked.state), waiter, how, self());
      answered = {result.granted ? answer::done : answer::queued, result.data,
                  result.leased ? mutex_granted_leased : 0};
      if (result.leased) counters_.leases_granted.fetch_add(1, ::std::memory_order_relaxed);
      if (result.recall != no_node) send_lease_message(result.recall, operation::mutex_recall, asked.state, 0);
      return absl::OkStatus();
    }
    case operation::mutex_try_lock: {
      using outcome = mutex_table::try_lock_result::outcome;
      const mutex_table::try_lock_result result = mutex_table::try_lock(mutex_at(asked.state), waiter, self());
      switch (result.status) {
        case outcome::granted: answered = {answer::done, result.data, 0}; break;
        case outcome::refused: answered = {answer::refused, 0, mutex_refused}; break;
        case outcome::queued: answered = {answer::queued, 0, 0}; break;
      }
      if (result.recall != no_node) send_lease_message(result.recall, operation::mutex_recall, asked.state, 0);
      return absl::OkStatus();
    }
    case operation::mutex_cancel:
      answered.status = mutex_table::cancel(mutex_at(asked.state), waiter) ? answer::done : answer::refused;
      return absl::OkStatus();
    case operation::shared_mutex_lock:
      answered.status = shared_mutex_table::lock(shared_mutex_at(asked.state), waiter, asked.detail != 0)
                            ? answer::done
                            : answer::queued;
      return absl::OkStatus();
    case operation::shared_mutex_try_lock:
      answered.status = shared_mutex_table::try_lock(shared_mutex_at(asked.state), asked.detail != 0)
                            ? answer::done
                            : answer::refused;
      return absl::OkStatus();
    case operation::condition_enter:
      condition_table::enter(state_at<condition_state>(asked.state), waiter);
      answered.status = answer::queued;
      return absl::OkStatus();
    case operation::condition_cancel:
      answered.status =
          condition_table::cancel(state_at<condition_state>(asked.state), waiter) ? answer::done : answer::refused;
      return absl::OkStatus();
    case operation::atomic_apply: {
      const unsigned width = asked.detail & 0xff;
      const auto op = static_cast<detail::atomic_op>(asked.detail >> 8);
      if (!atomic_table::valid_width(width) || op > detail::atomic_op::fetch_xor) {
        return fabric::malformed_message(absl::StrCat("an atomic operation ", asked.detail >> 8, " on ", width,
                                                      " bytes: do all nodes run the same build?"));
      }
      bool success = true;
      answered.a = atomic_table::apply(atomic_at(asked.state), op, width, asked.a, asked.b, success);
      answered.b = success ? 1 : 0;
      return absl::OkStatus();
    }
    case operation::atomic_wait: {
      const unsigned width = asked.detail & 0xff;
      if (!atomic_table::valid_width(width)) return fabric::malformed_message("an atomic wait of a bad width");
      answered.status =
          atomic_table::enter_wait(atomic_at(asked.state), width, asked.a, waiter) ? answer::queued : answer::done;
      return absl::OkStatus();
    }
    case operation::latch_count_down: {
      ::std::vector<waiter_ref> opened;
      if (!latch_table::count_down(state_at<latch_state>(asked.state), static_cast<::std::ptrdiff_t>(asked.a),
                                   opened)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "drust::std::latch::count_down(", static_cast<::std::ptrdiff_t>(asked.a),
            "): the update must be at least 0 and at most the latch's count (std leaves this undefined)"));
      }
      for (const waiter_ref& woken : opened) deliver(woken, {});
      return absl::OkStatus();
    }
    case operation::latch_try_wait:
      answered.a = latch_table::is_open(state_at<latch_state>(asked.state)) ? 1 : 0;
      return absl::OkStatus();
    case operation::latch_wait:
      answered.status =
          latch_table::enter_wait(state_at<latch_state>(asked.state), waiter) ? answer::done : answer::queued;
      return absl::OkStatus();
    case operation::barrier_arrive:
    case operation::barrier_arrive_and_drop: {
      detail::barrier_arrival arrival;
      if (!barrier_table::arrive(state_at<barrier_state>(asked.state), static_cast<::std::ptrdiff_t>(asked.a),
                                 asked.op == operation::barrier_arrive_and_drop, arrival)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "drust::std::barrier::arrive(", static_cast<::std::ptrdiff_t>(asked.a),
            "): the update must be positive and at most the arrivals still expected in this phase (std leaves "
            "this undefined)"));
      }
      answered.a = arrival.phase;
      answered.b = arrival.last ? 1 : 0;
      return absl::OkStatus();
    }
    case operation::barrier_complete:
      for (const waiter_ref& woken : barrier_table::complete(state_at<barrier_state>(asked.state), asked.a)) {
        deliver(woken, {});
      }
      return absl::OkStatus();
    case operation::barrier_wait:
      answered.status = barrier_table::enter_wait(state_at<barrier_state>(asked.state), asked.a, waiter)
                            ? answer::done
                            : answer::queued;
      return absl::OkStatus();
    case operation::mutex_unlock:
    case operation::shared_mutex_unlock:
    case operation::condition_notify_one:
    case operation::condition_notify_all:
    case operation::atomic_notify_one:
    case operation::atomic_notify_all:
      serve_post(source, asked);
      return absl::OkStatus();
    case operation::mutex_recall:
    case operation::mutex_forget:
    case operation::mutex_forgotten:
    case operation::mutex_recall_busy:
      return absl::InvalidArgumentError(absl::StrCat("sync operation ", static_cast<unsigned>(asked.op),
                                                     " is a one-way lease message, not a request"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown sync operation ", static_cast<unsigned>(asked.op),
                                                 ": do all nodes run the same build?"));
}

void sync_service::serve_post(int source, const request& asked) {
  switch (asked.op) {
    case operation::mutex_unlock:
      if (auto next = mutex_table::unlock(mutex_at(asked.state), asked.a, self(), source, asked.b)) {
        deliver(next->waiter, {asked.a, next->retry ? mutex_wake_retry : 0});
      }
      return;
    case operation::shared_mutex_unlock:
      for (const waiter_ref& woken : shared_mutex_table::unlock(shared_mutex_at(asked.state), asked.detail != 0)) {
        deliver(woken, {});
      }
      return;
    case operation::condition_notify_one:
    case operation::condition_notify_all:
      for (const waiter_ref& woken : condition_table::notify(state_at<condition_state>(asked.state),
                                                             asked.op == operation::condition_notify_all)) {
        deliver(woken, {});
      }
      return;
    case operation::atomic_notify_one:
    case operation::atomic_notify_all:
      for (const waiter_ref& woken : atomic_table::notify(atomic_at(asked.state), asked.detail & 0xff,
                                                          asked.op == operation::atomic_notify_all)) {
        deliver(woken, {});
      }
      return;
    default:
      ::std::fprintf(stderr, "drust: node %d: node %d posted sync operation %u, which needs an answer; ignored\n",
                     self(), source, static_cast<unsigned>(asked.op));
      return;
  }
}

void sync_service::deliver(waiter_ref waiter, wake_value value) {
  if (waiter.node == self() || waiter.node == detail::sync_process_local || transport_ == nullptr) {
    waiters_.wake(waiter.ticket, value);
    return;
  }
  counters_.wakes_sent.fetch_add(1, ::std::memory_order_relaxed);
  const absl::Status sent = transport_->send(waiter.node, message_kinds::sync_wake,
                                             bytes_of(wake_message{waiter.ticket, value.first, value.second, 0}));
  if (!sent.ok() && !stopped_.load(::std::memory_order_acquire)) {
    // The waiter's node failed: the job ends anyway. Anything handed to it (a mutex) stays with it.
    ::std::fprintf(stderr, "drust: node %d: could not wake a thread of node %d: %s\n", self(), waiter.node,
                   ::std::string(sent.message()).c_str());
  }
}

void sync_service::deliver_failure(waiter_ref waiter, const ::std::string& reason) {
  if (waiter.node == self() || waiter.node == detail::sync_process_local || transport_ == nullptr) {
    waiters_.fail(waiter.ticket, reason);
    return;
  }
  counters_.wakes_sent.fetch_add(1, ::std::memory_order_relaxed);
  (void)transport_->send(waiter.node, message_kinds::sync_wake, bytes_of(wake_message{waiter.ticket, 0, 0, 1}));
}

// ---------------------------------------------------------------------------------------------
// Leases (mutex_leases.hpp, mutex_table.hpp)

void sync_service::send_lease_message(int node, operation op, ::std::uint64_t state, detail::global_word data,
                                      ::std::uint64_t served) {
  if (transport_ == nullptr) return;
  request message{};
  message.state = state;
  message.a = data;
  message.b = served;
  message.op = op;
  if (op == operation::mutex_recall) counters_.recalls_sent.fetch_add(1, ::std::memory_order_relaxed);
  counters_.posts_sent.fetch_add(1, ::std::memory_order_relaxed);
  const absl::Status sent = transport_->send(node, message_kinds::sync_post, bytes_of(message));
  if (!sent.ok() && !stopped_.load(::std::memory_order_acquire)) {
    // That node failed: the job ends anyway (a leaseholder's mutex stays held, as any holder's).
    ::std::fprintf(stderr, "drust: node %d: could not reach node %d about a mutex's lease: %s\n", self(), node,
                   ::std::string(sent.message()).c_str());
  }
}

void sync_service::serve_lease_message(int source, const request& asked) {
  switch (asked.op) {
    case operation::mutex_recall: {
      // From the home: give the lease back now if the mutex is free here, else say it is busy
      // (its holder gives it back at its unlock).
      ::std::uint64_t served = 0;
      auto data = leases_.recall(
          source, asked.state, [&] { send_lease_message(source, operation::mutex_recall_busy, asked.state, 0); },
          &served);
      if (data) send_lease_message(source, operation::mutex_unlock, asked.state, *data, served);
      return;
    }
    case operation::mutex_recall_busy: {
      // From the leaseholder: the try_locks queued for the recall are refused. The state lives: a
      // lease keeps it until the leaseholder's unlock or "forgotten", which come after this.
      {
        absl::ReaderMutexLock hold(&live_lock_);
        auto found = live_.find(asked.state);
        if ((found == live_.end() || found->second != sync_kind::mutex) && !forgetting_.contains(asked.state)) return;
      }
      for (const waiter_ref& refused : mutex_table::lease_busy(mutex_at(asked.state), source)) {
        deliver(refused, {0, mutex_refused});
      }
      return;
    }
    case operation::mutex_forget:
      leases_.forget(source, asked.state);
      send_lease_message(source, operation::mutex_forgotten, asked.state, 0);
      return;
    case operation::mutex_forgotten: {
      {
        absl::MutexLock hold(&live_lock_);
        if (forgetting_.erase(asked.state) == 0) return;
      }
      delete &mutex_at(asked.state);
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Asking homes

absl::StatusOr<reply> sync_service::ask(const detail::sync_handle& handle, const request& asked, const char* what) {
  reply answered;
  if (here(handle)) {
    DRUST_RETURN_IF_ERROR(serve(self(), asked, answered));
    return answered;
  }
  if (stopped_.load(::std::memory_order_acquire)) {
    absl::MutexLock hold(&live_lock_);
    return absl::UnavailableError(absl::StrCat(what, ": ", stop_reason_));
  }
  if (transport_ == nullptr || handle.home < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the object's home is node ", handle.home,
                                                   ", which is not in this job (was its handle copied from another "
                                                   "program's memory?)"));
  }
  counters_.requests_sent.fetch_add(1, ::std::memory_order_relaxed);
  thread_local ::std::string bytes;
  const absl::Status called = transport_->call(handle.home, message_kinds::sync_request, bytes_of(asked), bytes);
  if (!called.ok()) return absl::Status(called.code(), absl::StrCat(what, ": ", ::std::string(called.message())));
  if (!read_message(bytes, answered)) {
    return absl::InternalError(absl::StrCat(what, ": node ", handle.home, " sent a malformed answer"));
  }
  return answered;
}

absl::Status sync_service::post(const detail::sync_handle& handle, const request& asked, const char* what) {
  if (here(handle)) {
    serve_post(self(), asked);
    return absl::OkStatus();
  }
  if (stopped_.load(::std::memory_order_acquire)) {
    absl::MutexLock hold(&live_lock_);
    return absl::UnavailableError(absl::StrCat(what, ": ", stop_reason_));
  }
  if (transport_ == nullptr || handle.home < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the object's home is node ", handle.home,
                                                   ", which is not in this job"));
  }
  counters_.posts_sent.fetch_add(1, ::std::memory_order_relaxed);
  const absl::Status sent = transport_->send(handle.home, message_kinds::sync_post, bytes_of(asked));
  if (!sent.ok()) return absl::Status(sent.code(), absl::StrCat(what, ": ", ::std::string(sent.message())));
  return absl::OkStatus();
}

absl::StatusOr<::std::optional<wake_value>> sync_service::await(::std::uint64_t ticket,
                                                                clock::time_point deadline, const char* what) {
  counters_.waits.fetch_add(1, ::std::memory_order_relaxed);
  wake_value value;
  ::std::string failure;
  switch (waiters_.wait(ticket, deadline, [this](int node) { return failure_of(node); }, value, failure)) {
    case wait_outcome::woken:
      return ::std::optional<wake_value>(value);
    case wait_outcome::timed_out:
      return ::std::optional<wake_value>();
    case wait_outcome::failed:
      break;
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", failure));
}

namespace {

// Leaves the waiter table when the waiting call returns, whichever way.
class ticket_holder {
 public:
  ticket_holder(waiter_table& table, int home) : table_(table), ticket_(table.enter(home)) {}
  ~ticket_holder() { table_.leave(ticket_); }
  ticket_holder(const ticket_holder&) = delete;
  ticket_holder& operator=(const ticket_holder&) = delete;
  ::std::uint64_t ticket() const { return ticket_; }

 private:
  waiter_table& table_;
  ::std::uint64_t ticket_;
};

// The operation that takes a queued waiter back out, for the requests that may time out.
::std::optional<operation> cancel_of(operation op) {
  switch (op) {
    case operation::mutex_lock:
      return operation::mutex_cancel;
    case operation::condition_enter:
      return operation::condition_cancel;
    default:
      return ::std::nullopt;
  }
}

}  // namespace

absl::StatusOr<::std::optional<wake_value>> sync_service::ask_and_wait(const detail::sync_handle& handle,
                                                                       request asked, clock::time_point deadline,
                                                                       const char* what) {
  const int home = here(handle) ? self() : handle.home;
  ticket_holder waiting(waiters_, home);
  asked.ticket = waiting.ticket();
  DRUST_ASSIGN_OR_RETURN(reply answered, ask(handle, asked, what));
  if (answered.status != answer::queued) return ::std::optional<wake_value>(wake_value{answered.a, answered.b});
  DRUST_ASSIGN_OR_RETURN(::std::optional<wake_value> woken, await(asked.ticket, deadline, what));
  if (woken) return woken;
  // The deadline passed while queued: leave the queue, unless the home has just let us through
  // (then its wake is on the way, and the operation succeeded after all).
  const ::std::optional<operation> cancel = cancel_of(asked.op);
  if (!cancel) return woken;
  request withdraw = asked;
  withdraw.op = *cancel;
  DRUST_ASSIGN_OR_RETURN(reply withdrawn, ask(handle, withdraw, what));
  if (withdrawn.status == answer::done) return ::std::optional<wake_value>();
  return await(asked.ticket, forever, what);
}

// ---------------------------------------------------------------------------------------------
// The operations

absl::StatusOr<detail::global_word> sync_service::mutex_lock(const detail::sync_handle& handle) {
  DRUST_ASSIGN_OR_RETURN(::std::optional<detail::global_word> granted,
                         lock_mutex(handle, forever, "drust::std::mutex::lock"));
  return *granted;
}

absl::StatusOr<::std::optional<detail::global_word>> sync_service::lock_mutex(const detail::sync_handle& handle,
                                                                             clock::time_point deadline,
                                                                             const char* what) {
  if (!here(handle)) {
    detail::global_word data = 0;
    if (leases_.try_lock(handle.home, handle.state, data)) return ::std::optional<detail::global_word>(data);
  }
  request asked = make_request(handle, operation::mutex_lock);
  for (;;) {
    DRUST_ASSIGN_OR_RETURN(::std::optional<wake_value> woken, ask_and_wait(handle, asked, deadline, what));
    if (!woken) return ::std::optional<detail::global_word>();
    if (woken->second == mutex_granted_leased && leases_.enter(handle.home, handle.state)) {
      send_lease_message(handle.home, operation::mutex_recall_busy, handle.state, 0);  // recalled already
    }
    if (woken->second != mutex_wake_retry) return ::std::optional<detail::global_word>(woken->first);
    // Released to us to retry (mutex_table.hpp). Even past the deadline the retry must be made:
    // it restores the queue's flag in the word, which the waiters behind us rely on.
    asked.detail = mutex_lock_retrying;
  }
}

absl::StatusOr<::std::optional<detail::global_word>> sync_service::mutex_try_lock(const detail::sync_handle& handle) {
  if (!here(handle)) {
    detail::global_word data = 0;
    if (leases_.try_lock(handle.home, handle.state, data)) return ::std::optional<detail::global_word>(data);
  }
  // Answered at once, unless the mutex is leased to another node: then the home waits for the
  // leaseholder's answer to its recall (the mutex, or busy).
  DRUST_ASSIGN_OR_RETURN(::std::optional<wake_value> woken,
                         ask_and_wait(handle, make_request(handle, operation::mutex_try_lock), forever,
                                      "drust::std::mutex::try_lock"));
  if (!woken || woken->second == mutex_refused) return ::std::optional<detail::global_word>();
  return ::std::optional<detail::global_word>(woken->first);
}

absl::StatusOr<::std::optional<detail::global_word>> sync_service::mutex_lock_until(const detail::sync_handle& handle,
                                                                                   detail::sync_deadline deadline) {
  return lock_mutex(handle, deadline_of(deadline), "drust::std::timed_mutex::try_lock_until");
}

absl::Status sync_service::mutex_unlock(const detail::sync_handle& handle, detail::global_word data) {
  request unlocked = make_request(handle, operation::mutex_unlock, data);
  if (!here(handle) && leases_.unlock(handle.home, handle.state, data, &unlocked.b) == mutex_leases::unlock_result::kept) {
    return absl::OkStatus();
  }
  return post(handle, unlocked, "drust::std::mutex::unlock");
}

absl::Status sync_service::shared_mutex_lock(const detail::sync_handle& handle, bool shared) {
  const char* what = shared ? "drust::std::shared_mutex::lock_shared" : "drust::std::shared_mutex::lock";
  return ask_and_wait(handle, make_request(handle, operation::shared_mutex_lock, 0, 0, shared ? 1 : 0), forever, what)
      .status();
}

absl::StatusOr<bool> sync_service::shared_mutex_try_lock(const detail::sync_handle& handle, bool shared) {
  const char* what = shared ? "drust::std::shared_mutex::try_lock_shared" : "drust::std::shared_mutex::try_lock";
  DRUST_ASSIGN_OR_RETURN(reply answered,
                         ask(handle, make_request(handle, operation::shared_mutex_try_lock, 0, 0, shared ? 1 : 0), what));
  return answered.status == answer::done;
}

absl::Status sync_service::shared_mutex_unlock(const detail::sync_handle& handle, bool shared) {
  const char* what = shared ? "drust::std::shared_mutex::unlock_shared" : "drust::std::shared_mutex::unlock";
  return post(handle, make_request(handle, operation::shared_mutex_unlock, 0, 0, shared ? 1 : 0), what);
}

absl::StatusOr<::std::uint64_t> sync_service::condition_enter(const detail::sync_handle& handle) {
  const int home = here(handle) ? self() : handle.home;
  const ::std::uint64_t ticket = waiters_.enter(home);
  request asked = make_request(handle, operation::condition_enter);
  asked.ticket = ticket;
  absl::StatusOr<reply> answered = ask(handle, asked, "drust::std::condition_variable::wait");
  if (!answered.ok()) {
    waiters_.leave(ticket);
    return answered.status();
  }
  return ticket;
}

absl::StatusOr<bool> sync_service::condition_wait(const detail::sync_handle& handle, ::std::uint64_t ticket,
                                                  detail::sync_deadline deadline) {
  const char* what = "drust::std::condition_variable::wait";
  struct leave_guard {
    waiter_table& table;
    ::std::uint64_t ticket;
    ~leave_guard() { table.leave(ticket); }
  } leave{waiters_, ticket};
  DRUST_ASSIGN_OR_RETURN(::std::optional<wake_value> woken, await(ticket, deadline_of(deadline), what));
  if (woken) return true;
  request withdraw = make_request(handle, operation::condition_cancel);
  withdraw.ticket = ticket;
  DRUST_ASSIGN_OR_RETURN(reply withdrawn, ask(handle, withdraw, what));
  if (withdrawn.status == answer::done) return false;
  // A notify took this waiter just as it timed out: it counts as notified.
  DRUST_ASSIGN_OR_RETURN(woken, await(ticket, forever, what));
  return true;
}

absl::Status sync_service::condition_notify(const detail::sync_handle& handle, bool all) {
  return post(handle,
              make_request(handle, all ? operation::condition_notify_all : operation::condition_notify_one),
              "drust::std::condition_variable::notify");
}

absl::StatusOr<::std::uint64_t> sync_service::atomic_apply(const detail::sync_handle& handle, detail::atomic_op op,
                                                           unsigned width, ::std::uint64_t a, ::std::uint64_t b,
                                                           bool& success) {
  DRUST_ASSIGN_OR_RETURN(reply answered, ask(handle,
                                             make_request(handle, operation::atomic_apply, a, b, atomic_detail(op, width)),
                                             "drust::std::atomic"));
  success = answered.b != 0;
  return answered.a;
}

absl::Status sync_service::atomic_wait(const detail::sync_handle& handle, unsigned width, ::std::uint64_t old) {
  DRUST_ASSIGN_OR_RETURN(::std::optional<wake_value> woken,
                         ask_and_wait(handle, make_request(handle, operation::atomic_wait, old, 0, width), forever,
                                      "drust::std::atomic::wait"));
  (void)woken;
  return absl::OkStatus();
}

absl::Status sync_service::atomic_notify(const detail::sync_handle& handle, unsigned width, bool all) {
  return post(handle,
              make_request(handle, all ? operation::atomic_notify_all : operation::atomic_notify_one, 0, 0, width),
              "drust::std::atomic::notify");
}

absl::Status sync_service::latch_count_down(const detail::sync_handle& handle, ::std::ptrdiff_t update) {
  return ask(handle, make_request(handle, operation::latch_count_down, static_cast<::std::uint64_t>(update)),
             "drust::std::latch::count_down")
      .status();
}

absl::StatusOr<bool> sync_service::latch_try_wait(const detail::sync_handle& handle) {
  DRUST_ASSIGN_OR_RETURN(reply answered,
                         ask(handle, make_request(handle, operation::latch_try_wait), "drust::std::latch::try_wait"));
  return answered.a != 0;
}

absl::Status sync_service::latch_wait(const detail::sync_handle& handle) {
  return ask_and_wait(handle, make_request(handle, operation::latch_wait), forever, "drust::std::latch::wait")
      .status();
}

absl::StatusOr<detail::barrier_arrival> sync_service::barrier_arrive(const detail::sync_handle& handle,
                                                                     ::std::ptrdiff_t update, bool drop) {
  DRUST_ASSIGN_OR_RETURN(
      reply answered,
      ask(handle,
          make_request(handle, drop ? operation::barrier_arrive_and_drop : operation::barrier_arrive,
                       static_cast<::std::uint64_t>(update)),
          "drust::std::barrier::arrive"));
  return detail::barrier_arrival{answered.a, answered.b != 0};
}

absl::Status sync_service::barrier_complete(const detail::sync_handle& handle, ::std::uint64_t phase) {
  return ask(handle, make_request(handle, operation::barrier_complete, phase), "drust::std::barrier").status();
}

absl::Status sync_service::barrier_wait(const detail::sync_handle& handle, ::std::uint64_t phase) {
  return ask_and_wait(handle, make_request(handle, operation::barrier_wait, phase), forever,
                      "drust::std::barrier::wait")
      .status();
}

// ---------------------------------------------------------------------------------------------
// Joining and leaving the cluster

void sync_service::attach(fabric::transport* transport) {
  transport_ = transport;
  transport->on_request(message_kinds::sync_request,
                        [this](const fabric::incoming_message& message, ::std::string& out) -> absl::Status {
                          counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
                          request asked;
                          if (!read_message(message.payload, asked)) {
                            return fabric::malformed_message(absl::StrCat("a sync request of ", message.payload.size(),
                                                                          " bytes (expected ", sizeof asked, ")"));
                          }
                          if (!is_known_operation(asked.op)) {
                            return fabric::malformed_message(absl::StrCat(
                                "unknown sync operation ", static_cast<::std::uint32_t>(asked.op)));
                          }
                          const sync_kind kind = kind_of(asked.op);
                          if (!live(asked.state, kind)) {
                            return absl::FailedPreconditionError(absl::StrCat(
                                "node ", self(), " holds no ", name_of(kind), " at 0x", absl::Hex(asked.state),
                                ": it was destroyed while node ", message.source,
                                " still used it (a synchronisation object must outlive every thread that uses it)"));
                          }
                          reply answered;
                          DRUST_RETURN_IF_ERROR(serve(message.source, asked, answered));
                          out.assign(bytes_of(answered));
                          return absl::OkStatus();
                        });
  transport->on_message(message_kinds::sync_post, [this](const fabric::incoming_message& message) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    request asked;
    if (!read_message(message.payload, asked)) return transport_->reject(message, "not one sync request");
    if (!is_post_operation(asked.op)) {
      return transport_->reject(message, absl::StrCat("operation ", static_cast<::std::uint32_t>(asked.op),
                                                      " is not an unlock or notify"));
    }
    if (is_lease_operation(asked.op)) return serve_lease_message(message.source, asked);
    if (!live(asked.state, kind_of(asked.op))) {
      ::std::fprintf(stderr, "drust: node %d: node %d sent an unlock or notify for a synchronisation object "
                             "this node does not hold (destroyed while in use?); ignored\n",
                     self(), message.source);
      return;
    }
    serve_post(message.source, asked);
  });
  transport->on_message(message_kinds::sync_wake, [this](const fabric::incoming_message& message) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    wake_message wake;
    if (!read_message(message.payload, wake)) return transport_->reject(message, "not one wake message");
    if (wake.failed != 0) {
      waiters_.fail(wake.ticket, absl::StrCat("the synchronisation object it waited on (homed on node ", message.source,
                                              ") was destroyed meanwhile: it must outlive every thread that waits "
                                              "on it"));
    } else {
      waiters_.wake(wake.ticket, {wake.first, wake.second});
    }
  });
  transport->on_message(message_kinds::sync_destroy, [this](const fabric::incoming_message& message) {
    counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
    destroy_message destroyed;
    if (!read_message(message.payload, destroyed)) return transport_->reject(message, "not one state address");
    destroy_here(destroyed.state, message.source);
  });
}

void sync_service::stop(const ::std::string& why) {
  {
    absl::MutexLock hold(&live_lock_);
    stop_reason_ = why;
  }
  stopped_.store(true, ::std::memory_order_release);
  waiters_.fail_node(-1, why);
}

void sync_service::fail_node(int node, const ::std::string& reason) {
  leases_.forget_home(node);
  waiters_.fail_node(node, absl::StrCat("node ", node, " (the home of the object waited on) failed: ", reason));
}

}  // namespace drust::sync
