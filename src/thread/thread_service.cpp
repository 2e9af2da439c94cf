#include "thread/thread_service.hpp"

#include <cxxabi.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <system_error>
#include <thread>

#include <drust/detail/launch.hpp>
#include <drust/std/thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/message_kinds.hpp"

namespace drust::threads {

namespace {

struct thread_spawn_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_spawn;
  detail::thread_serial serial;
  ::std::int64_t entry_offset;
  ::std::uint32_t closure_size;
  ::std::uint32_t closure_alignment;
};

struct thread_done_message {
  static constexpr fabric::message_kind kind = message_kinds::thread_done;
  detail::thread_serial serial;
};

struct thread_record {
  int node = 0;
  bool done = false;
  bool detached = false;
  ::std::string failure;  // the node running it failed
};

cluster_view cluster;
absl::Mutex records_lock;
absl::flat_hash_map<detail::thread_serial, thread_record> records ABSL_GUARDED_BY(records_lock);
::std::atomic<::std::uint64_t> next_serial{1};
::std::atomic<::std::uint64_t> started{0};
::std::atomic<::std::uint64_t> running{0};
thread_local detail::thread_serial current_serial = 0;

detail::thread_serial new_serial() {
  return (static_cast<detail::thread_serial>(cluster.node) << 48) | next_serial.fetch_add(1);
}

void mark_finished(detail::thread_serial serial) {
  absl::MutexLock hold(&records_lock);
  auto found = records.find(serial);
  if (found == records.end()) return;
  if (found->second.detached) {
    records.erase(found);
  } else {
    found->second.done = true;
  }
}

// Frees a closure buffer allocated with its alignment.
struct closure_deleter {
  ::std::size_t alignment;
  void operator()(::std::byte* bytes) const { ::operator delete[](bytes, ::std::align_val_t(alignment)); }
};
using closure_buffer = ::std::unique_ptr<::std::byte[], closure_deleter>;

closure_buffer copy_closure(const void* closure, ::std::size_t size, ::std::size_t alignment) {
  alignment = ::std::max(alignment, alignof(::std::max_align_t));
  closure_buffer buffer(static_cast<::std::byte*>(::operator new[](::std::max<::std::size_t>(size, 1), ::std::align_val_t(alignment))),
                        closure_deleter{alignment});
  ::std::memcpy(buffer.get(), closure, size);
  return buffer;
}

::std::string current_exception_type() {
  const ::std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "unknown";
  int status = 0;
  ::std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(type->name(), nullptr, nullptr, &status), ::std::free);
  return status == 0 && readable ? readable.get() : type->name();
}

// The body of every drust thread, local or remote.
void run_closure(detail::thread_serial serial, detail::closure_entry entry, closure_buffer closure) {
  current_serial = serial;
  started.fetch_add(1);
  running.fetch_add(1);
  try {
    entry(closure.get());
  } catch (...) {
    // As with std::thread, an exception leaving the thread ends the program, here the whole job:
    // this node terminates, and drun stops the others and names this node.
    ::std::fprintf(stderr, "drust: node %d: a thread started by node %d ended with an uncaught exception of type %s\n",
                   cluster.node, detail::origin_node(serial), current_exception_type().c_str());
    ::std::terminate();
  }
  closure.reset();
  running.fetch_sub(1);
  const int origin = detail::origin_node(serial);
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

void start_local(detail::thread_serial serial, detail::closure_entry entry, closure_buffer closure) {
  ::std::thread(run_closure, serial, entry, ::std::move(closure)).detach();
}

absl::StatusOr<::std::string> handle_spawn(const fabric::incoming_message& message) {
  auto spawn = fabric::decode<thread_spawn_message>(message.payload);
  ::std::string_view bytes = fabric::tail_of<thread_spawn_message>(message.payload);
  if (!spawn || bytes.size() != spawn->closure_size) {
    return absl::InvalidArgumentError("malformed thread_spawn message");
  }
  try {
    start_local(spawn->serial, reinterpret_cast<detail::closure_entry>(detail::code_at(spawn->entry_offset)),
                copy_closure(bytes.data(), bytes.size(), spawn->closure_alignment));
  } catch (const ::std::system_error& error) {
    return absl::ResourceExhaustedError(absl::StrCat("node ", cluster.node, " cannot start a thread: ", error.what()));
  }
  return ::std::string();
}

void handle_done(const fabric::incoming_message& message) {
  if (auto done = fabric::decode<thread_done_message>(message.payload)) mark_finished(done->serial);
}

}  // namespace

