// The controller driven in-process: raw sockets play the nodes and strangers, the test pumps the
// event loop. Covers the bootstrap handshake, refusals and the reports nodes send later; and the
// pure parts beside it: placement advice and the drun --stats table.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "control/frame.hpp"
#include "controller.hpp"
#include "event_loop.hpp"
#include "placement.hpp"
#include "stats_table.hpp"

namespace launcher = drust::launcher;
namespace control = drust::control;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string cookie = "0123456789abcdef0123456789abcdef";

struct test_controller {
  launcher::event_loop loop;
  std::unique_ptr<launcher::controller> controller;
  std::vector<std::tuple<int, std::string, std::string>> differing;
  int started_calls = 0;
  std::vector<int> disconnected;

  std::vector<std::pair<int, std::chrono::milliseconds>> silent;

  explicit test_controller(int nodes, std::chrono::milliseconds hello_timeout = 5s,
                           std::chrono::milliseconds silence_limit = 10s) {
    launcher::controller::settings settings;
    settings.cookie = cookie;
    settings.node_count = nodes;
    settings.hello_timeout = hello_timeout;
    settings.silence_limit = silence_limit;
    launcher::controller::observer events;
    events.executables_differ = [this](int node, const std::string& id, const std::string& id0) {
      differing.emplace_back(node, id, id0);
    };
    events.job_started = [this] { ++started_calls; };
    events.node_disconnected = [this](int node) { disconnected.push_back(node); };
    events.node_silent = [this](int node, std::chrono::milliseconds silent_for) { silent.emplace_back(node, silent_for); };
    auto started = launcher::controller::start(loop, settings, events);
    REQUIRE(started.ok());
    controller = std::move(*started);
  }

  // The controller reports the connections it closes as it goes: before the vectors it reports to.
  ~test_controller() { controller.reset(); }

  // Runs the loop until `done` or 5 s.
  bool pump_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop.run_once(10ms);
    }
    return true;
  }

  void pump_a_little() {
    for (int i = 0; i < 5; ++i) loop.run_once(5ms);
  }

  int connect() {
    auto fd = control::connect_tcp("127.0.0.1", controller->port(), 2s);
    REQUIRE(fd.ok());
    return *fd;
  }
};

json hello(int node, const std::string& build_id = "build-a", const std::string& with_cookie = cookie) {
  return {{"type", "hello"},          {"cookie", with_cookie},  {"node", node},
          {"pid", 1000 + node},       {"host", "localhost"},    {"build_id", build_id},
          {"fabric_address", "abcd"}, {"partition_base", 4096}, {"partition_key", 7},
          {"cores", 2}};
}

// The next frame, pumping the loop while waiting for it.
json receive(test_controller& test, int fd) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    test.pump_a_little();
    auto message = control::receive_frame(fd, 10ms);
    if (message.ok()) return *message;
    if (!absl::IsDeadlineExceeded(message.status())) return json{{"closed", std::string(message.status().message())}};
  }
  return json{{"timeout", true}};
}

bool closed_by_controller(test_controller& test, int fd) {
  json next = receive(test, fd);
  return next.contains("closed");
}

}  // namespace

