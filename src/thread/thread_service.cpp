#include "thread/thread_service.hpp"

#include <atomic>
#include <deque>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <drust/detail/heap.hpp>
#include <drust/detail/launch.hpp>
#include <drust/detail/placement.hpp>
#include <drust/std/thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/executable_image.hpp"
#include "common/message_kinds.hpp"
#include "heap/partition.hpp"
#include "thread/exception_description.hpp"
#include "thread/scheduler.hpp"

namespace drust::threads {

namespace {

// A thread to start; the closure's bytes follow (or wait in closure_block). As a request
// (thread_spawn, a jthread's) the spawner waits for the answer; as thread_start it does not, and
// a refusal comes back as thread_not_started.
struct thread_spawn_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_spawn;
  detail::thread_serial serial;
  ::std::int64_t entry_offset;
  ::std::uint32_t closure_size;
  ::std::uint32_t flags;          // spawn_*
  detail::global_word closure_block;  // closure_in_heap: the closure's bytes are there
  ::std::int64_t refusal_offset;      // thread_start: what runs on the closure when it cannot start
};
struct thread_start_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_start;
  thread_spawn_message spawn;
};
// Why the thread could not start follows as the tail.
struct thread_not_started_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_not_started;
  detail::thread_serial serial;
};
inline constexpr ::std::uint32_t spawn_stop_token = 1;  // keep a std::stop_source for the thread
inline constexpr ::std::uint32_t spawn_closure_in_heap = 2;

struct thread_stop_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_stop;
  detail::thread_serial serial;
};

struct thread_done_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_done;
  detail::thread_serial serial;
};

// What the spawning node knows of a thread it started. join waits on `state` (a futex through
// std::atomic::wait), not on records_lock, so that finishing and joining never queue behind
// each other on the map's lock.
enum thread_state : int { thread_running = 0, thread_done = 1, thread_failed = 2 };
struct thread_record {
  thread_record(int where, bool carries_outcome) : node(where), outcome_in_closure(carries_outcome) {}
  const int node;
  const bool outcome_in_closure;             // an async's: a refusal reaches its future
  ::std::atomic<int> state{thread_running};  // changed under records_lock, waited on without it
  bool detached = false;                     // guarded by records_lock
  bool async_tail = false;                   // detached as an async's, counted in async_tails; guarded by records_lock
  bool end_counted = false;                  // its end was noted for placement; guarded by records_lock
  ::std::string failure;                     // the node running it failed (written before state)
  bool refused = false;                      // failed because its node could not start it
};

cluster_view cluster;
// Never destroyed: a detached thread may still end while exit() runs the static destructors.
absl::Mutex& records_lock = *new absl::Mutex;
absl::flat_hash_map<detail::thread_serial, ::std::shared_ptr<thread_record>>& records ABSL_GUARDED_BY(records_lock) =
    *new absl::flat_hash_map<detail::thread_serial, ::std::shared_ptr<thread_record>>;
// Detached async threads still running (their tails: destroying their arguments).
::std::uint64_t async_tails ABSL_GUARDED_BY(records_lock) = 0;
::std::atomic<::std::uint64_t> next_serial{1};
::std::atomic<::std::uint64_t> started{0};
::std::atomic<::std::uint64_t> running{0};
// The threads running here, by the node that started them (index: node; sized by install). The
// load report carries them, so that a spawner can tell its own threads in a node's figure from
// the others' (docs/design/scheduler.md, "The estimate of another node's load").
::std::unique_ptr<::std::atomic<::std::uint64_t>[]> running_by_origin;
// Local threads created but not yet running: counted as running, so that a burst of spawns on this
// node sees the threads it has just started (docs/design/threads.md, "Placement").
::std::atomic<::std::uint64_t> launching{0};
thread_local detail::thread_serial current_serial = 0;

// A thread started by `origin` began (+1) or ended (-1) here.
void count_running(int origin, int change) {
  running.fetch_add(static_cast<::std::uint64_t>(change));
  if (running_by_origin && origin >= 0 && origin < cluster.nodes) {
    running_by_origin[static_cast<::std::size_t>(origin)].fetch_add(static_cast<::std::uint64_t>(change));
  }
}