void install(const cluster_view& view) {
  cluster = view;
  if (view.transport != nullptr) {
    view.transport->on_request(thread_spawn_message::kind, handle_spawn);
    view.transport->on_message(thread_done_message::kind, handle_done);
  }
}

void fail_node(int node, const ::std::string& reason) {
  absl::MutexLock hold(&records_lock);
  for (auto& [serial, record] : records) {
    if (record.node == node && !record.done) record.failure = reason;
  }
}

::std::uint64_t threads_started() { return started.load(); }
::std::uint64_t threads_running() { return running.load(); }

}  // namespace drust::threads

namespace drust::detail {

using threads::cluster;

thread_serial launch_thread(int node, closure_entry entry, const void* closure, ::std::size_t size,
                            ::std::size_t alignment) {
  if (node < 0 || node >= cluster.nodes) {
    throw ::std::system_error(::std::make_error_code(::std::errc::invalid_argument),
                              "drust::on(" + ::std::to_string(node) + "): the job has " +
                                  ::std::to_string(cluster.nodes) + " node(s), numbered from 0");
  }
  const thread_serial serial = threads::new_serial();
  {
    absl::MutexLock hold(&threads::records_lock);
    threads::records[serial].node = node;
  }
  auto forget = [serial] {
    absl::MutexLock hold(&threads::records_lock);
    threads::records.erase(serial);
  };
  if (node == cluster.node || cluster.transport == nullptr) {
    try {
      threads::start_local(serial, entry, threads::copy_closure(closure, size, alignment));
    } catch (...) {
      forget();
      throw;
    }
    return serial;
  }
  const ::std::int64_t offset = code_offset(reinterpret_cast<code_pointer>(entry));
  threads::thread_spawn_message spawn{serial, offset, static_cast<::std::uint32_t>(size),
                                      static_cast<::std::uint32_t>(alignment)};
  absl::StatusOr<::std::string> accepted = cluster.transport->call(
      node, spawn, ::std::string_view(static_cast<const char*>(closure), size));
  if (!accepted.ok()) {
    forget();
    throw ::std::system_error(::std::make_error_code(::std::errc::resource_unavailable_try_again),
                              "drust::std::thread: cannot start a thread on node " + ::std::to_string(node) +
                                  ": " + ::std::string(accepted.status().message()));
  }
  return serial;
}

void join_thread(thread_serial serial) {
  ::std::string failure;
  {
    absl::MutexLock hold(&threads::records_lock);
    auto finished = [serial]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(threads::records_lock) {
      auto found = threads::records.find(serial);
      return found == threads::records.end() || found->second.done || !found->second.failure.empty();
    };
    threads::records_lock.Await(absl::Condition(&finished));
    auto found = threads::records.find(serial);
    if (found != threads::records.end()) {
      if (!found->second.done) failure = found->second.failure;
      threads::records.erase(found);
    }
  }
  if (!failure.empty()) {
    throw ::std::system_error(::std::make_error_code(::std::errc::owner_dead),
                              "drust::std::thread::join: the node running the thread failed: " + failure);
  }
}

void detach_thread(thread_serial serial) {
  absl::MutexLock hold(&threads::records_lock);
  auto found = threads::records.find(serial);
  if (found == threads::records.end()) return;
  if (found->second.done) {
    threads::records.erase(found);
  } else {
    found->second.detached = true;
  }
}

int default_thread_node() { return cluster.node; }

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
