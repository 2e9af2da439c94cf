// The controller: the job's meeting point, hosted inside drun.
//
// Every node connects to it over TCP and says hello with the job's cookie; when all N have, the
// controller checks they run the same executable, sends each the address table (welcome), and when
// all are ready, start. It then keeps the connections: nodes report their load, node 0 reports
// that main returned or that a peer is gone, and drun uses them to announce failures and the end of the job. After each
// load report it advises every node where to allocate once its own heap is under pressure
// (placement.hpp), and it keeps the counters each node sends as its part of the job ends (the
// `stats` frame, for drun --stats). The messages are in docs/design/bootstrap.md. Anything that connects without the cookie gets an error frame
// and is closed; the job does not notice.
//
// The controller runs on drun's event loop and never blocks it for long. What it decides that drun
// must act on (a node running a different executable, a node's connection gone) it reports through
// `observer`.
//
//   event_loop loop;
//   auto controller = controller::start(loop, {.cookie = cookie, .node_count = 2, .listen = {"127.0.0.1", 0}},
//                                       {.job_started = [] { ::std::puts("started"); }});
//   setenv("DRUST_CONTROLLER", (*controller)->address().c_str(), 1);   // then start the nodes
//   while (!(*controller)->started()) loop.run_once(::std::chrono::milliseconds(100));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_file.hpp"
#include "common/status.hpp"
#include "control/frame.hpp"
#include "event_loop.hpp"

