#include "runtime/node_runtime.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <drust/detail/heap.hpp>
#include <drust/detail/shared.hpp>
#include <drust/detail/sync.hpp>
#include <drust/runtime>

#include "control/frame.hpp"
#include "common/executable_image.hpp"
#include "sync/channel_service.hpp"
#include "sync/sync_service.hpp"
#include "thread/scheduler.hpp"
#include "thread/thread_service.hpp"

namespace drust::runtime {

using ::std::chrono::milliseconds;
using nlohmann::json;

namespace {

constexpr auto welcome_timeout = milliseconds(120000);
// A few reports a second: fresh enough for placement, cheap enough for an idle cluster.
constexpr auto load_report_interval = milliseconds(250);
// Once a frame's first byte is here, the rest follows at once; longer means the launcher is stuck.
constexpr auto frame_arrival_timeout = milliseconds(10000);

::std::string hex_of(::std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  ::std::string text;
  for (unsigned char c : bytes) {
    text += digits[c >> 4];
    text += digits[c & 15];
  }
  return text;
}

absl::StatusOr<::std::string> bytes_of(const ::std::string& hex) {
  if (hex.size() % 2 != 0) return absl::InvalidArgumentError("odd-length hex string");
  ::std::string bytes;
  for (::std::size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return absl::InvalidArgumentError("bad hex digit");
    bytes += static_cast<char>(high * 16 + low);
  }
  return bytes;
}

::std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// The `stats` frame: this node's counters, named as in drust::runtime_stats, for drun --stats.
json stats_message(const runtime_stats& stats) {
  return {
      {"type", "stats"},
      {"messages_sent", stats.messages_sent},
      {"messages_received", stats.messages_received},
      {"bytes_read", stats.bytes_read},
      {"bytes_written", stats.bytes_written},
      {"threads_started", stats.threads_started},
      {"cpu_seconds", stats.cpu_seconds},
      {"page_faults", stats.page_faults},
      {"progress_sleeps", stats.progress_sleeps},
      {"short_waits", stats.short_waits},
      {"long_waits", stats.long_waits},
      {"heap_used", stats.heap_used},
      {"heap_capacity", stats.heap_capacity},
      {"live_objects", stats.live_objects},
      {"allocations_by_node", stats.allocations_by_node},
      {"remote_frees", stats.remote_frees},
      {"remote_frees_received", stats.remote_frees_received},
      {"remote_reads", stats.remote_reads},
      {"remote_read_bytes", stats.remote_read_bytes},
      {"cache_hits", stats.cache_hits},
      {"cache_misses", stats.cache_misses},
      {"cache_evictions", stats.cache_evictions},
      {"cache_bytes", stats.cache_bytes},
      {"moves", stats.moves},
      {"move_bytes", stats.move_bytes},
      {"shared_acquire_messages", stats.shared_acquire_messages},
      {"shared_release_messages", stats.shared_release_messages},
      {"shared_objects_destroyed", stats.shared_objects_destroyed},
      {"shared_blocks_freed", stats.shared_blocks_freed},
      {"mutex_lease_locks", stats.mutex_lease_locks},
      {"mutex_leases_held", stats.mutex_leases_held},
      {"mutex_leases_granted", stats.mutex_leases_granted},
      {"mutex_lease_recalls", stats.mutex_lease_recalls},
  };
}

// The `load` frame: what the controller's scheduler and heap placement read, a few times a second.
json load_message(const runtime_stats& stats) {
  return {{"type", "load"},
          {"threads", threads::threads_running()},
          {"threads_by_origin", threads::threads_running_by_origin()},
          {"cpu_seconds", stats.cpu_seconds},
          {"heap_used", stats.heap_used},
          {"heap_capacity", stats.heap_capacity},
          {"cache_bytes", stats.cache_bytes}};
}

// User and system CPU time of this whole process (every thread), in seconds.
double process_cpu_seconds() {
  timespec now{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) != 0) return 0;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Page faults of this whole process so far, minor and major.
::std::uint64_t process_page_faults() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<::std::uint64_t>(usage.ru_minflt) + static_cast<::std::uint64_t>(usage.ru_majflt);
}

// True on the control thread while it applies the controller's `peer_failed`: that failure need
// not be reported back to drun, which announced it.
thread_local bool applying_peer_failed = false;

// Exits this node at once, saying why; used when the job can no longer go on.
[[noreturn]] void leave(int node, const ::std::string& why) {
  ::std::fprintf(stderr, "drust: node %d: %s\n", node, why.c_str());
  ::std::fflush(nullptr);
  ::_exit(1);
}

// A `load_table` frame ({"nodes": [{"node", "threads", "cores", "threads_by_origin"}, ...]}) to
// the scheduler, as `self` sees it: of each node's threads, those `self` started there; a
// malformed one is ignored (the next will do).
void receive_load_table(const json& message, int self) {
  auto nodes = message.find("nodes");
  if (nodes == message.end() || !nodes->is_array()) return;
  ::std::vector<threads::node_load> table;
  try {
    for (const json& entry : *nodes) {
      const int node = entry.at("node").get<int>();
      if (node < 0 || node >= static_cast<int>(nodes->size())) return;
      if (table.size() <= static_cast<::std::size_t>(node)) table.resize(static_cast<::std::size_t>(node) + 1);
      threads::node_load& load = table[static_cast<::std::size_t>(node)];
      load.threads = entry.at("threads").get<::std::uint64_t>();
      load.cores = entry.at("cores").get<::std::uint64_t>();
      const json& by_origin = entry.at("threads_by_origin");
      if (!by_origin.is_array()) return;
      if (self >= 0 && static_cast<::std::size_t>(self) < by_origin.size()) {
        load.started_by_reader = by_origin[static_cast<::std::size_t>(self)].get<::std::uint64_t>();
      }
    }
  } catch (const json::exception&) {
    return;
  }
  threads::receive_load_table(::std::move(table));
}

}  // namespace