TEST_CASE("nodes that say hello get the address table, and start once all are ready") {
  test_controller test(2);
  int node1 = test.connect();
  int node0 = test.connect();
  REQUIRE(control::send_frame(node1, hello(1)).ok());
  REQUIRE(control::send_frame(node0, hello(0)).ok());

  for (int fd : {node0, node1}) {
    json welcome = receive(test, fd);
    CHECK(welcome["type"] == "welcome");
    REQUIRE(welcome["nodes"].size() == 2);
    for (int id = 0; id < 2; ++id) {
      const json& entry = welcome["nodes"][static_cast<std::size_t>(id)];
      CHECK(entry["node"] == id);  // sorted by id, whoever said hello first
      CHECK(entry["pid"] == 1000 + id);
      CHECK(entry["host"] == "localhost");
      CHECK(entry["fabric_address"] == "abcd");
      CHECK(entry["partition_base"] == 4096);
      CHECK(entry["partition_key"] == 7);
      CHECK(entry["cores"] == 2);
      CHECK_FALSE(entry.contains("cookie"));
    }
  }
  CHECK(test.controller->said_hello(0));
  CHECK(test.controller->nodes_without_hello().empty());
  CHECK(test.controller->nodes_not_ready() == std::vector<int>{0, 1});

  REQUIRE(control::send_frame(node0, {{"type", "ready"}}).ok());
  test.pump_a_little();
  CHECK_FALSE(test.controller->started());
  REQUIRE(control::send_frame(node1, {{"type", "ready"}}).ok());
  CHECK(receive(test, node0)["type"] == "start");
  CHECK(receive(test, node1)["type"] == "start");
  CHECK(test.controller->started());
  CHECK(test.started_calls == 1);

  SUBCASE("load reports and finish are kept") {
    REQUIRE(control::send_frame(node1, {{"type", "load"},
                                        {"threads", 3},
                                        {"cpu_seconds", 1.25},
                                        {"heap_used", 4096},
                                        {"cache_bytes", 512}})
                .ok());
    REQUIRE(control::send_frame(node0, {{"type", "load"}, {"threads", 1}, {"heap_used", 0}}).ok());
    REQUIRE(test.pump_until([&] { return test.controller->latest_load(0).has_value(); }));
    REQUIRE(test.pump_until([&] { return test.controller->latest_load(1).has_value(); }));
    CHECK(test.controller->latest_load(1)->threads == 3);
    CHECK(test.controller->latest_load(1)->heap_used == 4096);
    CHECK(test.controller->latest_load(1)->cpu_seconds == doctest::Approx(1.25));
    CHECK(test.controller->latest_load(1)->cache_bytes == 512);
    CHECK(test.controller->latest_load(0)->cpu_seconds == 0);  // an older node's report has none
    CHECK(test.controller->least_loaded_node() == 0);
    REQUIRE(control::send_frame(node1, {{"type", "load"}, {"threads", 0}, {"heap_used", 0}}).ok());
    REQUIRE(test.pump_until([&] { return test.controller->latest_load(1)->threads == 0; }));
    CHECK(test.controller->least_loaded_node() == 1);
    REQUIRE(control::send_frame(node0, {{"type", "load"}, {"threads", 0}, {"heap_used", 0}}).ok());
    REQUIRE(test.pump_until([&] { return test.controller->latest_load(0)->threads == 0; }));
    CHECK(test.controller->least_loaded_node() == 0);  // ties go to the lower id

    REQUIRE(control::send_frame(node0, {{"type", "finish"}, {"status", 3}}).ok());
    REQUIRE(test.pump_until([&] { return test.controller->finish_status().has_value(); }));
    CHECK(*test.controller->finish_status() == 3);
  }

  SUBCASE("shutdown and peer_failed reach the connected nodes") {
    test.controller->send_peer_failed(1, "was killed by SIGKILL");
    json failed = receive(test, node0);
    CHECK(failed["type"] == "peer_failed");
    CHECK(failed["node"] == 1);
    CHECK(failed["reason"] == "was killed by SIGKILL");
    test.controller->send_shutdown();
    CHECK(receive(test, node0)["type"] == "shutdown");
    CHECK(receive(test, node1)["type"] == "shutdown");
  }

  SUBCASE("a node whose connection closes is reported") {
    ::close(node1);
    node1 = -1;
    REQUIRE(test.pump_until([&] { return !test.disconnected.empty(); }));
    CHECK(test.disconnected == std::vector<int>{1});
    CHECK_FALSE(test.controller->connected(1));
  }

  ::close(node0);
  if (node1 >= 0) ::close(node1);
}