detail::thread_serial new_serial() {
  return (static_cast<detail::thread_serial>(cluster.node) << 48) | next_serial.fetch_add(1);
}

// Counts, once, the end of a thread this node started on another node, for placement: when its
// async's outcome arrives (note_async_result) or when it settles, whichever comes first.
void count_end(thread_record& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(records_lock) {
  if (record.node == cluster.node || record.end_counted) return;
  record.end_counted = true;
  note_thread_ended(record.node);
}

// A detached thread that never ran and has no future to say so: as when std::thread's
// constructor throws and nobody catches it, the job ends (here, with the cause named).
[[noreturn]] void end_job_for_lost_thread(const ::std::string& failure) {
  ::std::fprintf(stderr, "drust: node %d: a detached drust::std::thread never ran: %s\n", cluster.node, failure.c_str());
  ::std::fflush(stderr);
  ::std::terminate();
}

// Ends a record's thread with `state` (done, or failed with `failure`).
void settle_record(::std::shared_ptr<thread_record> record, detail::thread_serial serial, thread_state state,
                   const ::std::string& failure = {}, bool refused = false) {
  {
    absl::MutexLock hold(&records_lock);
    if (record->state.load(::std::memory_order_relaxed) != thread_running) return;
    count_end(*record);
    if (record->detached) {
      if (record->async_tail) --async_tails;
      records.erase(serial);
      if (refused && !record->outcome_in_closure) end_job_for_lost_thread(failure);
      return;
    }
    record->failure = failure;
    record->refused = refused;
    record->state.store(state, ::std::memory_order_release);
  }
  record->state.notify_all();
}

void mark_finished(detail::thread_serial serial) {
  ::std::shared_ptr<thread_record> record;
  {
    absl::MutexLock hold(&records_lock);
    auto found = records.find(serial);
    if (found == records.end()) return;
    record = found->second;
  }
  settle_record(::std::move(record), serial, thread_done);
}

// The stop sources of threads running here for other nodes' jthreads (spawn_stop_token).
absl::Mutex stops_lock;
absl::flat_hash_map<detail::thread_serial, ::std::stop_source> stop_sources ABSL_GUARDED_BY(stops_lock);
thread_local const ::std::stop_source* current_stop = nullptr;

// A peer this node knows to have failed (the controller said so, or the transport saw it go),
// and why; nullopt while every peer is well.
::std::optional<::std::pair<int, ::std::string>> failed_peer() {
  if (cluster.transport == nullptr) return ::std::nullopt;
  for (int node = 0; node < cluster.nodes; ++node) {
    if (::std::string why = cluster.transport->peer_failure(node); !why.empty()) return ::std::pair{node, why};
  }
  return ::std::nullopt;
}

// The body of every drust thread, local or remote: `body` runs the closure.
template <class Body>
void run_thread(detail::thread_serial serial, ::std::shared_ptr<thread_record> local_record, Body&& body) {
  current_serial = serial;
  const int origin = detail::origin_node(serial);
  started.fetch_add(1);
  count_running(origin, 1);
  if (local_record) launching.fetch_sub(1);
  try {
    body();
  } catch (...) {
    const exception_description what = describe_current_exception();
    if (auto lost = failed_peer()) {
      // Most likely the error is the failed peer's (an operation towards it, a result that could
      // not reach it), and either way the job is over: a node's loss ends it (fail-stop), and drun,
      // which heard of the loss first (node_runtime.cpp), names that node and stops the others.
      // Terminating here would add a second failure that reads as this node's own. So the thread
      // just ends: its outcome is never delivered, and whoever waits for it ends with the job.
      ::std::fprintf(stderr,
                     "drust: node %d: a thread started by node %d cannot go on because node %d failed (%s); the job "
                     "ends with it. The thread's error: %s: %s\n",
                     cluster.node, detail::origin_node(serial), lost->first, lost->second.c_str(), what.type.c_str(),
                     what.message.c_str());
      ::std::fflush(stderr);
      count_running(origin, -1);
      return;
    }
    // As with std::thread, an exception leaving the thread ends the program, here the whole job:
    // this node terminates, and drun stops the others and names this node.
    ::std::fprintf(stderr, "drust: node %d: a thread started by node %d ended with an uncaught exception of type %s: %s\n",
                   cluster.node, detail::origin_node(serial), what.type.c_str(), what.message.c_str());
    ::std::fflush(stderr);
    ::std::terminate();
  }
  count_running(origin, -1);
  if (local_record) {
    settle_record(::std::move(local_record), serial, thread_done);
    return;
  }
  if (origin == cluster.node || cluster.transport == nullptr) {
    mark_finished(serial);
    return;
  }
  absl::Status told = cluster.transport->send(origin, thread_done_message{serial});
  if (!told.ok()) {
    ::std::fprintf(stderr, "drust: node %d: cannot tell node %d that its thread finished: %s\n", cluster.node,
                   origin, ::std::string(told.message()).c_str());
  }
}

// Threads that run closures for other nodes. Starting an OS thread costs tens of microseconds,
// most of a remote spawn; so a worker that finishes waits (worker_idle_time) for the next closure
// before it exits, and a spawn hands its closure to an idle worker when there is one. A new worker
// starts only when none is idle. (Local threads are always new OS threads, as with std::thread.)
class remote_workers {
 public:
  void run(::std::function<void()> job) {
    {
      absl::MutexLock hold(&lock_);
      jobs_.push_back(::std::move(job));
      if (idle_ > waking_) {
        ++waking_;
        wake_.Signal();
        return;
      }
    }
    ::std::thread([this] { work(); }).detach();
  }

 private:
  static constexpr absl::Duration worker_idle_time = absl::Seconds(10);

  void work() {
    absl::MutexLock hold(&lock_);
    while (true) {
      if (jobs_.empty()) {
        ++idle_;
        const bool timed_out = wake_.WaitWithTimeout(&lock_, worker_idle_time);
        --idle_;
        if (waking_ > 0) --waking_;
        if (jobs_.empty()) {
          if (timed_out) return;
          continue;
        }
      }
      ::std::function<void()> job = ::std::move(jobs_.front());
      jobs_.pop_front();
      lock_.Unlock();
      job();
      lock_.Lock();
    }
  }

  absl::Mutex lock_;
  absl::CondVar wake_;
  ::std::deque<::std::function<void()>> jobs_ ABSL_GUARDED_BY(lock_);
  int idle_ ABSL_GUARDED_BY(lock_) = 0;   // workers waiting for a job
  int waking_ ABSL_GUARDED_BY(lock_) = 0;  // of those, signalled and not yet awake
};

remote_workers& workers() {
  static remote_workers* pool = new remote_workers();  // never destroyed: workers outlive main
  return *pool;
}

// A thread for another node: its closure's bytes arrived inline or wait in a heap block (read
// here, on the worker, not on the progress thread that handled the message).
void start_remote_closure(detail::thread_serial serial, detail::remote_entry entry, ::std::string closure,
                          detail::global_word block, ::std::size_t size, ::std::stop_source stop) {
  workers().run([serial, entry, closure = ::std::move(closure), block, size, stop = ::std::move(stop)]() mutable {
    run_thread(serial, nullptr, [&] {
      if (block != 0) closure = unpark_bytes(block, size);
      current_stop = stop.stop_possible() ? &stop : nullptr;
      struct forget_stop {
        detail::thread_serial serial;
        ~forget_stop() {
          current_stop = nullptr;
          absl::MutexLock hold(&stops_lock);
          stop_sources.erase(serial);
        }
      } forget{serial};
      entry(closure.data(), closure.size());
    });
  });
}

bool is_code_offset(::std::int64_t offset) {
  const auto code = reinterpret_cast<::std::uintptr_t>(detail::code_at(offset));
  const executable_image& image = this_executable();
  return code >= image.begin && code < image.end;
}

// Why a thread_spawn message cannot be run here, or nullptr when it can. Its entry (and, when it
// came as thread_start, its refusal) must be code of this executable (every node runs the same
// one), its closure inline or in a heap block.
const char* why_not_runnable(const thread_spawn_message& spawn, ::std::size_t inline_bytes, bool with_refusal) {
  if ((spawn.flags & ~(spawn_stop_token | spawn_closure_in_heap)) != 0) return "unknown spawn flags";
  if (!is_code_offset(spawn.entry_offset)) return "its entry offset points outside the executable";
  if (with_refusal && !is_code_offset(spawn.refusal_offset)) return "its refusal offset points outside the executable";
  if ((spawn.flags & spawn_closure_in_heap) == 0) {
    return inline_bytes == spawn.closure_size ? nullptr : "the closure's size differs from the bytes that follow";
  }
  if (inline_bytes != 0) return "a closure in the heap with bytes inline too";
  return why_not_a_heap_block(spawn.closure_block, spawn.closure_size);
}

::std::atomic<int> starts_to_refuse{0};  // refuse_thread_starts

// Starts the thread a thread_spawn or thread_start message asks for; `bytes` are the closure's
// when it came inline. An error when it cannot: malformed (nothing of it can be run), or not.
absl::Status start_spawned(const thread_spawn_message* spawn, ::std::string_view bytes, bool with_refusal) {
  if (spawn == nullptr) return fabric::malformed_message("a thread_spawn message shorter than its header");
  const bool in_heap = (spawn->flags & spawn_closure_in_heap) != 0;
  if (const char* why = why_not_runnable(*spawn, bytes.size(), with_refusal)) return fabric::malformed_message(why);
  if (starts_to_refuse.load(::std::memory_order_relaxed) > 0 && starts_to_refuse.fetch_sub(1) > 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("node ", cluster.node, " cannot start a thread: refused by drust::threads::refuse_thread_starts (a test hook)"));
  }
  ::std::stop_source stop(::std::nostopstate);
  if ((spawn->flags & spawn_stop_token) != 0) {
    stop = ::std::stop_source();
    absl::MutexLock hold(&stops_lock);
    stop_sources.insert_or_assign(spawn->serial, stop);
  }
  try {
    start_remote_closure(spawn->serial, reinterpret_cast<detail::remote_entry>(detail::code_at(spawn->entry_offset)),
                         ::std::string(in_heap ? ::std::string_view() : bytes), in_heap ? spawn->closure_block : 0,
                         spawn->closure_size, ::std::move(stop));
  } catch (const ::std::system_error& error) {
    absl::MutexLock hold(&stops_lock);
    stop_sources.erase(spawn->serial);
    return absl::ResourceExhaustedError(absl::StrCat("node ", cluster.node, " cannot start a thread: ", error.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<::std::string> handle_spawn(const fabric::incoming_message& message) {
  auto spawn = fabric::decode<thread_spawn_message>(message.payload);
  absl::Status started = start_spawned(spawn ? &*spawn : nullptr, fabric::tail_of<thread_spawn_message>(message.payload), false);
  if (!started.ok()) return started;
  return ::std::string();
}

// A thread_start this node could not run: the spawner hears why (its join or future reports it),
// and the closure is dropped here, by its refusal entry, so that what it owns is given back. A
// closure in the heap is read on a thread of its own (never on the progress thread).
void refuse_start(const fabric::incoming_message& message, const thread_spawn_message& spawn,
                  ::std::string_view bytes, const absl::Status& why) {
  const ::std::string reason(why.message());
  absl::Status told = cluster.transport->send(message.source, thread_not_started_message{spawn.serial}, reason);
  if (!told.ok()) {
    ::std::fprintf(stderr, "drust: node %d: cannot tell node %d that its thread could not start (%s): %s\n", cluster.node,
                   message.source, reason.c_str(), ::std::string(told.message()).c_str());
  }
  if (fabric::is_malformed_message(why)) return;  // its refusal entry cannot be trusted either
  const auto refusal = reinterpret_cast<detail::remote_refusal>(detail::code_at(spawn.refusal_offset));
  if ((spawn.flags & spawn_closure_in_heap) == 0) {
    refusal(bytes.data(), bytes.size(), reason.c_str());
    return;
  }
  try {
    ::std::thread([refusal, reason, block = spawn.closure_block, size = spawn.closure_size] {
      try {
        const ::std::string closure = unpark_bytes(block, size);
        refusal(closure.data(), closure.size(), reason.c_str());
      } catch (const ::std::exception& error) {
        ::std::fprintf(stderr, "drust: node %d: the closure of a thread that could not start is lost: %s\n",
                       cluster.node, error.what());
      }
    }).detach();
  } catch (const ::std::system_error& error) {
    ::std::fprintf(stderr, "drust: node %d: the closure of a thread that could not start is lost: %s\n", cluster.node,
                   error.what());
  }
}

void handle_start(const fabric::incoming_message& message) {
  auto start = fabric::decode<thread_start_message>(message.payload);
  if (!start) return cluster.transport->reject(message, "a thread_start message shorter than its header");
  const ::std::string_view bytes = fabric::tail_of<thread_start_message>(message.payload);
  absl::Status started = start_spawned(&start->spawn, bytes, true);
  if (started.ok()) return;
  if (fabric::is_malformed_message(started)) cluster.transport->reject(message, fabric::message_of(started));
  refuse_start(message, start->spawn, bytes, started);
}

void handle_not_started(const fabric::incoming_message& message) {
  auto refused = fabric::decode<thread_not_started_message>(message.payload);
  if (!refused) return cluster.transport->reject(message, "a thread_not_started message shorter than its header");
  ::std::shared_ptr<thread_record> record;
  {
    absl::MutexLock hold(&records_lock);
    auto found = records.find(refused->serial);
    if (found == records.end() || found->second->node != message.source) return;
    record = found->second;
  }
  settle_record(::std::move(record), refused->serial, thread_failed,
                ::std::string(fabric::tail_of<thread_not_started_message>(message.payload)), true);
}

// A jthread's request_stop on the spawning node. The stop source's callbacks are the user's code:
// they run on a thread of their own, not on the progress thread.
void handle_stop(const fabric::incoming_message& message) {
  auto stop = fabric::decode<thread_stop_message>(message.payload);
  if (!stop) return;
  ::std::stop_source source(::std::nostopstate);
  {
    absl::MutexLock hold(&stops_lock);
    auto found = stop_sources.find(stop->serial);
    if (found == stop_sources.end()) return;  // the thread has ended
    source = found->second;
  }
  ::std::thread([source]() mutable { source.request_stop(); }).detach();
}

void handle_done(const fabric::incoming_message& message) {
  if (auto done = fabric::decode<thread_done_message>(message.payload)) mark_finished(done->serial);
}

}  // namespace

const cluster_view& current_cluster() { return cluster; }

const char* why_not_a_heap_block(detail::global_word block, ::std::uint64_t size) {
  const heap::heap_layout layout{detail::local_heap_size, cluster.nodes};
  return layout.holds_block(detail::address_of(block), size) ? nullptr
                                                             : "it names a block outside this job's global heap";
}

detail::global_word park_bytes(::std::string_view bytes) {
  const detail::global_word block = detail::allocate(bytes.size(), alignof(::std::max_align_t));
  try {
    detail::write_object(block, bytes.data(), bytes.size());
  } catch (...) {
    detail::deallocate(block);
    throw;
  }
  return block;
}

::std::string unpark_bytes(detail::global_word block, ::std::size_t size) {
  ::std::string bytes(size, '\0');
  detail::read_object(block, bytes.data(), size);
  detail::deallocate(block);
  return bytes;
}

void install(const cluster_view& view) {
  cluster = view;
  running_by_origin = ::std::make_unique<::std::atomic<::std::uint64_t>[]>(static_cast<::std::size_t>(view.nodes));
  install_futures(view);
  if (view.transport != nullptr) {
    view.transport->on_request(thread_spawn_message::kind, handle_spawn);
    view.transport->on_message(thread_start_message::kind, handle_start);
    view.transport->on_message(thread_not_started_message::kind, handle_not_started);
    view.transport->on_message(thread_done_message::kind, handle_done);
    view.transport->on_message(thread_stop_message::kind, handle_stop);
  }
}

void fail_node(int node, const ::std::string& reason) {
  ::std::vector<::std::pair<detail::thread_serial, ::std::shared_ptr<thread_record>>> lost;
  {
    absl::MutexLock hold(&records_lock);
    for (const auto& [serial, record] : records) {
      if (record->node == node) lost.emplace_back(serial, record);
    }
  }
  for (auto& [serial, record] : lost) settle_record(::std::move(record), serial, thread_failed, reason);
}

void note_async_result(detail::thread_serial serial) {
  absl::MutexLock hold(&records_lock);
  auto found = records.find(serial);
  if (found == records.end()) return;
  if (found->second->state.load(::std::memory_order_relaxed) == thread_running) count_end(*found->second);
}

void refuse_thread_starts(int count) { starts_to_refuse.store(count); }

::std::uint64_t threads_started() { return started.load(); }
::std::uint64_t threads_running() { return running.load() + launching.load(); }

bool wait_for_async_threads(::std::chrono::milliseconds limit) {
  absl::MutexLock hold(&records_lock);
  // absl evaluates the condition with records_lock held.
  return records_lock.AwaitWithTimeout(absl::Condition(+[](::std::uint64_t* tails) { return *tails == 0; }, &async_tails),
                                       absl::FromChrono(limit));
}

::std::vector<::std::uint64_t> threads_running_by_origin() {
  ::std::vector<::std::uint64_t> counts(static_cast<::std::size_t>(running_by_origin ? cluster.nodes : 0));
  for (::std::size_t node = 0; node < counts.size(); ++node) counts[node] = running_by_origin[node].load();
  return counts;
}

}  // namespace drust::threads

namespace drust::detail {

using threads::cluster;

namespace {

void check_node(int node) {
  if (node < 0 || node >= cluster.nodes) {
    throw ::std::system_error(::std::make_error_code(::std::errc::invalid_argument),
                              "drust::on(" + ::std::to_string(node) + "): the job has " +
                                  ::std::to_string(cluster.nodes) + " node(s), numbered from 0");
  }
}

// A record for a new thread that will run on `node`.
::std::pair<thread_serial, ::std::shared_ptr<threads::thread_record>> new_record(int node, bool outcome_in_closure = false) {
  const thread_serial serial = threads::new_serial();
  auto record = ::std::make_shared<threads::thread_record>(node, outcome_in_closure);
  absl::MutexLock hold(&threads::records_lock);
  threads::records.emplace(serial, record);
  return {serial, ::std::move(record)};
}

void forget_record(thread_serial serial) {
  absl::MutexLock hold(&threads::records_lock);
  threads::records.erase(serial);
}

}  // namespace

bool runs_here(int node) {
  check_node(node);
  return node == cluster.node || cluster.transport == nullptr;
}

thread_serial launch_local(local_entry run, local_entry discard, void* object) {
  auto created = new_record(cluster.node);
  const thread_serial serial = created.first;
  threads::launching.fetch_add(1);
  try {
    ::std::thread([serial, record = ::std::move(created.second), run, object]() mutable {
      threads::run_thread(serial, ::std::move(record), [&] { run(object); });
    }).detach();
  } catch (...) {
    threads::launching.fetch_sub(1);
    forget_record(serial);
    discard(object);
    throw;
  }
  return serial;
}

thread_serial launch_remote(int node, remote_entry entry, remote_refusal refusal, ::std::string_view closure,
                            bool stop_token, bool outcome_in_closure) {
  check_node(node);
  const thread_serial serial = new_record(node, outcome_in_closure).first;
  threads::thread_spawn_message spawn{serial,
                                      code_offset(reinterpret_cast<code_pointer>(entry)),
                                      static_cast<::std::uint32_t>(closure.size()),
                                      stop_token ? threads::spawn_stop_token : 0,
                                      0,
                                      code_offset(reinterpret_cast<code_pointer>(refusal))};
  // A closure too big for one message waits in a block of the global heap, read and freed by the
  // new thread on its node.
  if (closure.size() > fabric::max_payload_bytes - sizeof spawn) {
    spawn.flags |= threads::spawn_closure_in_heap;
    try {
      spawn.closure_block = threads::park_bytes(closure);
    } catch (...) {
      forget_record(serial);
      throw;
    }
    closure = {};
  }
  // A jthread's stop request must find the thread's stop source on its node, so its spawn waits to
  // be accepted. Every other spawn goes without waiting: a spawner starting threads on several
  // nodes does not wait for each in turn (a node under a CPU quota may answer tens of ms late);
  // a refusal comes back as thread_not_started.
  const absl::Status sent = stop_token ? cluster.transport->call(node, spawn, closure).status()
                                       : cluster.transport->send(node, threads::thread_start_message{spawn}, closure);
  if (!sent.ok()) {
    if (spawn.closure_block != 0) deallocate(spawn.closure_block);
    forget_record(serial);
    throw ::std::system_error(::std::make_error_code(::std::errc::resource_unavailable_try_again),
                              "drust::std::thread: cannot start a thread on node " + ::std::to_string(node) +
                                  ": " + ::std::string(sent.message()));
  }
  threads::note_thread_sent(node);
  return serial;
}

void send_stop(int node, thread_serial serial) {
  if (cluster.transport == nullptr || node == cluster.node) return;
  (void)cluster.transport->send(node, threads::thread_stop_message{serial});
}

::std::stop_token current_stop_token() {
  return threads::current_stop != nullptr ? threads::current_stop->get_token() : ::std::stop_token();
}

void join_thread(thread_serial serial) {
  ::std::shared_ptr<threads::thread_record> record;
  {
    absl::MutexLock hold(&threads::records_lock);
    auto found = threads::records.find(serial);
    if (found == threads::records.end()) return;
    record = found->second;
  }
  record->state.wait(threads::thread_running, ::std::memory_order_acquire);
  ::std::string failure;
  bool refused = false;
  {
    absl::MutexLock hold(&threads::records_lock);
    if (record->state.load(::std::memory_order_relaxed) == threads::thread_failed) failure = record->failure;
    refused = record->refused;
    threads::records.erase(serial);
  }
  if (refused) {
    throw ::std::system_error(::std::make_error_code(::std::errc::resource_unavailable_try_again),
                              "drust::std::thread::join: the thread never ran: " + failure);
  }
  if (!failure.empty()) {
    throw ::std::system_error(::std::make_error_code(::std::errc::owner_dead),
                              "drust::std::thread::join: the node running the thread failed: " + failure);
  }
}

void detach_thread(thread_serial serial, bool async) {
  absl::MutexLock hold(&threads::records_lock);
  auto found = threads::records.find(serial);
  if (found == threads::records.end()) return;
  if (found->second->state.load(::std::memory_order_relaxed) != threads::thread_running) {
    const bool lost = found->second->refused && !found->second->outcome_in_closure;
    const ::std::string failure = found->second->failure;
    threads::records.erase(found);
    if (lost) threads::end_job_for_lost_thread(failure);
  } else {
    found->second->detached = true;
    if (async) {
      found->second->async_tail = true;
      ++threads::async_tails;
    }
  }
}

int default_thread_node() { return default_thread_node(nullptr, 0); }

thread_serial current_thread_serial() {
  if (threads::current_serial == 0) threads::current_serial = threads::new_serial();
  return threads::current_serial;
}

}  // namespace drust::detail

namespace drust::std {

unsigned int thread::hardware_concurrency() noexcept {
  return threads::cluster.total_cores != 0 ? threads::cluster.total_cores : ::std::thread::hardware_concurrency();
}

}  // namespace drust::std