node_runtime& node_runtime::instance() {
  static node_runtime* runtime = new node_runtime();  // never destroyed: threads may outlive main
  return *runtime;
}

absl::Status node_runtime::start(const node_config& config) {
  config_ = config;
  heap::heap_layout layout{config.partition_size, config.nodes};
  DRUST_ASSIGN_OR_RETURN(partition_, heap::partition::reserve(layout, config.node));
  // Advice only: without transparent huge pages the heap works the same on 4 KiB pages.
  if (config.huge_pages) (void)partition_.advise_huge_pages();
  heap::global_heap_options heap_options;
  heap_options.heap_size = config.heap_size;
  heap_options.pressure_threshold = config.heap_pressure;
  global_heap_ = ::std::make_unique<heap::global_heap>(partition_, config.node, heap_options);
  // With the read mirror (opened in bootstrap: only a job has other nodes), copies share the
  // cache's capacity: half for the read cache, half for the mirror's pages.
  const bool mirror = config.in_job && config.read_mirror;
  objects_ = ::std::make_unique<coherence::object_store>(*global_heap_, mirror ? config.cache_size / 2 : config.cache_size,
                                                         config.huge_pages);
  // A shared object's destructor is named in its control block by a code offset, the same in
  // every node's process.
  shared_references_ = ::std::make_unique<coherence::shared_references>(
      *global_heap_, config.node, [](::std::int64_t destroy_code, ::std::uint64_t object, bool in_block) {
        reinterpret_cast<detail::shared_destroy_function>(detail::code_at(destroy_code))(object, in_block);
      });
  detail::local_heap_begin = reinterpret_cast<::std::uint64_t>(partition_.begin());
  detail::local_heap_size = partition_.size();
  sync::sync_service::instance().start(config.node, config.mutex_leases);
  detail::sync_node = config.node;
  if (config.in_job) DRUST_RETURN_IF_ERROR(bootstrap());
  started_.store(true, ::std::memory_order_release);
  return absl::OkStatus();
}