TEST_CASE("a connection without the cookie gets an error frame and is closed; the job goes on") {
  test_controller test(1);
  int stranger = test.connect();
  REQUIRE(control::send_frame(stranger, hello(0, "build-a", "ffffffffffffffffffffffffffffffff")).ok());
  json refusal = receive(test, stranger);
  CHECK(refusal["type"] == "error");
  CHECK(refusal["message"].get<std::string>().find("cookie") != std::string::npos);
  CHECK(closed_by_controller(test, stranger));
  CHECK(test.controller->strangers_refused() == 1);
  ::close(stranger);

  int not_hello = test.connect();
  REQUIRE(control::send_frame(not_hello, {{"type", "ready"}, {"cookie", cookie}}).ok());
  CHECK(receive(test, not_hello)["type"] == "error");
  CHECK(closed_by_controller(test, not_hello));
  ::close(not_hello);

  int node0 = test.connect();
  REQUIRE(control::send_frame(node0, hello(0)).ok());
  CHECK(receive(test, node0)["type"] == "welcome");
  ::close(node0);
}

TEST_CASE("a connection that says nothing is refused after the hello timeout") {
  test_controller test(1, 200ms);
  int quiet = test.connect();
  auto started = std::chrono::steady_clock::now();
  json refusal = receive(test, quiet);
  CHECK(refusal["type"] == "error");
  CHECK(std::chrono::steady_clock::now() - started >= 150ms);
  CHECK(closed_by_controller(test, quiet));
  ::close(quiet);
}

TEST_CASE("garbage instead of a frame is refused") {
  test_controller test(1);
  int garbage = test.connect();
  REQUIRE(control::write_all(garbage, std::string("\x7f\xff\xff\xff", 4)).ok());  // a 2 GiB frame
  CHECK(receive(test, garbage)["type"] == "error");
  CHECK(closed_by_controller(test, garbage));
  ::close(garbage);
}

TEST_CASE("a node id out of range, or one already taken, is refused") {
  test_controller test(2);
  int out_of_range = test.connect();
  REQUIRE(control::send_frame(out_of_range, hello(2)).ok());
  json refusal = receive(test, out_of_range);
  CHECK(refusal["type"] == "error");
  CHECK(refusal["message"].get<std::string>().find("nodes 0 to 1") != std::string::npos);
  ::close(out_of_range);

  int first = test.connect();
  REQUIRE(control::send_frame(first, hello(1)).ok());
  REQUIRE(test.pump_until([&] { return test.controller->said_hello(1); }));
  int second = test.connect();
  REQUIRE(control::send_frame(second, hello(1)).ok());
  json duplicate = receive(test, second);
  CHECK(duplicate["type"] == "error");
  CHECK(duplicate["message"].get<std::string>().find("already joined") != std::string::npos);
  CHECK(test.controller->connected(1));  // the first one keeps its place
  ::close(first);
  ::close(second);
}

