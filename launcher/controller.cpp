#include "controller.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "placement.hpp"

namespace drust::launcher {

namespace {

using nlohmann::json;

// Compares in time independent of where the strings differ, so a stranger cannot guess the cookie
// a digit at a time.
bool same_secret(const ::std::string& given, const ::std::string& expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (::std::size_t i = 0; i < given.size(); ++i) difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return difference == 0;
}

::std::string peer_name(int fd) {
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return "an unknown peer";
  ::std::array<char, INET6_ADDRSTRLEN> text{};
  if (peer.ss_family == AF_INET) {
    auto* address = reinterpret_cast<sockaddr_in*>(&peer);
    ::inet_ntop(AF_INET, &address->sin_addr, text.data(), text.size());
    return absl::StrCat(text.data(), ":", ntohs(address->sin_port));
  }
  auto* address = reinterpret_cast<sockaddr_in6*>(&peer);
  ::inet_ntop(AF_INET6, &address->sin6_addr, text.data(), text.size());
  return absl::StrCat("[", text.data(), "]:", ntohs(address->sin6_port));
}

// The message's `type`, or "" when it has none.
::std::string type_of(const json& message) {
  auto type = message.find("type");
  return type != message.end() && type->is_string() ? type->get<::std::string>() : "";
}

::std::optional<::std::int64_t> integer_field(const json& message, const char* name) {
  auto field = message.find(name);
  if (field == message.end() || !field->is_number_integer()) return ::std::nullopt;
  return field->get<::std::int64_t>();
}

// Any JSON number (a whole one too) as a double, or nullopt.
::std::optional<double> number_field(const json& message, const char* name) {
  auto field = message.find(name);
  if (field == message.end() || !field->is_number()) return ::std::nullopt;
  return field->get<double>();
}

// An array of at most `limit` counts (whole numbers, not negative); empty when it is missing or
// holds anything else.
::std::vector<::std::uint64_t> counts_field(const json& message, const char* name, int limit) {
  auto field = message.find(name);
  if (field == message.end() || !field->is_array() || field->size() > static_cast<::std::size_t>(limit)) return {};
  ::std::vector<::std::uint64_t> counts;
  for (const json& count : *field) {
    if (!count.is_number_unsigned()) return {};
    counts.push_back(count.get<::std::uint64_t>());
  }
  return counts;
}

::std::string string_field(const json& message, const char* name) {
  auto field = message.find(name);
  return field != message.end() && field->is_string() ? field->get<::std::string>() : "";
}

}  // namespace

absl::StatusOr<::std::unique_ptr<controller>> controller::start(event_loop& loop, settings config, observer events) {
  auto listening = control::listen_tcp(config.listen.host, config.listen.port);
  if (!listening.ok()) {
    return absl::UnavailableError(absl::StrCat("the controller cannot listen on ", config.listen.host, ":",
                                               config.listen.port, " (", listening.status().message(),
                                               "); give the cluster file a \"controller\" address of this machine "
                                               "with a free port"));
  }
  auto [fd, port] = *listening;
  // The accept loop runs until EAGAIN: a blocking listener would stall the whole event loop.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return ::std::unique_ptr<controller>(new controller(loop, ::std::move(config), ::std::move(events), fd, port));
}

controller::controller(event_loop& loop, settings config, observer events, int listen_fd, ::std::uint16_t port)
    : loop_(loop),
      settings_(::std::move(config)),
      observer_(::std::move(events)),
      listen_fd_(listen_fd),
      port_(port),
      nodes_(static_cast<::std::size_t>(settings_.node_count)) {
  loop_.watch(listen_fd_, [this] { accept_connections(); });
}

controller::~controller() {
  if (silence_timer_ != 0) loop_.cancel_timer(silence_timer_);
  while (!connections_.empty()) close_connection(connections_.begin()->first);
  loop_.unwatch(listen_fd_);
  ::close(listen_fd_);
}

::std::string controller::address() const {
  ::std::string host = settings_.advertised_host.empty() ? settings_.listen.host : settings_.advertised_host;
  if (host.find(':') != ::std::string::npos) host = absl::StrCat("[", host, "]");  // IPv6
  return absl::StrCat(host, ":", port_);
}

bool controller::said_hello(int node) const { return hello_of(node) != nullptr; }

bool controller::connected(int node) const {
  return node >= 0 && node < settings_.node_count && nodes_[static_cast<::std::size_t>(node)].connection_fd >= 0;
}

const node_hello* controller::hello_of(int node) const {
  if (node < 0 || node >= settings_.node_count) return nullptr;
  const auto& hello = nodes_[static_cast<::std::size_t>(node)].hello;
  return hello ? &*hello : nullptr;
}

::std::vector<int> controller::nodes_without_hello() const {
  ::std::vector<int> missing;
  for (int node = 0; node < settings_.node_count; ++node) {
    if (!said_hello(node)) missing.push_back(node);
  }
  return missing;
}

::std::vector<int> controller::nodes_not_ready() const {
  ::std::vector<int> waiting;
  for (int node = 0; node < settings_.node_count; ++node) {
    if (said_hello(node) && !nodes_[static_cast<::std::size_t>(node)].ready) waiting.push_back(node);
  }
  return waiting;
}

::std::optional<load_report> controller::latest_load(int node) const {
  if (node < 0 || node >= settings_.node_count) return ::std::nullopt;
  return nodes_[static_cast<::std::size_t>(node)].load;
}

::std::optional<int> controller::least_loaded_node() const {
  ::std::optional<int> best;
  for (int node = 0; node < settings_.node_count; ++node) {
    const auto& load = nodes_[static_cast<::std::size_t>(node)].load;
    if (!load || !connected(node)) continue;
    if (!best || load->threads < nodes_[static_cast<::std::size_t>(*best)].load->threads) best = node;
  }
  return best;
}

::std::optional<int> controller::placement_of(int node) const {
  if (node < 0 || node >= settings_.node_count) return ::std::nullopt;
  return nodes_[static_cast<::std::size_t>(node)].advised_heap_node;
}

const json* controller::stats_of(int node) const {
  if (node < 0 || node >= settings_.node_count) return nullptr;
  const auto& stats = nodes_[static_cast<::std::size_t>(node)].stats;
  return stats ? &*stats : nullptr;
}

bool controller::awaiting_stats() const {
  for (int node = 0; node < settings_.node_count; ++node) {
    if (connected(node) && !nodes_[static_cast<::std::size_t>(node)].stats) return true;
  }
  return false;
}

void controller::read_pending() {
  ::std::vector<int> fds;
  for (const auto& [fd, joined] : connections_) fds.push_back(fd);
  for (int fd : fds) read_from(fd);  // reads until EAGAIN; a connection closed meanwhile is skipped
}

void controller::send_peer_failed(int failed_node, const ::std::string& reason) {
  ending_ = true;
  json message = {{"type", "peer_failed"}, {"node", failed_node}, {"reason", reason}};
  for (int node = 0; node < settings_.node_count; ++node) {
    if (node != failed_node) send(node, message);
  }
}

void controller::send_shutdown() {
  ending_ = true;
  for (int node = 0; node < settings_.node_count; ++node) send(node, {{"type", "shutdown"}});
}

void controller::refuse(int node, const ::std::string& message) {
  if (!connected(node)) return;
  refuse_connection(nodes_[static_cast<::std::size_t>(node)].connection_fd, message);
}

void controller::accept_connections() {
  while (true) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: no more; other errors (EMFILE...) leave the listener for the next round
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connection& joining = connections_[fd];
    joining.fd = fd;
    joining.peer = peer_name(fd);
    joining.hello_timer = loop_.add_timer(settings_.hello_timeout, [this, fd] {
      if (auto late = connections_.find(fd); late != connections_.end()) late->second.hello_timer = 0;
      refuse_connection(fd, absl::StrCat("no hello with the job's cookie within ", settings_.hello_timeout.count(),
                                         " ms; drust nodes are started by drun"));
    });
    loop_.watch(fd, [this, fd] { read_from(fd); });
  }
}