absl::Status node_runtime::bootstrap() {
  fabric::transport_options options;
  options.endpoint.provider = config_.provider;
  options.endpoint.job = config_.job;
  options.endpoint.node = config_.node;
  options.endpoint.bind_host = config_.fabric_host;
  options.cookie = fabric::fold_cookie(config_.cookie);
  DRUST_ASSIGN_OR_RETURN(options.progress, fabric::progress_mode_from_environment());
  DRUST_ASSIGN_OR_RETURN(transport_, fabric::transport::open(options));
  // A failure this node sees for itself (a peer's process gone, an operation unanswered) goes to
  // drun at once, before the errors it causes can end a thread, or this node: drun names the
  // first cause, not a consequence of it (docs/RELIABILITY.md, "Chaos run").
  transport_->on_peer_failure([this](int peer, const ::std::string& reason) {
    if (applying_peer_failed || control_fd_ < 0 || finishing_.load(::std::memory_order_acquire)) return;
    (void)send_control({{"type", "peer_lost"}, {"node", peer}, {"reason", reason}});
  });
  DRUST_ASSIGN_OR_RETURN(fabric::memory_region region, transport_->expose(partition_.begin(), partition_.size()));

  DRUST_ASSIGN_OR_RETURN(auto controller, control::split_host_port(config_.controller));
  DRUST_ASSIGN_OR_RETURN(control_fd_, control::connect_tcp(controller.first, controller.second, milliseconds(10000)));
  DRUST_RETURN_IF_ERROR(send_control({
      {"type", "hello"},
      {"cookie", config_.cookie},
      {"node", config_.node},
      {"pid", ::getpid()},
      {"host", host_name()},
      {"cores", config_.cores},
      {"build_id", this_executable().build_id},
      {"fabric_address", hex_of(transport_->address())},
      {"partition_base", region.base},
      {"partition_key", region.key},
  }));

  DRUST_ASSIGN_OR_RETURN(json welcome, control::receive_frame(control_fd_, welcome_timeout));
  if (welcome.value("type", "") == "error") {
    return absl::PermissionDeniedError(welcome.value("message", "the controller refused this node"));
  }
  if (welcome.value("type", "") != "welcome" || !welcome.contains("nodes") || !welcome["nodes"].is_array() ||
      welcome["nodes"].size() != static_cast<::std::size_t>(config_.nodes)) {
    return absl::InvalidArgumentError("the controller's welcome message is malformed");
  }
  const ::std::string my_host = host_name();
  ::std::vector<fabric::peer_info> peers(static_cast<::std::size_t>(config_.nodes));
  unsigned total_cores = 0;
  ::std::vector<::std::uint64_t> cores(static_cast<::std::size_t>(config_.nodes), 1);
  try {
    for (const json& entry : welcome["nodes"]) {
      int id = entry.at("node").get<int>();
      if (id < 0 || id >= config_.nodes) return absl::InvalidArgumentError("welcome names a node out of range");
      fabric::peer_info& peer = peers[static_cast<::std::size_t>(id)];
      DRUST_ASSIGN_OR_RETURN(peer.address, bytes_of(entry.at("fabric_address").get<::std::string>()));
      peer.region.base = entry.at("partition_base").get<::std::uint64_t>();
      peer.region.key = entry.at("partition_key").get<::std::uint64_t>();
      peer.host = entry.value("host", ::std::string());
      peer.pid = entry.value("pid", 0);
      peer.same_host = peer.host == my_host;
      total_cores += static_cast<unsigned>(entry.value("cores", config_.cores));
      cores[static_cast<::std::size_t>(id)] = static_cast<::std::uint64_t>(entry.value("cores", config_.cores));
    }
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("the controller's welcome message is malformed: ", error.what()));
  }

  threads::install({transport_.get(), config_.node, config_.nodes, total_cores});
  threads::install_scheduler({config_.node, ::std::move(cores),
                              [heap = global_heap_.get(), pressure = config_.heap_pressure] {
                                return static_cast<double>(heap->bytes_in_use()) <
                                       pressure * static_cast<double>(heap->capacity());
                              },
                              [heap = global_heap_.get()](::std::uint64_t address) { return heap->home_of(address); }});
  global_heap_->attach(transport_.get());
  objects_->attach(transport_.get());
  if (config_.read_mirror) {
    if (transport_->reads_into_any_memory()) {
      DRUST_RETURN_IF_ERROR(objects_->open_mirror(partition_.layout(), config_.node, config_.cache_size - config_.cache_size / 2));
    } else {
      ::std::fprintf(stderr,
                     "drust: node %d: provider %s reads only into registered memory: no read mirror, and the read "
                     "cache has half of the cache size (DRUST_MIRROR=off gives it all)\n",
                     config_.node, config_.provider.c_str());
    }
  }
  shared_references_->attach(transport_.get());
  sync::sync_service::instance().attach(transport_.get());
  sync::channel_service::instance().attach(transport_.get(), config_.nodes);
  DRUST_RETURN_IF_ERROR(transport_->connect(::std::move(peers)));
  DRUST_RETURN_IF_ERROR(send_control({{"type", "ready"}}));
  DRUST_ASSIGN_OR_RETURN(json start, control::receive_frame(control_fd_, welcome_timeout));
  if (start.value("type", "") == "error") {
    return absl::AbortedError(start.value("message", "the controller ended the job"));
  }
  if (start.value("type", "") != "start") {
    return absl::InvalidArgumentError(absl::StrCat("expected 'start' from the controller, got '",
                                                   start.value("type", ""), "'"));
  }
  // Every peer has mapped our doorbell by now (they said ready): the name can go.
  transport_->forget_doorbell_name();
  control_thread_ = ::std::thread([this] { control_loop(); });
  return absl::OkStatus();
}

