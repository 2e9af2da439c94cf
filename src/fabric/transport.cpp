#include "fabric/transport.hpp"

#include <poll.h>
#include <rdma/fi_errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <type_traits>

#include "common/cpu_relax.hpp"
#include "common/pages.hpp"

namespace drust::fabric {

using ::std::chrono::milliseconds;
using ::std::chrono::microseconds;
using ::std::chrono::steady_clock;

namespace {

constexpr int receive_slot_count = 32;
constexpr int send_slot_count = 32;
// Reads of at least this many bytes have their destination backed before they are posted (read).
constexpr ::std::size_t backed_read_bytes = 64 * 1024;
// A poller with nothing to do spins (with the pause instruction), then sleeps. Sleeping early
// costs a wake-up (tens of microseconds on a VM) when the work comes; spinning long costs CPU that
// the application could use, and under a CPU quota (drun --cpu-quota, a container's limit) every
// microsecond spun is taken from the node's threads: the KV store sample, whose operations each
// wait for a round trip, spent most of its quota spinning when pollers spun for a millisecond
// (samples/kvstore/README.md, "Scaling across nodes").
constexpr auto pause_window = microseconds(50);
// How long a caller spins for its own reply or completion before it hands the polling to the
// progress thread and sleeps: a round trip to a peer that is awake takes a few microseconds on
// shm, so a longer wait means the peer had to be woken, and then the wake-up of our sleep adds
// little to the wait.
constexpr auto caller_spin_window = microseconds(20);
// A caller that keeps polling (DRUST_PROGRESS=spin, or the progress thread's own calls) yields
// the core between polls after pause_window, and naps after this long.
constexpr auto spin_window = milliseconds(1);
// How long a parked progress thread without a doorbell naps between looks: the longest a request
// waits when the caller that parked it stops polling.
constexpr auto parked_nap = microseconds(200);
// The longest an idle progress engine sleeps before it looks again on its own.
constexpr auto idle_sleep = milliseconds(100);
// How often a waiter checks that a same-host peer's process still exists.
constexpr auto liveness_interval = milliseconds(50);

// An operation's state word; `state_sleeping` is pending with its caller asleep on the word
// (wait_until), so whoever settles it must wake the caller (settle).
enum operation_state : int { state_pending = 0, state_done = 1, state_failed = 2, state_sleeping = 3 };

thread_local int dispatch_depth = 0;
// The progress thread never sleeps in wait_until: it is the one that would wake the sleeper.
thread_local bool on_progress_thread = false;

long futex(::std::atomic<int>& word, int operation, int value, const timespec* timeout) {
  static_assert(sizeof(::std::atomic<int>) == sizeof(int) && ::std::atomic<int>::is_always_lock_free);
  return ::syscall(SYS_futex, reinterpret_cast<int*>(&word), operation, value, timeout, nullptr, 0);
}

// Sets an operation's outcome and wakes its caller if it sleeps on it. The word may belong to a
// caller that returns as soon as it sees the outcome: a wake of a word no longer in use is
// harmless (a futex sleeper re-checks its word).
void settle(::std::atomic<int>& state, int outcome) {
  if (state.exchange(outcome, ::std::memory_order_acq_rel) == state_sleeping) {
    futex(state, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
}

bool unsettled(const ::std::atomic<int>& state) {
  const int now = state.load(::std::memory_order_acquire);
  return now == state_pending || now == state_sleeping;
}

// True when process `pid` on this host is gone or a zombie.
bool process_gone(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  ::std::ifstream stat("/proc/" + ::std::to_string(pid) + "/stat");
  ::std::string line;
  if (!::std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != ::std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

struct transport::operation {
  fi_context2 context;  // first: libfabric hands back its address as op_context
  enum class type : ::std::uint8_t { receive, send, read, write } kind;
  ::std::atomic<int> state;
  int error;        // fi errno of a failed completion
  int send_slot;    // for sends: the slot to return
  int receive_slot; // for receives: the slot to repost
};
static_assert(::std::is_standard_layout_v<transport::operation>);

struct transport::receive_slot {
  operation op{};
  ::std::byte* buffer = nullptr;
};

struct transport::pending_call {
  ::std::atomic<int> state{state_pending};
  ::std::uint64_t request_id = 0;
  int peer = 0;
  ::std::string* reply = nullptr;  // the caller's buffer: the reply, or the error text when state_failed
};

struct transport::send_slot_pool {
  absl::Mutex lock;
  ::std::vector<int> free ABSL_GUARDED_BY(lock);
  ::std::vector<operation> operations;
  ::std::byte* base = nullptr;
  ::std::byte* buffer(int slot) { return base + static_cast<::std::size_t>(slot) * max_message_bytes; }
};

absl::StatusOr<progress_mode> progress_mode_from_environment() {
  const char* text = ::getenv("DRUST_PROGRESS");
  if (text == nullptr || *text == '\0' || ::std::string_view(text) == "adaptive") return progress_mode::adaptive;
  if (::std::string_view(text) == "sleep") return progress_mode::sleep;
  if (::std::string_view(text) == "spin") return progress_mode::spin;
  return absl::InvalidArgumentError(absl::StrCat("DRUST_PROGRESS='", text,
                                                 "' is not a progress mode: use adaptive (the default), sleep or spin"));
}

::std::uint64_t fold_cookie(::std::string_view cookie) {
  ::std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (char c : cookie) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

absl::StatusOr<::std::unique_ptr<transport>> transport::open(const transport_options& options) {
  // Debian's Abseil is built without NDEBUG, so every lock would run the deadlock detector
  // (3x the cost of an uncontended lock). DRUST_DEBUG_LOCKS=1 keeps it.
  if (::getenv("DRUST_DEBUG_LOCKS") == nullptr) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ::std::unique_ptr<transport> opened(new transport());
  opened->node_ = options.endpoint.node;
  opened->cookie_ = options.cookie;
  opened->operation_timeout_ = options.operation_timeout;
  opened->progress_ = options.progress;
  opened->caller_spin_.configure(caller_spin_window, options.progress == progress_mode::adaptive);
  opened->progress_spin_.configure(pause_window, options.progress == progress_mode::adaptive);
  // The fabric's own kind: a ping is answered with an empty reply (the benchmarks' round trip).
  opened->on_request(ping_kind, reply_handler([](const incoming_message&, ::std::string&) { return absl::OkStatus(); }));
  endpoint_options endpoint_settings = options.endpoint;
  endpoint_settings.wait_object = options.progress != progress_mode::spin;
  DRUST_ASSIGN_OR_RETURN(opened->endpoint_, endpoint::open(endpoint_settings));

  const ::std::size_t arena_bytes = (receive_slot_count + send_slot_count) * max_message_bytes;
  opened->message_arena_.reset(new ::std::byte[arena_bytes]);
  DRUST_ASSIGN_OR_RETURN(opened->arena_region_,
                         opened->endpoint_->register_memory(opened->message_arena_.get(), arena_bytes));
  for (int i = 0; i < receive_slot_count; ++i) {
    auto* slot = new receive_slot();
    slot->op.kind = operation::type::receive;
    slot->op.receive_slot = i;
    slot->buffer = opened->message_arena_.get() + static_cast<::std::size_t>(i) * max_message_bytes;
    opened->receive_slots_.push_back(slot);
  }
  opened->send_slots_ = ::std::make_unique<send_slot_pool>();
  opened->send_slots_->base =
      opened->message_arena_.get() + static_cast<::std::size_t>(receive_slot_count) * max_message_bytes;
  opened->send_slots_->operations = ::std::vector<operation>(send_slot_count);
  {
    absl::MutexLock hold(&opened->send_slots_->lock);
    for (int i = send_slot_count - 1; i >= 0; --i) opened->send_slots_->free.push_back(i);
  }
  for (int i = 0; i < send_slot_count; ++i) {
    operation& op = opened->send_slots_->operations[static_cast<::std::size_t>(i)];
    op.kind = operation::type::send;
    op.send_slot = i;
  }

  if (opened->endpoint_->provider().idle == idle_wait::doorbell) {
    opened->doorbell_prefix_ = absl::StrCat("/drust-", options.endpoint.job, "-n");
    DRUST_ASSIGN_OR_RETURN(opened->own_doorbell_,
                           doorbell::create(absl::StrCat(opened->doorbell_prefix_, opened->node_, ".doorbell")));
  }
  return opened;
}

transport::~transport() {
  stop();
  own_doorbell_.unlink();
  endpoint_.reset();  // closes the endpoint before the buffers it may still name go away
  for (receive_slot* slot : receive_slots_) delete slot;
}

absl::StatusOr<memory_region> transport::expose(void* base, ::std::size_t length) {
  absl::MutexLock hold(&endpoint_lock_);
  DRUST_ASSIGN_OR_RETURN(memory_region region, endpoint_->register_memory(base, length));
  exposed_.push_back(region);
  return region;
}

void transport::on_request(message_kind kind, reply_handler handler) {
  request_handlers_[kind] = ::std::move(handler);
}

void transport::on_request(message_kind kind, request_handler handler) {
  on_request(kind, reply_handler([handler = ::std::move(handler)](const incoming_message& message,
                                                                   ::std::string& reply) -> absl::Status {
    absl::StatusOr<::std::string> result = handler(message);
    if (!result.ok()) return result.status();
    reply = ::std::move(*result);
    return absl::OkStatus();
  }));
}

void transport::on_message(message_kind kind, message_handler handler) {
  message_handlers_[kind] = ::std::move(handler);
}

absl::Status transport::connect(::std::vector<peer_info> peers) {
  peers_ = ::std::move(peers);
  {
    absl::MutexLock hold(&peers_lock_);
    peer_failures_.assign(peers_.size(), ::std::string());
  }
  ::std::vector<::std::string> addresses;
  for (const peer_info& peer : peers_) addresses.push_back(peer.address);
  {
    absl::MutexLock hold(&endpoint_lock_);
    DRUST_RETURN_IF_ERROR(endpoint_->insert_peers(addresses));
  }
  peer_doorbells_.resize(peers_.size());
  if (own_doorbell_.valid()) {
    for (::std::size_t peer = 0; peer < peers_.size(); ++peer) {
      if (static_cast<int>(peer) == node_ || !peers_[peer].same_host) continue;
      DRUST_ASSIGN_OR_RETURN(peer_doorbells_[peer],
                             doorbell::attach(absl::StrCat(doorbell_prefix_, peer, ".doorbell")));
    }
  }
  DRUST_RETURN_IF_ERROR(post_receives());
  progress_thread_ = ::std::thread([this] { progress_loop(); });
  return absl::OkStatus();
}

absl::Status transport::post_receives() {
  absl::MutexLock hold(&endpoint_lock_);
  for (receive_slot* slot : receive_slots_) {
    ssize_t rc = endpoint_->post_receive(slot->buffer, max_message_bytes, arena_region_.descriptor,
                                         &slot->op.context);
    if (rc != 0) return fabric_status("fi_recv", static_cast<int>(rc));
  }
  return absl::OkStatus();
}

void transport::stop() {
  if (stopping_.exchange(true)) return;
  own_doorbell_.wake_owner();
  if (progress_thread_.joinable()) progress_thread_.join();
}

void transport::ring(int peer) {
  if (static_cast<::std::size_t>(peer) < peer_doorbells_.size()) peer_doorbells_[static_cast<::std::size_t>(peer)].ring();
}

void transport::ring_for_reply(int peer) {
  if (static_cast<::std::size_t>(peer) < peer_doorbells_.size()) {
    peer_doorbells_[static_cast<::std::size_t>(peer)].ring_for_reply();
  }
}

void* transport::local_descriptor(const void* address, ::std::size_t length) const {
  auto start = reinterpret_cast<::std::uint64_t>(address);
  auto inside = [&](const memory_region& region) {
    return start >= region.base && start + length <= region.base + region.length;
  };
  if (inside(arena_region_)) return arena_region_.descriptor;
  for (const memory_region& region : exposed_) {
    if (inside(region)) return region.descriptor;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Peers and failure

void transport::mark_peer_failed(int peer, const ::std::string& reason) {
  if (peer < 0 || static_cast<::std::size_t>(peer) >= peers_.size()) return;
  {
    absl::MutexLock hold(&peers_lock_);
    if (!peer_failures_[static_cast<::std::size_t>(peer)].empty()) return;
    peer_failures_[static_cast<::std::size_t>(peer)] = reason;
    any_peer_failed_.store(true, ::std::memory_order_release);
  }
  // Before the calls fail: their callers' errors may end threads, even this node, and drun must
  // have heard of the cause first.
  if (peer_failure_observer_) peer_failure_observer_(peer, reason);
  absl::MutexLock hold(&calls_lock_);
  for (pending_call*& waiting : calls_) {
    if (waiting != nullptr && waiting->peer == peer) {
      *waiting->reply = reason;
      settle(waiting->state, state_failed);
      waiting = nullptr;
    }
  }
}

::std::string transport::peer_failure(int peer) const {
  if (!any_peer_failed_.load(::std::memory_order_acquire)) return {};
  absl::MutexLock hold(&peers_lock_);
  return peer_failures_[static_cast<::std::size_t>(peer)];
}

absl::Status transport::check_peer(int peer) {
  if (peer < 0 || peer >= num_nodes()) {
    return absl::InvalidArgumentError(absl::StrCat("node ", peer, " does not exist: the job has ",
                                                   num_nodes(), " nodes"));
  }
  if (::std::string failure = peer_failure(peer); !failure.empty()) {
    return absl::UnavailableError(absl::StrCat("node ", peer, " failed: ", failure));
  }
  if (stopping_.load(::std::memory_order_acquire)) {
    return absl::FailedPreconditionError(absl::StrCat("this node's part of the job is over: it no longer talks to node ", peer));
  }
  return absl::OkStatus();
}

void transport::start_polling() {
  active_waiters_.fetch_add(1, ::std::memory_order_seq_cst);
  own_doorbell_.poller_enter();
}

void transport::stop_polling() {
  own_doorbell_.poller_leave();
  // A message a peer posted without ringing, because this thread polled, is found here when the
  // progress thread sleeps; an awake one finds it itself.
  if (own_doorbell_.owner_asleep()) {
    while (poll_once() > 0) {
    }
  }
  active_waiters_.fetch_sub(1, ::std::memory_order_seq_cst);
}

absl::Status transport::wait_until(::std::atomic<int>& done, int peer, steady_clock::time_point deadline,
                                   const char* what) {
  // While callers poll for themselves, the progress thread of a doorbell provider stays parked
  // (see progress_loop). Nothing waits on it meanwhile: the pollers take what peers send (who do
  // not ring while one polls; the last to leave looks once more, stop_polling), a request
  // deferred here wakes it, replies and completions are polled for by their waiters, and a
  // waiter that stops polling to sleep leaves the parked count first (wait_asleep).
  ::std::optional<polling> polls_itself(::std::in_place, *this);  // reset before sleeping
  // In adaptive and sleep mode a caller spins only briefly (adaptive: not at all while its waits
  // have been longer than that), then sleeps (wait_asleep); the progress thread itself must keep
  // polling, and so does a caller in spin mode.
  const bool may_sleep = progress_ != progress_mode::spin && !on_progress_thread;
  const microseconds spin_for = may_sleep ? caller_spin_.window() : microseconds::zero();

  const auto started = steady_clock::now();
  auto idle_since = started;
  auto next_liveness_check = idle_since + liveness_interval;
  auto nap = microseconds(1);
  unsigned empty_polls = 0;
  bool active = false;  // something completed since the clock was last read
  while (unsettled(done)) {
    if (poll_once() > 0) {
      active = true;
      empty_polls = 0;
      continue;
    }
    // Reading the clock costs as much as an empty poll: look at it every 16th time only.
    if ((++empty_polls & 15) != 0) {
      cpu_relax();
      continue;
    }
    auto now = steady_clock::now();
    if (active) {
      active = false;
      idle_since = now;
      nap = microseconds(1);
    }
    if (may_sleep && now - idle_since >= spin_for) {
      polls_itself.reset();
      absl::Status slept = wait_asleep(done, peer, deadline, what);
      caller_spin_.waited(steady_clock::now() - started);
      return slept;
    }
    if (now - idle_since < pause_window) {
      cpu_relax();
      continue;
    }
    DRUST_RETURN_IF_ERROR(check_waited_peer(done, peer, now, deadline, next_liveness_check, what));
    if (now - idle_since < spin_window) {
      ::sched_yield();
      continue;
    }
    // A long wait: sleep in short steps. The default timer slack (50 us) would stretch each.
    thread_local bool tight_timers = (::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0), true);
    (void)tight_timers;
    ::std::this_thread::sleep_for(nap);
    nap = ::std::min(nap * 2, microseconds(200));
  }
  if (may_sleep) caller_spin_.waited(steady_clock::now() - started);
  return absl::OkStatus();
}

absl::Status transport::wait_asleep(::std::atomic<int>& done, int peer, steady_clock::time_point deadline,
                                    const char* what) {
  // Hand the polling to the progress thread: announce the sleep (so that peers ring our doorbell
  // for replies, doorbell.hpp), look once more for what came before the announcement, then sleep
  // on the operation's word until whoever settles it wakes us (settle). The progress thread is no
  // longer parked (this caller left active_waiters_); a completion that needs no message from
  // the peer (a one-sided read on shm) is already in the completion queue, found by that look or
  // by the progress thread.
  own_doorbell_.expect_replies(+1);
  struct announced_guard {
    doorbell& bell;
    ~announced_guard() { bell.expect_replies(-1); }
  } announced{own_doorbell_};
  auto next_liveness_check = steady_clock::now() + liveness_interval;
  while (true) {
    poll_once();
    int expected = state_pending;
    if (!done.compare_exchange_strong(expected, state_sleeping, ::std::memory_order_acq_rel) &&
        expected != state_sleeping) {
      return absl::OkStatus();  // settled
    }
    // Wake at least every liveness interval to check on the peer (and to poll, should the
    // progress thread be gone: the node is stopping).
    const auto now = steady_clock::now();
    const auto step = ::std::min<steady_clock::duration>(liveness_interval, ::std::max(deadline - now, steady_clock::duration::zero()));
    const auto step_ns = ::std::chrono::duration_cast<::std::chrono::nanoseconds>(step).count();
    timespec timeout{static_cast<time_t>(step_ns / 1000000000), static_cast<long>(step_ns % 1000000000)};
    futex(done, FUTEX_WAIT_PRIVATE, state_sleeping, &timeout);
    if (!unsettled(done)) return absl::OkStatus();
    DRUST_RETURN_IF_ERROR(check_waited_peer(done, peer, steady_clock::now(), deadline, next_liveness_check, what));
  }
}

absl::Status transport::check_waited_peer(const ::std::atomic<int>& done, int peer, steady_clock::time_point now, steady_clock::time_point deadline,
                                          steady_clock::time_point& next_liveness_check, const char* what) {
  if (::std::string failure = peer_failure(peer); !failure.empty()) {
    return absl::UnavailableError(absl::StrCat(what, " towards node ", peer, " failed: ", failure));
  }
  if (now >= next_liveness_check) {
    next_liveness_check = now + liveness_interval;
    const peer_info& info = peers_[static_cast<::std::size_t>(peer)];
    if (info.same_host && peer != node_ && process_gone(info.pid)) {
      mark_peer_failed(peer, absl::StrCat("its process (pid ", info.pid, " on ", info.host, ") is gone"));
      // A call is settled as failed by that (its caller reports it); any other wait fails here.
      if (!unsettled(done)) return absl::OkStatus();
      return absl::UnavailableError(absl::StrCat(what, " towards node ", peer, " failed: ", peer_failure(peer)));
    }
  }
  if (now >= deadline) {
    auto waited = ::std::chrono::duration_cast<milliseconds>(operation_timeout_).count();
    mark_peer_failed(peer, absl::StrCat("it did not answer within ", waited, " ms"));
    return absl::DeadlineExceededError(absl::StrCat(what, " towards node ", peer, " got no answer within ",
                                                    waited, " ms"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Posting

absl::Status transport::post_with_retry(int peer, const char* what, bool wake_peer,
                                       absl::FunctionRef<ssize_t()> post) {
  const auto deadline = steady_clock::now() + operation_timeout_;
  ::std::atomic<int> never{state_pending};
  while (true) {
    ssize_t rc;
    {
      absl::MutexLock hold(&endpoint_lock_);
      rc = post();
    }
    if (rc == 0) {
      if (wake_peer) ring(peer);
      return absl::OkStatus();
    }
    if (rc != -FI_EAGAIN) return fabric_status(what, static_cast<int>(rc));
    // The provider's queue is full (or, for rxm, the peer is unreachable): make progress and
    // retry, but not forever.
    ring(peer);
    DRUST_RETURN_IF_ERROR(check_peer(peer));
    if (poll_once() == 0) {
      if (steady_clock::now() >= deadline) {
        return wait_until(never, peer, deadline, what);  // reports the timeout and fails the peer
      }
      ::std::this_thread::yield();
    }
  }
}

absl::Status transport::send_framed(int peer, message_kind kind, ::std::uint16_t flags,
                                    ::std::uint64_t request_id, ::std::string_view payload) {
  DRUST_RETURN_IF_ERROR(check_peer(peer));
  if (payload.size() > max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("an active message carries at most ", max_payload_bytes,
                                                   " bytes, not ", payload.size()));
  }
  wire_header header{cookie_, request_id, static_cast<::std::uint32_t>(node_),
                     static_cast<::std::uint32_t>(payload.size()), kind, flags, 0};
  const ::std::size_t total = sizeof header + payload.size();
  // A reply needs no doorbell while its caller polls for it; one that sleeps (wait_asleep) has
  // announced it, and the reply rings then (ring_for_reply after posting).
  const bool is_reply = (flags & flag_reply) != 0;
  const bool wake_peer = !is_reply;

  if (total <= endpoint_->inject_limit() && total <= 512) {
    alignas(16) ::std::byte frame[512];
    ::std::memcpy(frame, &header, sizeof header);
    if (!payload.empty()) ::std::memcpy(frame + sizeof header, payload.data(), payload.size());
    DRUST_RETURN_IF_ERROR(post_with_retry(peer, "fi_inject", wake_peer,
                                          [&] { return endpoint_->post_inject(peer, frame, total); }));
    if (is_reply) ring_for_reply(peer);
    counters_.messages_sent.fetch_add(1, ::std::memory_order_relaxed);
    return absl::OkStatus();
  }

  // Larger messages go from a registered send slot; its completion returns the slot.
  int slot = -1;
  const auto deadline = steady_clock::now() + operation_timeout_;
  while (slot < 0) {
    {
      absl::MutexLock hold(&send_slots_->lock);
      if (!send_slots_->free.empty()) {
        slot = send_slots_->free.back();
        send_slots_->free.pop_back();
      }
    }
    if (slot >= 0) break;
    if (poll_once() == 0) {
      if (steady_clock::now() >= deadline) return absl::ResourceExhaustedError("no free send slot in time");
      ::std::this_thread::yield();
    }
  }
  ::std::byte* buffer = send_slots_->buffer(slot);
  ::std::memcpy(buffer, &header, sizeof header);
  if (!payload.empty()) ::std::memcpy(buffer + sizeof header, payload.data(), payload.size());
  operation& op = send_slots_->operations[static_cast<::std::size_t>(slot)];
  op.state.store(state_pending, ::std::memory_order_relaxed);
  absl::Status posted = post_with_retry(peer, "fi_send", wake_peer, [&] {
    return endpoint_->post_send(peer, buffer, total, arena_region_.descriptor, &op.context);
  });
  if (!posted.ok()) {
    absl::MutexLock hold(&send_slots_->lock);
    send_slots_->free.push_back(slot);
    return posted;
  }
  if (is_reply) ring_for_reply(peer);
  counters_.messages_sent.fetch_add(1, ::std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status transport::send(int peer, message_kind kind, ::std::string_view payload) {
  return send_framed(peer, kind, 0, 0, payload);
}

absl::StatusOr<::std::string> transport::call(int peer, message_kind kind, ::std::string_view payload) {
  ::std::string reply;
  DRUST_RETURN_IF_ERROR(call(peer, kind, payload, reply));
  return reply;
}

absl::Status transport::call(int peer, message_kind kind, ::std::string_view payload, ::std::string& reply) {
  pending_call waiting;
  waiting.peer = peer;
  waiting.reply = &reply;
  ::std::uint64_t request_id = 0;
  while (request_id == 0) {
    {
      absl::MutexLock hold(&calls_lock_);
      // A taken slot (a call a thousand requests old still waiting) only costs another number.
      for (::std::size_t tries = 0; tries < call_slots && request_id == 0; ++tries) {
        ::std::uint64_t candidate = next_request_id_++;
        pending_call*& slot = calls_[candidate % call_slots];
        if (slot == nullptr) {
          slot = &waiting;
          request_id = candidate;
        }
      }
    }
    if (request_id == 0) ::std::this_thread::yield();  // every slot waits: let some finish
  }
  waiting.request_id = request_id;
  auto forget = [&] {
    absl::MutexLock hold(&calls_lock_);
    pending_call*& slot = calls_[request_id % call_slots];
    if (slot == &waiting) slot = nullptr;
  };
  if (absl::Status sent = send_framed(peer, kind, flag_request, request_id, payload); !sent.ok()) {
    forget();
    return sent;
  }
  absl::Status waited = wait_until(waiting.state, peer, steady_clock::now() + operation_timeout_, "a request");
  if (!waited.ok()) {
    forget();
    // A failure may have been recorded on the call itself just before the wait noticed.
    if (waiting.state.load(::std::memory_order_acquire) == state_done) return absl::OkStatus();
    return waited;
  }
  if (waiting.state.load(::std::memory_order_acquire) == state_failed) {
    return absl::UnavailableError(absl::StrCat("request to node ", peer, " failed: ", reply));
  }
  return absl::OkStatus();
}

absl::Status transport::one_sided(bool is_read, int peer, void* local, ::std::size_t length,
                                  ::std::uint64_t remote_address) {
  DRUST_RETURN_IF_ERROR(check_peer(peer));
  const remote_region& region = peers_[static_cast<::std::size_t>(peer)].region;
  void* descriptor = local_descriptor(local, length);
  if (descriptor == nullptr && endpoint_->needs_local_registration()) {
    return absl::InvalidArgumentError("this provider needs local buffers inside registered memory");
  }
  // One operation record per thread, reused; abandoned (leaked) only if its peer fails while the
  // provider may still hold it.
  thread_local ::std::unique_ptr<operation> record;
  if (!record) record = ::std::make_unique<operation>();
  operation& op = *record;
  op.kind = is_read ? operation::type::read : operation::type::write;
  op.state.store(state_pending, ::std::memory_order_relaxed);
  op.error = 0;
  const ::std::uint64_t target = endpoint_->remote_offset(region, remote_address);
  const char* what = is_read ? "fi_read" : "fi_write";
  absl::Status posted = post_with_retry(peer, what, endpoint_->provider().one_sided_needs_target, [&] {
    return is_read ? endpoint_->post_read(peer, local, length, descriptor, target, region.key, &op.context)
                   : endpoint_->post_write(peer, local, length, descriptor, target, region.key, &op.context);
  });
  DRUST_RETURN_IF_ERROR(posted);
  absl::Status waited = wait_until(op.state, peer, steady_clock::now() + operation_timeout_,
                                   is_read ? "a one-sided read" : "a one-sided write");
  if (!waited.ok()) {
    (void)record.release();  // the provider may still complete it; never reuse or free it
    return waited;
  }
  if (op.state.load(::std::memory_order_acquire) == state_failed) {
    return absl::UnavailableError(absl::StrCat(what, " of ", length, " bytes at node ", peer,
                                               " failed: ", fi_strerror(op.error)));
  }
  (is_read ? counters_.bytes_read : counters_.bytes_written).fetch_add(length, ::std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status transport::read(int peer, void* local, ::std::size_t length, ::std::uint64_t remote_address) {
  // shm copies a read with cross-memory attach inside fi_read while it holds the target's region
  // lock, which the target's own pollers and every other reader of the target spin on
  // (pthread_spin_lock). A first touch of a destination page inside that copy is a page fault
  // (microseconds in a VM, and a 2 MiB clear on a huge page) that lengthens every one of those
  // spins: so a large read's destination is backed first, outside the lock.
  if (length >= backed_read_bytes) (void)back_pages(local, length);
  return one_sided(true, peer, local, length, remote_address);
}

absl::Status transport::write(int peer, const void* local, ::std::size_t length,
                              ::std::uint64_t remote_address) {
  return one_sided(false, peer, const_cast<void*>(local), length, remote_address);
}

// ---------------------------------------------------------------------------------------------
// Completions and dispatch

int transport::poll_once() {
  fi_cq_msg_entry entries[16];
  ssize_t count;
  fi_cq_err_entry failed{};
  ::std::string failure_text;
  {
    absl::MutexLock hold(&endpoint_lock_);
    count = endpoint_->read_completions(entries, 16);
    if (count == -FI_EAVAIL) {
      failed = endpoint_->read_error();
      failure_text = endpoint_->error_text(failed);
    }
  }
  if (count == -FI_EAVAIL) {
    if (failed.op_context != nullptr) {
      auto* op = reinterpret_cast<operation*>(failed.op_context);
      op->error = failed.err;
      handle_completion(op, 0, failure_text);
    }
    return 1;
  }
  if (count <= 0) {
    if (has_deferred_.load(::std::memory_order_acquire) && dispatch_depth == 0) run_deferred();
    return 0;
  }
  for (ssize_t i = 0; i < count; ++i) {
    handle_completion(reinterpret_cast<operation*>(entries[i].op_context), entries[i].len, {});
  }
  return static_cast<int>(count);
}

void transport::handle_completion(operation* op, ::std::size_t length, const ::std::string& error) {
  switch (op->kind) {
    case operation::type::receive: {
      receive_slot& slot = *receive_slots_[static_cast<::std::size_t>(op->receive_slot)];
      if (error.empty()) handle_receive(slot, length);
      if (!stopping_.load(::std::memory_order_acquire)) {
        absl::MutexLock hold(&endpoint_lock_);
        ssize_t rc;
        while ((rc = endpoint_->post_receive(slot.buffer, max_message_bytes, arena_region_.descriptor,
                                             &slot.op.context)) == -FI_EAGAIN) {
        }
      }
      return;
    }
    case operation::type::send: {
      absl::MutexLock hold(&send_slots_->lock);
      send_slots_->free.push_back(op->send_slot);
      return;
    }
    case operation::type::read:
    case operation::type::write:
      settle(op->state, error.empty() ? state_done : state_failed);
      return;
  }
}

void transport::handle_receive(receive_slot& slot, ::std::size_t length) {
  absl::StatusOr<checked_frame> frame =
      check_frame(::std::string_view(reinterpret_cast<const char*>(slot.buffer), length), cookie_, peers_.size());
  if (!frame.ok()) {
    // The header's claims are unverified: name the sender only when its node id is plausible.
    wire_header claimed{};
    if (length >= sizeof claimed) ::std::memcpy(&claimed, slot.buffer, sizeof claimed);
    const int source = length >= sizeof claimed && claimed.source < peers_.size() ? static_cast<int>(claimed.source) : -1;
    if (absl::IsPermissionDenied(frame.status())) {
      counters_.messages_dropped.fetch_add(1, ::std::memory_order_relaxed);
    } else {
      counters_.messages_rejected.fetch_add(1, ::std::memory_order_relaxed);
    }
    log_rejected_message(node_, source, claimed.kind, message_of(frame.status()));
    return;
  }
  const wire_header& header = frame->header;
  counters_.messages_received.fetch_add(1, ::std::memory_order_relaxed);
  if ((header.flags & flag_reply) == 0 && dispatch_depth > 0) {
    // We are inside a handler (its reply could not be posted at once): run this one later, on
    // the progress thread, rather than nest handlers.
    absl::MutexLock hold(&deferred_lock_);
    deferred_.emplace_back(header, ::std::string(frame->payload));
    has_deferred_.store(true, ::std::memory_order_release);
    own_doorbell_.wake_owner();
    return;
  }
  dispatch(header, frame->payload);
}

void transport::reject(const incoming_message& message, ::std::string_view what) {
  counters_.messages_rejected.fetch_add(1, ::std::memory_order_relaxed);
  log_rejected_message(node_, message.source, message.kind, what);
}

namespace {

// Runs a handler; an exception it lets out becomes a malformed-message error instead of ending
// the thread that polled. (Handlers catch their decoders' errors themselves: this is the net
// under them, so that no input can take a node down.)
template <class Handler>
absl::Status run_handler(Handler&& handler) {
  try {
    return handler();
  } catch (const ::std::exception& error) {
    return malformed_message(absl::StrCat("its handler failed: ", error.what()));
  }
}

}  // namespace

void transport::dispatch(const wire_header& header, ::std::string_view payload) {
  const int source = static_cast<int>(header.source);
  if (header.flags & flag_reply) {
    absl::MutexLock hold(&calls_lock_);
    pending_call*& slot = calls_[header.request_id % call_slots];
    if (slot == nullptr || slot->request_id != header.request_id) return;  // the caller gave up
    pending_call* waiting = ::std::exchange(slot, nullptr);
    waiting->reply->assign(payload.data(), payload.size());
    settle(waiting->state, (header.flags & flag_error) ? state_failed : state_done);
    return;
  }
  ++dispatch_depth;
  incoming_message message{source, header.kind, payload};
  if (header.flags & flag_request) {
    // One reply buffer per thread, reused: a handler that writes into it allocates nothing.
    thread_local ::std::string reply;
    reply.clear();
    absl::Status handled =
        request_handlers_[header.kind]
            ? run_handler([&] { return request_handlers_[header.kind](message, reply); })
            : malformed_message(absl::StrCat("node ", node_, " has no handler for requests of kind ",
                                             header.kind, " (do all nodes run the same build?)"));
    if (is_malformed_message(handled)) reject(message, message_of(handled));
    const ::std::uint16_t flags = handled.ok() ? flag_reply : (flag_reply | flag_error);
    if (!handled.ok()) reply.assign(handled.message().data(), handled.message().size());
    absl::Status sent = send_framed(source, reply_kind, flags, header.request_id, reply);
    if (!sent.ok() && !stopping_.load()) {
      ::std::fprintf(stderr, "drust: node %d: could not answer node %d: %s\n", node_, source,
                     ::std::string(sent.message()).c_str());
    }
  } else if (message_handlers_[header.kind]) {
    absl::Status handled = run_handler([&] {
      message_handlers_[header.kind](message);
      return absl::OkStatus();
    });
    if (!handled.ok()) reject(message, message_of(handled));
  } else {
    reject(message, "no handler for one-way messages of this kind (do all nodes run the same build?)");
  }
  --dispatch_depth;
}

void transport::run_deferred() {
  while (true) {
    ::std::pair<wire_header, ::std::string> next;
    {
      absl::MutexLock hold(&deferred_lock_);
      if (deferred_.empty()) {
        has_deferred_.store(false, ::std::memory_order_release);
        return;
      }
      next = ::std::move(deferred_.front());
      deferred_.pop_front();
    }
    dispatch(next.first, next.second);
  }
}

// ---------------------------------------------------------------------------------------------
// The progress engine

void transport::progress_loop() {
  // Two pollers of one completion queue only contend for its lock and, on two cores, for the
  // CPU: while a caller polls, the progress thread parks. With a doorbell it sleeps on it (peers
  // ring it for requests) and may spin long otherwise; without one it naps in short steps (its CQ
  // wait fd would wake it for every completion the caller waits for), spins briefly when no
  // caller polls, then sleeps until the provider has something.
  const bool doorbell = endpoint_->provider().idle == idle_wait::doorbell;
  // Spin briefly after work, then sleep (pause_window says why not longer; in adaptive mode not
  // at all while the waits for work have been longer than that).
  on_progress_thread = true;
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  auto idle_since = steady_clock::now();
  microseconds progress_spin{};  // this idle stretch's window, taken when it starts
  bool waiting = false;  // for work since idle_since, and not parked meanwhile
  unsigned empty_polls = 0;
  while (!stopping_.load(::std::memory_order_acquire)) {
    if (poll_once() > 0) {
      if (::std::exchange(waiting, false)) progress_spin_.waited(steady_clock::now() - idle_since);
      empty_polls = 0;
      continue;
    }
    // The clock only every 16th empty poll; the first empty poll after work restarts the window.
    if (empty_polls++ == 0) {
      idle_since = steady_clock::now();
      progress_spin = progress_spin_.window();
      waiting = true;
      continue;
    }
    if ((empty_polls & 15) != 0) {
      cpu_relax();
      continue;
    }
    const bool parked = active_waiters_.load(::std::memory_order_seq_cst) > 0;
    if (parked) waiting = false;  // a caller polls for it: how long this thread waits says nothing
    if (parked && !doorbell) {
      ::std::this_thread::sleep_for(parked_nap);
      continue;
    }
    const auto idle_for = steady_clock::now() - idle_since;
    if (!parked && (idle_for < progress_spin || progress_ == progress_mode::spin)) {
      if (idle_for >= pause_window) ::sched_yield();
      continue;
    }
    // A wake-up restarts the spin window (the work it brings ends this wait first); a timeout with
    // none goes straight back to sleep, so an idle node costs one look every 100 ms.
    if (idle_wait()) empty_polls = 0;
  }
}

bool transport::idle_wait() {
  counters_.progress_sleeps.fetch_add(1, ::std::memory_order_relaxed);
  switch (endpoint_->provider().idle) {
    case idle_wait::doorbell: {
      ::std::uint32_t ticket = own_doorbell_.prepare_to_sleep();
      // One more look after announcing the sleep: a message that arrived before the
      // announcement is found here, one that arrives after it rings the bell.
      if (poll_once() > 0 || has_deferred_.load() || stopping_.load()) {
        own_doorbell_.awake();
        return true;
      }
      own_doorbell_.sleep(ticket, idle_sleep);
      own_doorbell_.awake();
      return own_doorbell_.rung_since(ticket);
    }
    case idle_wait::wait_fd: {
      bool may_sleep;
      {
        absl::MutexLock hold(&endpoint_lock_);
        may_sleep = endpoint_->try_wait();
      }
      if (!may_sleep) return true;
      pollfd waiter{endpoint_->wait_fd(), POLLIN, 0};
      return ::poll(&waiter, 1, static_cast<int>(idle_sleep.count())) > 0;
    }
    case idle_wait::backoff:
      ::std::this_thread::sleep_for(milliseconds(1));
      return false;
  }
  return false;
}

}  // namespace drust::fabric