namespace drust::launcher {

// What a node told the controller in its hello.
struct node_hello {
  int node = 0;
  pid_t pid = 0;
  ::std::string host;
  ::std::string build_id;
  nlohmann::json address_entry;  // the hello without type and cookie: node, host, pid, fabric_address, ...
};

// A node's latest `load` message.
struct load_report {
  int threads = 0;
  // Of those, the ones each node started there (index: node; shorter when the node sent fewer).
  ::std::vector<::std::uint64_t> threads_by_origin;
  double cpu_seconds = 0;  // the node's process CPU time so far (user and system)
  ::std::uint64_t heap_used = 0;
  ::std::uint64_t heap_capacity = 0;
  ::std::uint64_t cache_bytes = 0;  // bytes of cached copies of other nodes' objects
  ::std::chrono::steady_clock::time_point received;
};

class controller {
 public:
  struct settings {
    ::std::string cookie;
    int node_count = 1;
    controller_address listen{"127.0.0.1", 0};
    ::std::string advertised_host;  // the host nodes dial; listen.host when empty
    ::std::chrono::milliseconds hello_timeout{5'000};
    // Once the job has started, a node that sends nothing for this long is reported as silent
    // (hung, stopped, or cut off): nodes report their load every 250 ms (docs/design/bootstrap.md).
    // Zero: never.
    ::std::chrono::milliseconds silence_limit{10'000};
  };

  struct observer {
    // Every node said hello, but `node` reports a build id other than node 0's. Nothing is sent
    // to anyone: drun decides (it refuses the node and ends the job).
    ::std::function<void(int node, const ::std::string& build_id, const ::std::string& node0_build_id)>
        executables_differ;
    // Every node was ready and has been sent `start`.
    ::std::function<void()> job_started;
    // A node's control connection closed (usually because the node is exiting).
    ::std::function<void(int node)> node_disconnected;
    // A started node has sent nothing for `silent_for` (at least settings.silence_limit). Reported
    // once per node; drun decides (it ends the job).
    ::std::function<void(int node, ::std::chrono::milliseconds silent_for)> node_silent;
    // `reporter` saw `failed` go (its process gone, an operation unanswered) before drun said
    // anything of it: the `peer_lost` message. drun decides (it names the first cause).
    ::std::function<void(int reporter, int failed, const ::std::string& reason)> peer_lost;
    // Diagnostics for drun --verbose: refused connections, unexpected messages.
    ::std::function<void(const ::std::string& line)> log;
  };

  // Listens at settings.listen and serves on `loop`. The error names the address and the cause.
  static absl::StatusOr<::std::unique_ptr<controller>> start(event_loop& loop, settings config, observer events);

  controller(const controller&) = delete;
  controller& operator=(const controller&) = delete;
  ~controller();

  // "host:port" for DRUST_CONTROLLER.
  ::std::string address() const;
  ::std::uint16_t port() const { return port_; }

  bool said_hello(int node) const;
  bool connected(int node) const;
  bool started() const { return started_; }
  const node_hello* hello_of(int node) const;
  ::std::vector<int> nodes_without_hello() const;
  ::std::vector<int> nodes_not_ready() const;  // of those that said hello
  int strangers_refused() const { return strangers_refused_; }

  // For the scheduler: the latest load of each node, and the node with the fewest threads.
  ::std::optional<load_report> latest_load(int node) const;
  ::std::optional<int> least_loaded_node() const;
  // The `load_table` frame as it would be sent now: every node's threads (0 before its first
  // report) and cores (from its hello). Nodes place their threads from it (src/thread/scheduler.hpp).
  nlohmann::json load_table() const;
  // The status node 0 reported in `finish`, once it has.
  ::std::optional<int> finish_status() const { return finish_status_; }
  // The node last advised to `node` in a `placement` frame, if any.
  ::std::optional<int> placement_of(int node) const;
  // The counters `node` sent in its `stats` frame (without `type`), once it has.
  const nlohmann::json* stats_of(int node) const;
  // Whether a node that can still send its `stats` frame (its connection is open) has not yet.
  bool awaiting_stats() const;

  // Reads and handles what the nodes have sent and drun has not read yet, now: a node writes its
  // last messages (a peer_lost) before it exits, so drun reads them before acting on the exit.
  void read_pending();

  // Tells every connected node except `failed_node` that it is gone.
  void send_peer_failed(int failed_node, const ::std::string& reason);
  // Tells every connected node that the job ends. No placement advice is sent after it.
  void send_shutdown();
  // Sends `node` an error frame and closes its connection.
  void refuse(int node, const ::std::string& message);

 private:
  struct connection {
    int fd = -1;
    ::std::string peer;                  // "127.0.0.1:43122", for logs
    control::frame_reader reader;
    ::std::optional<int> node;           // set once it said a valid hello
    event_loop::timer_id hello_timer = 0;
  };
  struct node_slot {
    ::std::optional<node_hello> hello;
    int connection_fd = -1;              // -1 once closed
    bool ready = false;
    ::std::optional<load_report> load;
    ::std::optional<int> advised_heap_node;  // the last `placement` sent
    ::std::optional<nlohmann::json> stats;
    event_loop::clock::time_point last_heard{};  // when its last message arrived
    bool reported_silent = false;
  };

  controller(event_loop& loop, settings config, observer events, int listen_fd, ::std::uint16_t port);

  void accept_connections();
  void read_from(int fd);
  void handle_message(connection& from, const nlohmann::json& message);
  void handle_hello(connection& from, const nlohmann::json& message);
  void handle_joined_message(int node, const nlohmann::json& message);
  void after_every_hello();
  void advise_placement();
  void broadcast_load_table();
  // Reports the started nodes that have been silent past settings.silence_limit, then checks again.
  void watch_for_silence();
  void refuse_connection(int fd, const ::std::string& message);
  void close_connection(int fd);
  void send(int node, const nlohmann::json& message);
  void log(const ::std::string& line) const;

  event_loop& loop_;
  settings settings_;
  observer observer_;
  int listen_fd_ = -1;
  ::std::uint16_t port_ = 0;
  ::std::map<int, connection> connections_;
  ::std::vector<node_slot> nodes_;
  bool welcomed_ = false;
  bool started_ = false;
  bool ending_ = false;                  // shutdown or peer_failed was sent
  int strangers_refused_ = 0;
  ::std::optional<int> finish_status_;
  nlohmann::json announced_load_table_;  // the last `load_table` sent (null: none yet)
  event_loop::timer_id silence_timer_ = 0;
};

}  // namespace drust::launcher