absl::Status node_runtime::send_control(const json& message) {
  absl::MutexLock hold(&control_send_lock_);
  return control::send_frame(control_fd_, message);
}

void node_runtime::control_loop() {
  using clock = ::std::chrono::steady_clock;
  clock::time_point next_report = clock::now() + load_report_interval;
  while (true) {
    // Wait for the first byte of a frame, not for the whole frame: a deadline that fell inside a
    // frame would drop its start and leave the connection out of step. Reports keep their pace
    // however often frames arrive.
    const auto wait = ::std::chrono::ceil<milliseconds>(next_report - clock::now());
    pollfd waiter{control_fd_, POLLIN, 0};
    const int ready = ::poll(&waiter, 1, static_cast<int>(::std::max(wait, milliseconds(0)).count()));
    if (finishing_.load(::std::memory_order_acquire)) return;
    if (ready < 0 && errno != EINTR) {
      leave(config_.node, absl::StrCat("cannot wait on drun's controller connection (", ::std::strerror(errno),
                                       "); exiting"));
    }
    if (ready > 0) {
      absl::StatusOr<json> message = control::receive_frame(control_fd_, frame_arrival_timeout);
      if (finishing_.load(::std::memory_order_acquire)) return;
      // The launcher is gone (or sent garbage): nothing can end this job cleanly any more.
      if (!message.ok()) {
        leave(config_.node, absl::StrCat("lost the connection to drun's controller (",
                                         ::std::string(message.status().message()), "); exiting"));
      }
      handle_control_message(*message);
    }
    if (clock::now() >= next_report) {
      (void)send_control(load_message(::drust::stats()));
      next_report = clock::now() + load_report_interval;
    }
  }
}

void node_runtime::handle_control_message(const json& message) {
  // Fields of the wrong type or out of range are ignored, with a line saying so: the controller
  // holds the cookie, but its frames are still checked before use.
  auto bad_field = [&](const char* type, const char* field) {
    ::std::fprintf(stderr, "drust: node %d: the controller's '%s' message has no valid '%s'; ignored\n", config_.node,
                   type, field);
  };
  auto node_field = [&](const char* name) -> ::std::optional<int> {
    ::std::optional<::std::int64_t> node = control::integer_field(message, name);
    if (!node || *node < 0 || *node >= config_.nodes) return ::std::nullopt;
    return static_cast<int>(*node);
  };
  const ::std::string type = control::string_field(message, "type").value_or("");
  if (type == "shutdown") {
    absl::MutexLock hold(&shutdown_lock_);
    shutdown_ = true;
  } else if (type == "peer_failed") {
    ::std::optional<int> node = node_field("node");
    if (!node) return bad_field("peer_failed", "node");
    ::std::string reason = control::string_field(message, "reason").value_or("it failed");
    applying_peer_failed = true;
    if (transport_) transport_->mark_peer_failed(*node, reason);
    applying_peer_failed = false;
    threads::fail_node(*node, reason);
    sync::sync_service::instance().fail_node(*node, reason);
    sync::channel_service::instance().fail_node(*node, reason);
  } else if (type == "load_table") {
    // The controller's view of every node's threads and cores, for threads placed by drust.
    receive_load_table(message, config_.node);
  } else if (type == "placement") {
    // The controller's advice: where this node's allocations go past the pressure threshold.
    ::std::optional<int> node = node_field("heap_node");
    if (!node) return bad_field("placement", "heap_node");
    global_heap_->set_preferred_node(*node);
  } else if (type == "error") {
    leave(config_.node, control::string_field(message, "message").value_or("the controller ended the job"));
  }
}

void node_runtime::serve_until_shutdown() {
  {
    absl::MutexLock hold(&shutdown_lock_);
    shutdown_lock_.Await(absl::Condition(&shutdown_));
  }
  finishing_.store(true, ::std::memory_order_release);
  // The controller keeps the counters for drun --stats; it waits for them only when asked to.
  (void)send_control(stats_message(::drust::stats()));
  shared_references_->stop();
  sync::sync_service::instance().stop(absl::StrCat("node ", config_.node, "'s part of the job is over"));
  sync::channel_service::instance().stop(absl::StrCat("node ", config_.node, "'s part of the job is over"));
  detail::heap_closed = true;
  global_heap_->stop();
  if (transport_) transport_->stop();
}