TEST_CASE("different build ids are reported, and nobody is welcomed") {
  test_controller test(3);
  std::vector<int> fds;
  for (int node = 0; node < 3; ++node) {
    fds.push_back(test.connect());
    REQUIRE(control::send_frame(fds.back(), hello(node, node == 2 ? "build-b" : "build-a")).ok());
  }
  REQUIRE(test.pump_until([&] { return !test.differing.empty(); }));
  CHECK(test.differing.front() == std::tuple<int, std::string, std::string>{2, "build-b", "build-a"});
  CHECK(control::receive_frame(fds[0], 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);

  test.controller->refuse(2, "node 2 runs a different executable");
  json refusal = receive(test, fds[2]);
  CHECK(refusal["type"] == "error");
  CHECK(refusal["message"] == "node 2 runs a different executable");
  CHECK(closed_by_controller(test, fds[2]));
  for (int fd : fds) ::close(fd);
}

TEST_CASE("placement advice: the node with the most free heap other than itself, ties to the lowest id") {
  using launcher::heap_report;
  using launcher::placement_advice;
  using advice = std::vector<std::optional<int>>;
  CHECK(placement_advice({}).empty());
  CHECK(placement_advice({std::nullopt, std::nullopt}) == advice{std::nullopt, std::nullopt});
  // Only one node has reported: it is everyone else's advice; it gets none (not itself).
  CHECK(placement_advice({std::nullopt, heap_report{10, 100}, std::nullopt}) == advice{1, std::nullopt, 1});
  CHECK(placement_advice({heap_report{0, 100}}) == advice{std::nullopt});
  // Free heap 40, 90, 70: node 1 is the best for the others, node 2 the best for node 1.
  CHECK(placement_advice({heap_report{60, 100}, heap_report{10, 100}, heap_report{30, 100}}) == advice{1, 2, 1});
  // Free is capacity - used: a larger partition can have more room while using more.
  CHECK(placement_advice({heap_report{50, 100}, heap_report{100, 400}}) == advice{1, 0});
  // Ties go to the lower id, for the best and for the best after it.
  CHECK(placement_advice({heap_report{0, 100}, heap_report{0, 100}, heap_report{0, 100}}) == advice{1, 0, 0});
  CHECK(placement_advice({heap_report{50, 100}, heap_report{0, 100}, heap_report{50, 100}, heap_report{0, 100}}) ==
        advice{1, 3, 1, 1});
  // A node without a report is advised, never chosen; used beyond capacity counts as full.
  CHECK(placement_advice({heap_report{200, 100}, std::nullopt, heap_report{99, 100}}) == advice{2, 2, 0});
}

TEST_CASE("after each load report every node is advised where to allocate, and only again when that changes") {
  test_controller test(3);
  std::vector<int> fds;
  for (int node = 0; node < 3; ++node) {
    fds.push_back(test.connect());
    REQUIRE(control::send_frame(fds.back(), hello(node)).ok());
  }
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "welcome");
  for (int fd : fds) REQUIRE(control::send_frame(fd, {{"type", "ready"}}).ok());
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "start");

  auto load = [](std::uint64_t used, std::uint64_t capacity) {
    return json{{"type", "load"}, {"threads", 0}, {"heap_used", used}, {"heap_capacity", capacity}};
  };
  // Node 0 alone has reported: the others are told node 0 (the only node known to have room);
  // node 0 is told nothing, since no other node is known.
  REQUIRE(control::send_frame(fds[0], load(10, 100)).ok());
  for (int fd : {fds[1], fds[2]}) {
    json advice = receive(test, fd);
    CHECK(advice["type"] == "placement");
    CHECK(advice["heap_node"] == 0);
  }
  CHECK(control::receive_frame(fds[0], 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK_FALSE(test.controller->placement_of(0));
  CHECK(test.controller->latest_load(0)->heap_capacity == 100);

  // Node 1 reports more room: nodes 0 and 2 go to node 1; node 1 keeps node 0 and hears nothing.
  REQUIRE(control::send_frame(fds[1], load(0, 100)).ok());
  CHECK(receive(test, fds[0])["heap_node"] == 1);
  CHECK(receive(test, fds[2])["heap_node"] == 1);
  CHECK(control::receive_frame(fds[1], 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(test.controller->placement_of(1) == 0);

  // The same report again changes nothing, so nothing is sent.
  REQUIRE(control::send_frame(fds[1], load(0, 100)).ok());
  REQUIRE(test.pump_until([&] { return test.controller->latest_load(1).has_value(); }));
  test.pump_a_little();
  for (int fd : fds) CHECK(control::receive_frame(fd, 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);

  // Node 2 reports the most room of all: everyone but node 2 moves there; node 2 goes to node 1.
  REQUIRE(control::send_frame(fds[2], load(0, 1000)).ok());
  CHECK(receive(test, fds[0])["heap_node"] == 2);
  CHECK(receive(test, fds[1])["heap_node"] == 2);
  CHECK(test.controller->placement_of(2) == 1);

  // Once the job ends, no more advice.
  test.controller->send_shutdown();
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "shutdown");
  REQUIRE(control::send_frame(fds[0], load(0, 10000)).ok());
  REQUIRE(test.pump_until([&] { return test.controller->latest_load(0)->heap_capacity == 10000; }));
  for (int fd : fds) CHECK(control::receive_frame(fd, 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);
  for (int fd : fds) ::close(fd);
}

TEST_CASE("stats frames are kept until every open connection has sent one") {
  test_controller test(2);
  std::vector<int> fds;
  for (int node = 0; node < 2; ++node) {
    fds.push_back(test.connect());
    REQUIRE(control::send_frame(fds.back(), hello(node)).ok());
  }
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "welcome");
  CHECK(test.controller->awaiting_stats());
  REQUIRE(control::send_frame(fds[0], {{"type", "stats"}, {"moves", 4}, {"allocations_by_node", {1, 2}}}).ok());
  REQUIRE(test.pump_until([&] { return test.controller->stats_of(0) != nullptr; }));
  CHECK((*test.controller->stats_of(0))["moves"] == 4);
  CHECK_FALSE(test.controller->stats_of(0)->contains("type"));
  CHECK(test.controller->stats_of(1) == nullptr);
  CHECK(test.controller->awaiting_stats());
  ::close(fds[1]);  // a node that goes away without stats is not waited for
  REQUIRE(test.pump_until([&] { return !test.controller->connected(1); }));
  CHECK_FALSE(test.controller->awaiting_stats());
  ::close(fds[0]);
}

TEST_CASE("the --stats table: a title, a header, one row per node") {
  std::vector<std::optional<json>> stats(3);
  stats[0] = json{{"heap_used", 3u << 19},        {"heap_capacity", 64u << 20}, {"live_objects", 8},
                  {"allocations_by_node", {5, 3, 0}}, {"remote_reads", 12},      {"remote_read_bytes", 3 << 10},
                  {"cache_hits", 40},              {"cache_misses", 12},         {"cache_evictions", 1},
                  {"moves", 2},                    {"remote_frees", 3},          {"remote_frees_received", 0},
                  {"messages_sent", 120},          {"messages_received", 118},   {"threads_started", 0},
                  {"shared_acquire_messages", 4},  {"shared_release_messages", 2}, {"shared_objects_destroyed", 1},
                  {"cpu_seconds", 12.34},          {"page_faults", 4096}};
  stats[2] = json{{"heap_capacity", 64u << 20}, {"threads_started", 4}, {"allocations_by_node", {0, 0, 7}}};
  std::string table = launcher::format_stats_table(stats);
  INFO(table);
  std::vector<std::string> lines;
  std::istringstream text(table);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "drust stats (per node)");
  // Each column's name on two lines: "heap MiB" above "used/capacity", and so on.
  for (const char* above : {"heap MiB", "live", "allocated", "remote", "read", "cache", "frees", "shared_ptr",
                            "messages", "threads", "CPU", "page"}) {
    CHECK(lines[1].find(above) != std::string::npos);
  }
  for (const char* header : {"node", "used/capacity", "objects", "by node", "reads", "bytes", "hit %/miss/evict",
                             "moves", "sent/recv", "msgs/freed", "started", " s", "faults"}) {
    CHECK(lines[2].find(header) != std::string::npos);
  }
  auto words = [](const std::string& line) {
    std::vector<std::string> found;
    std::istringstream in(line);
    for (std::string word; in >> word;) found.push_back(word);
    return found;
  };
  CHECK(words(lines[3]) ==
        std::vector<std::string>{"0", "1.5/64.0", "8", "5/3/0", "12", "3.0KiB", "76.9/12/1", "2", "3/0", "6/1", "120/118",
                                 "0", "12.3", "4096"});
  CHECK(words(lines[4]).front() == "1");
  CHECK(lines[4].find("no stats") != std::string::npos);
  CHECK(words(lines[5]) ==
        std::vector<std::string>{"2", "0.0/64.0", "0", "0/0/7", "0", "0B", "-/0/0", "0", "0/0", "0/0", "0/0", "4", "0.0", "0"});
  // Right-aligned: the header lines and every row of counters have the same width.
  CHECK(lines[1].size() == lines[2].size());
  CHECK(lines[3].size() == lines[2].size());
  CHECK(lines[5].size() == lines[2].size());
  CHECK(lines[2].size() < 140);  // fits a wide terminal

  CHECK(launcher::readable_bytes(0) == "0B");
  CHECK(launcher::readable_bytes(1023) == "1023B");
  CHECK(launcher::readable_bytes(1536) == "1.5KiB");
  CHECK(launcher::readable_bytes(5ull << 30) == "5.0GiB");
}

TEST_CASE("the event loop runs timers in order and skips cancelled ones") {
  launcher::event_loop loop;
  std::vector<int> fired;
  loop.add_timer(20ms, [&] { fired.push_back(2); });
  auto cancelled = loop.add_timer(10ms, [&] { fired.push_back(99); });
  loop.add_timer(0ms, [&] { fired.push_back(1); });
  loop.cancel_timer(cancelled);
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (fired.size() < 2 && std::chrono::steady_clock::now() < deadline) loop.run_once(50ms);
  CHECK(fired == std::vector<int>{1, 2});
}

TEST_CASE("the load table (threads and cores per node) reaches every node when a report changes it") {
  test_controller test(3);
  std::vector<int> fds;
  for (int node = 0; node < 3; ++node) {
    fds.push_back(test.connect());
    json said = hello(node);
    said["cores"] = node + 1;
    REQUIRE(control::send_frame(fds.back(), said).ok());
  }
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "welcome");
  for (int fd : fds) REQUIRE(control::send_frame(fd, {{"type", "ready"}}).ok());
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "start");

  auto load = [](int threads, double cpu_seconds = 0, json by_origin = json::array({0, 0, 0})) {
    return json{{"type", "load"},      {"threads", threads},     {"cpu_seconds", cpu_seconds},
                {"heap_used", 0},      {"heap_capacity", 100},   {"cache_bytes", 0},
                {"threads_by_origin", std::move(by_origin)}};
  };
  // Every node idle is what nodes assume before any table: nothing is sent for it (node 0's
  // report brings placement advice only).
  REQUIRE(control::send_frame(fds[0], load(0)).ok());
  for (int fd : {fds[1], fds[2]}) CHECK(receive(test, fd)["type"] == "placement");
  test.pump_a_little();
  for (int fd : fds) CHECK(control::receive_frame(fd, 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);

  // Node 1 runs 5 threads, 1 started by node 0 and 3 by itself: everyone hears the table, with
  // each node's cores from its hello, and who started the threads.
  REQUIRE(control::send_frame(fds[1], load(5, 0, {1, 3, 1})).ok());
  for (int fd : fds) {
    json table = receive(test, fd);
    while (table["type"] == "placement") table = receive(test, fd);
    CHECK(table["type"] == "load_table");
    REQUIRE(table["nodes"].size() == 3);
    for (int node = 0; node < 3; ++node) {
      const json& entry = table["nodes"][static_cast<std::size_t>(node)];
      CHECK(entry["node"] == node);
      CHECK(entry["cores"] == node + 1);
      CHECK(entry["threads"] == (node == 1 ? 5 : 0));
      CHECK(entry["threads_by_origin"] == (node == 1 ? json::array({1, 3, 1}) : json::array({0, 0, 0})));
    }
  }
  CHECK(test.controller->load_table()["nodes"][1]["threads"] == 5);

  // Counts by origin that are not counts (or name more nodes than there are) count as none.
  for (const json& bad : {json::array({1, -3, 1}), json::array({1, 1, 1, 1}), json("3")}) {
    REQUIRE(control::send_frame(fds[2], load(2, 0, bad)).ok());
    for (int fd : fds) {
      json table = receive(test, fd);
      while (table["type"] == "placement") table = receive(test, fd);
      CHECK(table["nodes"][2]["threads"] == 2);
      CHECK(table["nodes"][2]["threads_by_origin"] == json::array({0, 0, 0}));
    }
    REQUIRE(control::send_frame(fds[2], load(0)).ok());
    for (int fd : fds) {
      json table = receive(test, fd);
      while (table["type"] == "placement") table = receive(test, fd);
      CHECK(table["nodes"][2]["threads"] == 0);
    }
  }

  // The same threads again, with more CPU time: no new table (CPU time moves on every report).
  REQUIRE(control::send_frame(fds[1], load(5, 2.5, {1, 3, 1})).ok());
  REQUIRE(test.pump_until([&] { return test.controller->latest_load(1)->cpu_seconds == 2.5; }));
  test.pump_a_little();
  for (int fd : fds) CHECK(control::receive_frame(fd, 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);

  // Once the job ends, no more tables.
  test.controller->send_shutdown();
  for (int fd : fds) CHECK(receive(test, fd)["type"] == "shutdown");
  REQUIRE(control::send_frame(fds[2], load(7)).ok());
  REQUIRE(test.pump_until([&] { return test.controller->latest_load(2) && test.controller->latest_load(2)->threads == 7; }));
  for (int fd : fds) CHECK(control::receive_frame(fd, 50ms).status().code() == absl::StatusCode::kDeadlineExceeded);
  for (int fd : fds) ::close(fd);
}

TEST_CASE("a started node that sends nothing for the silence limit is reported once; one that reports is not") {
  test_controller test(2, 5s, 300ms);
  int node0 = test.connect();
  int node1 = test.connect();
  REQUIRE(control::send_frame(node0, hello(0)).ok());
  REQUIRE(control::send_frame(node1, hello(1)).ok());
  for (int fd : {node0, node1}) REQUIRE(receive(test, fd)["type"] == "welcome");
  for (int fd : {node0, node1}) REQUIRE(control::send_frame(fd, {{"type", "ready"}}).ok());
  REQUIRE(test.pump_until([&] { return test.controller->started(); }));

  // Node 0 keeps reporting its load as a runtime does; node 1 falls silent (a stopped process).
  const json load = {{"type", "load"}, {"threads", 1}, {"heap_used", 0}, {"heap_capacity", 1 << 20}};
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 1200ms) {
    REQUIRE(control::send_frame(node0, load).ok());
    for (int i = 0; i < 10; ++i) test.loop.run_once(5ms);
  }
  REQUIRE(test.silent.size() == 1);  // once, though it stayed silent for four limits
  CHECK(test.silent[0].first == 1);
  CHECK(test.silent[0].second >= 300ms);
  ::close(node0);
  ::close(node1);
}

TEST_CASE("silence is not watched before the job starts, nor once it is ending") {
  test_controller test(2, 5s, 100ms);
  int node0 = test.connect();
  REQUIRE(control::send_frame(node0, hello(0)).ok());
  for (int i = 0; i < 60; ++i) test.loop.run_once(5ms);  // 300 ms; node 1 has not come: bootstrap's business
  CHECK(test.silent.empty());

  int node1 = test.connect();
  REQUIRE(control::send_frame(node1, hello(1)).ok());
  for (int fd : {node0, node1}) REQUIRE(receive(test, fd)["type"] == "welcome");
  for (int fd : {node0, node1}) REQUIRE(control::send_frame(fd, {{"type", "ready"}}).ok());
  REQUIRE(test.pump_until([&] { return test.controller->started(); }));
  test.controller->send_shutdown();  // the job ends: nodes finish in their own time
  for (int i = 0; i < 60; ++i) test.loop.run_once(5ms);
  CHECK(test.silent.empty());
  ::close(node0);
  ::close(node1);
}