void controller::read_from(int fd) {
  auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  connection& from = found->second;

  ::std::array<char, 64 * 1024> buffer;
  bool closed = false;
  while (true) {
    ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got > 0) {
      from.reader.feed(buffer.data(), static_cast<::std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    closed = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    break;
  }

  // Handle every complete frame; handling may close this connection.
  while (connections_.count(fd) != 0) {
    auto frame = from.reader.next();
    if (!frame.ok()) {
      if (from.node) {
        log(absl::StrCat("node ", *from.node, " sent a bad control frame (", frame.status().message(),
                         "); closing its connection"));
        close_connection(fd);
      } else {
        refuse_connection(fd, absl::StrCat("bad control frame: ", frame.status().message()));
      }
      return;
    }
    if (!frame->has_value()) break;
    handle_message(from, **frame);
  }
  if (closed && connections_.count(fd) != 0) close_connection(fd);
}

void controller::handle_message(connection& from, const json& message) {
  if (!from.node) {
    handle_hello(from, message);
    return;
  }
  handle_joined_message(*from.node, message);
}

void controller::handle_hello(connection& from, const json& message) {
  if (type_of(message) != "hello" || !same_secret(string_field(message, "cookie"), settings_.cookie)) {
    ++strangers_refused_;
    log(absl::StrCat("refused a connection from ", from.peer, ": its first message was not a hello with the job's cookie"));
    refuse_connection(from.fd, "the first message must be a hello with this job's cookie; drust nodes are started by "
                               "drun, which gives them DRUST_COOKIE");
    return;
  }
  auto node = integer_field(message, "node");
  if (!node || *node < 0 || *node >= settings_.node_count) {
    refuse_connection(from.fd, absl::StrCat("hello names node ", message.contains("node") ? message["node"].dump() : "(none)",
                                            ", but this job has nodes 0 to ", settings_.node_count - 1));
    return;
  }
  node_slot& slot = nodes_[static_cast<::std::size_t>(*node)];
  if (slot.hello) {
    refuse_connection(from.fd, absl::StrCat("node ", *node, " has already joined this job"));
    return;
  }

  node_hello hello;
  hello.node = static_cast<int>(*node);
  hello.pid = static_cast<pid_t>(integer_field(message, "pid").value_or(0));
  hello.host = string_field(message, "host");
  hello.build_id = string_field(message, "build_id");
  // The address table passes on what each node said about itself (fabric_address, partition_base,
  // partition_key, and whatever the runtime adds later, such as cores), but never the cookie.
  hello.address_entry = message;
  hello.address_entry.erase("type");
  hello.address_entry.erase("cookie");
  hello.address_entry["node"] = hello.node;
  slot.hello = ::std::move(hello);
  slot.connection_fd = from.fd;
  from.node = static_cast<int>(*node);
  if (from.hello_timer != 0) loop_.cancel_timer(from.hello_timer);
  from.hello_timer = 0;
  log(absl::StrCat("node ", *node, " (pid ", slot.hello->pid, ") said hello from ", from.peer));

  if (nodes_without_hello().empty()) after_every_hello();
}

void controller::after_every_hello() {
  const ::std::string& expected = nodes_[0].hello->build_id;
  for (int node = 1; node < settings_.node_count; ++node) {
    const ::std::string& build_id = nodes_[static_cast<::std::size_t>(node)].hello->build_id;
    if (build_id != expected) {
      if (observer_.executables_differ) observer_.executables_differ(node, build_id, expected);
      return;
    }
  }
  json table = json::array();
  for (const node_slot& slot : nodes_) table.push_back(slot.hello->address_entry);
  json welcome = {{"type", "welcome"}, {"nodes", table}};
  for (int node = 0; node < settings_.node_count; ++node) send(node, welcome);
  welcomed_ = true;
}

void controller::watch_for_silence() {
  silence_timer_ = 0;
  if (settings_.silence_limit.count() <= 0 || ending_) return;
  const auto now = event_loop::clock::now();
  for (int node = 0; node < settings_.node_count; ++node) {
    node_slot& slot = nodes_[static_cast<::std::size_t>(node)];
    if (slot.connection_fd < 0 || slot.reported_silent) continue;
    const auto silent_for = ::std::chrono::duration_cast<::std::chrono::milliseconds>(now - slot.last_heard);
    if (silent_for < settings_.silence_limit) continue;
    slot.reported_silent = true;
    log(absl::StrCat("node ", node, " has sent nothing for ", silent_for.count(), " ms"));
    if (observer_.node_silent) observer_.node_silent(node, silent_for);
    if (ending_) return;
  }
  // A few checks per limit: a silent node is reported at most a quarter of the limit late.
  const auto period = ::std::max(::std::chrono::milliseconds(10), settings_.silence_limit / 4);
  silence_timer_ = loop_.add_timer(period, [this] { watch_for_silence(); });
}

void controller::handle_joined_message(int node, const json& message) {
  node_slot& slot = nodes_[static_cast<::std::size_t>(node)];
  slot.last_heard = event_loop::clock::now();
  ::std::string type = type_of(message);
  if (type == "ready") {
    if (!welcomed_) {
      log(absl::StrCat("node ", node, " said ready before the address table was sent; ignored"));
      return;
    }
    slot.ready = true;
    if (!started_ && nodes_not_ready().empty()) {
      for (int each = 0; each < settings_.node_count; ++each) send(each, {{"type", "start"}});
      started_ = true;
      // Silence counts from the start: a node's load reports begin with it.
      for (node_slot& each : nodes_) each.last_heard = event_loop::clock::now();
      watch_for_silence();
      if (observer_.job_started) observer_.job_started();
    }
  } else if (type == "load") {
    slot.load = load_report{static_cast<int>(integer_field(message, "threads").value_or(0)),
                            counts_field(message, "threads_by_origin", settings_.node_count),
                            number_field(message, "cpu_seconds").value_or(0),
                            static_cast<::std::uint64_t>(integer_field(message, "heap_used").value_or(0)),
                            static_cast<::std::uint64_t>(integer_field(message, "heap_capacity").value_or(0)),
                            static_cast<::std::uint64_t>(integer_field(message, "cache_bytes").value_or(0)),
                            ::std::chrono::steady_clock::now()};
    advise_placement();
    // Only a change of threads (or cores) is news to the nodes: CPU time moves on every report.
    broadcast_load_table();
  } else if (type == "finish") {
    if (node == 0) finish_status_ = static_cast<int>(integer_field(message, "status").value_or(0));
  } else if (type == "peer_lost") {
    auto failed = integer_field(message, "node");
    if (!failed || *failed < 0 || *failed >= settings_.node_count || *failed == node) {
      log(absl::StrCat("node ", node, " sent a peer_lost message without a valid other node; ignored"));
      return;
    }
    ::std::string reason = string_field(message, "reason");
    if (observer_.peer_lost) observer_.peer_lost(node, static_cast<int>(*failed), reason.empty() ? "it failed" : reason);
  } else if (type == "stats") {
    slot.stats = message;
    slot.stats->erase("type");
  } else {
    log(absl::StrCat("node ", node, " sent an unexpected message of type \"", type, "\"; ignored"));
  }
}

void controller::advise_placement() {
  if (!started_ || ending_) return;
  ::std::vector<::std::optional<heap_report>> heaps(nodes_.size());
  for (int node = 0; node < settings_.node_count; ++node) {
    const auto& load = nodes_[static_cast<::std::size_t>(node)].load;
    if (load && connected(node)) heaps[static_cast<::std::size_t>(node)] = heap_report{load->heap_used, load->heap_capacity};
  }
  ::std::vector<::std::optional<int>> advice = placement_advice(heaps);
  for (int node = 0; node < settings_.node_count; ++node) {
    node_slot& slot = nodes_[static_cast<::std::size_t>(node)];
    const ::std::optional<int>& heap_node = advice[static_cast<::std::size_t>(node)];
    if (!heap_node || !connected(node) || slot.advised_heap_node == heap_node) continue;
    send(node, {{"type", "placement"}, {"heap_node", *heap_node}});
    slot.advised_heap_node = heap_node;
    log(absl::StrCat("placement: node ", node, " allocates on node ", *heap_node, " past its heap pressure"));
  }
}

json controller::load_table() const {
  json nodes = json::array();
  for (int node = 0; node < settings_.node_count; ++node) {
    const node_slot& slot = nodes_[static_cast<::std::size_t>(node)];
    ::std::int64_t cores = 1;
    if (slot.hello) cores = integer_field(slot.hello->address_entry, "cores").value_or(1);
    ::std::vector<::std::uint64_t> by_origin(static_cast<::std::size_t>(settings_.node_count), 0);
    if (slot.load) ::std::copy(slot.load->threads_by_origin.begin(), slot.load->threads_by_origin.end(), by_origin.begin());
    nodes.push_back({{"node", node},
                     {"threads", slot.load ? slot.load->threads : 0},
                     {"cores", cores},
                     {"threads_by_origin", ::std::move(by_origin)}});
  }
  return {{"type", "load_table"}, {"nodes", ::std::move(nodes)}};
}

void controller::broadcast_load_table() {
  if (!started_ || ending_) return;
  json table = load_table();
  // Nodes start from every node idle: a table that says so need not be sent.
  if (announced_load_table_.is_null()) {
    json idle = table;
    for (json& entry : idle["nodes"]) {
      entry["threads"] = 0;
      for (json& count : entry["threads_by_origin"]) count = 0;
    }
    announced_load_table_ = ::std::move(idle);
  }
  if (table == announced_load_table_) return;
  for (int node = 0; node < settings_.node_count; ++node) send(node, table);
  announced_load_table_ = ::std::move(table);
}

void controller::refuse_connection(int fd, const ::std::string& message) {
  auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  (void)control::send_frame(fd, {{"type", "error"}, {"message", message}});
  close_connection(fd);
}

void controller::close_connection(int fd) {
  auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  ::std::optional<int> node = found->second.node;
  if (found->second.hello_timer != 0) loop_.cancel_timer(found->second.hello_timer);
  loop_.unwatch(fd);
  ::close(fd);
  connections_.erase(found);
  if (node) {
    nodes_[static_cast<::std::size_t>(*node)].connection_fd = -1;
    if (observer_.node_disconnected) observer_.node_disconnected(*node);
  }
}

void controller::send(int node, const json& message) {
  if (!connected(node)) return;
  int fd = nodes_[static_cast<::std::size_t>(node)].connection_fd;
  if (auto sent = control::send_frame(fd, message); !sent.ok()) {
    log(absl::StrCat("cannot send ", type_of(message), " to node ", node, ": ", sent.message()));
  }
}

void controller::log(const ::std::string& line) const {
  if (observer_.log) observer_.log(line);
}

}  // namespace drust::launcher