void node_runtime::finish(int status) {
  if (!config_.in_job || finishing_.exchange(true)) return;
  (void)send_control(stats_message(::drust::stats()));
  (void)send_control({{"type", "finish"}, {"status", status}});
  ::shutdown(control_fd_, SHUT_RDWR);
  if (control_thread_.joinable()) control_thread_.join();
  shared_references_->stop();
  sync::sync_service::instance().stop(absl::StrCat("node ", config_.node, "'s part of the job is over"));
  sync::channel_service::instance().stop(absl::StrCat("node ", config_.node, "'s part of the job is over"));
  detail::heap_closed = true;
  global_heap_->stop();
  if (transport_) transport_->stop();
}

}  // namespace drust::runtime

namespace drust {

int node_id() noexcept { return runtime::node_runtime::instance().config().node; }
int num_nodes() noexcept { return runtime::node_runtime::instance().config().nodes; }

runtime_stats stats() noexcept {
  runtime_stats result;
  if (fabric::transport* transport = runtime::node_runtime::instance().transport()) {
    const fabric::transport_counters& counters = transport->counters();
    result.messages_sent = counters.messages_sent.load();
    result.messages_received = counters.messages_received.load();
    result.bytes_read = counters.bytes_read.load();
    result.bytes_written = counters.bytes_written.load();
    result.progress_sleeps = counters.progress_sleeps.load();
    result.short_waits = transport->short_waits() + sync::channel_service::instance().short_waits();
    result.long_waits = transport->long_waits() + sync::channel_service::instance().long_waits();
  }
  result.threads_started = threads::threads_started();
  result.cpu_seconds = runtime::process_cpu_seconds();
  result.page_faults = runtime::process_page_faults();
  const heap::partition& partition = runtime::node_runtime::instance().partition();
  if (partition.reserved()) {
    result.heap_begin = reinterpret_cast<::std::uint64_t>(partition.begin());
    result.heap_bytes = partition.size();
  }
  runtime::node_runtime& node = runtime::node_runtime::instance();
  if (heap::global_heap* heap = node.global_heap()) {
    const heap::global_heap_counters& counters = heap->counters();
    result.heap_used = heap->bytes_in_use();
    result.heap_capacity = heap->capacity();
    result.live_objects = counters.live_blocks.load();
    for (const auto& count : counters.allocations_by_node) result.allocations_by_node.push_back(count.load());
    result.remote_frees = counters.remote_frees_sent.load();
    result.remote_frees_received = counters.remote_frees_received.load();
  }
  if (coherence::object_store* objects = node.objects()) {
    const coherence::object_store_counters& counters = objects->counters();
    const coherence::read_cache_stats cache = objects->cache().stats();
    result.remote_reads = counters.remote_reads.load();
    result.remote_read_bytes = counters.remote_read_bytes.load();
    result.cache_hits = cache.hits + objects->borrow_hits();
    result.cache_misses = cache.misses;
    result.cache_evictions = cache.evictions;
    result.cache_bytes = cache.bytes_cached;
    if (const coherence::mirror* mirror = objects->read_mirror()) {
      const coherence::mirror_stats mirrored = mirror->stats();
      result.cache_misses += mirrored.fills;
      result.cache_bytes += mirrored.bytes_backed;
    }
    result.moves = counters.moves.load();
    result.move_bytes = counters.move_bytes.load();
  }
  if (coherence::shared_references* shared = node.shared_references()) {
    const coherence::shared_reference_counters& counters = shared->counters();
    result.shared_acquire_messages = counters.acquire_messages.load();
    result.shared_release_messages = counters.release_messages.load();
    result.shared_messages_received = counters.messages_received.load();
    result.shared_objects_destroyed = counters.objects_destroyed.load();
    result.shared_blocks_freed = counters.blocks_freed.load();
    result.shared_references = shared->table_entries();
    result.shared_releases_pending = shared->pending();
  }
  const sync::sync_service& sync = sync::sync_service::instance();
  result.mutex_lease_locks = sync.leases().lease_locks();
  result.mutex_leases_held = sync.leases().held();
  result.mutex_leases_granted = sync.counters().leases_granted.load();
  result.mutex_lease_recalls = sync.counters().recalls_sent.load();
  return result;
}

}  // namespace drust
