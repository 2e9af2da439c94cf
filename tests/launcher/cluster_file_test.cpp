// The cluster file parser and the job plan: every kind of bad input gets its own error, naming the
// field and what was found; good input gives the right values.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "byte_size.hpp"
#include "cluster_file.hpp"
#include "hosts.hpp"
#include "job_plan.hpp"
#include "node_launcher.hpp"
#include "provider.hpp"
#include "shell_quote.hpp"

namespace launcher = drust::launcher;

namespace {

// The error message for `text`, or "" when it parses.
std::string error_for(const std::string& text) {
  auto parsed = launcher::parse_cluster_file(text, "cluster.json");
  return parsed.ok() ? std::string() : std::string(parsed.status().message());
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Host facts for plans: "localhost" and "127.0.0.1" are this machine with 8 cores; remote hosts
// have 16 cores.
launcher::host_facts test_hosts() {
  launcher::host_facts facts;
  facts.is_local = [](const std::string& host) { return host == "localhost" || host == "127.0.0.1"; };
  facts.local_cores = [] { return 8; };
  facts.remote_cores = [](const std::vector<std::string>& hosts) {
    std::map<std::string, int> cores;
    for (const auto& host : hosts) cores[host] = 16;
    return absl::StatusOr<std::map<std::string, int>>(cores);
  };
  return facts;
}

launcher::drun_options options_for_cluster() {
  launcher::drun_options options;
  options.cluster_path = "cluster.json";
  options.command = {"./app", "x"};
  return options;
}

}  // namespace

TEST_CASE("address_towards names this machine's source address for a destination") {
  CHECK(launcher::address_towards("127.0.0.1") == "127.0.0.1");
  CHECK(launcher::address_towards("no-such-host.invalid").empty());
}

TEST_CASE("a valid cluster file parses to the values it gives") {
  auto parsed = launcher::parse_cluster_file(R"({
      // comments are allowed
      "provider": "tcp",
      "controller": "10.0.0.1:7000",
      "cache_size": "256MiB",
      "nodes": [
        {"name": "a0", "host": "localhost", "cores": 2, "heap": "1GiB", "program": "/opt/app"},
        {"host": "b", "heap": 33554432}
      ]
    })",
                                             "cluster.json");
  REQUIRE(parsed.ok());
  CHECK(parsed->provider == "tcp;ofi_rxm");
  REQUIRE(parsed->controller);
  CHECK(parsed->controller->host == "10.0.0.1");
  CHECK(parsed->controller->port == 7000);
  CHECK(parsed->cache_size == 256u << 20);
  REQUIRE(parsed->nodes.size() == 2);
  CHECK(parsed->nodes[0].name == "a0");
  CHECK(parsed->nodes[0].host == "localhost");
  CHECK(parsed->nodes[0].cores == 2);
  CHECK(parsed->nodes[0].heap_size == 1ull << 30);
  CHECK(parsed->nodes[0].program == "/opt/app");
  CHECK(parsed->nodes[1].name == "n1");
  CHECK(parsed->nodes[1].host == "b");
  CHECK_FALSE(parsed->nodes[1].cores);
  CHECK(parsed->nodes[1].heap_size == 32u << 20);
  CHECK_FALSE(parsed->nodes[1].program);
  CHECK_FALSE(parsed->heap_pressure);
  CHECK_FALSE(parsed->nodes[0].cache_size);
  CHECK_FALSE(parsed->nodes[0].heap_pressure);
}

TEST_CASE("cache and heap_pressure: per node, with job-wide defaults") {
  auto parsed = launcher::parse_cluster_file(R"({
      "cache_size": "256MiB",
      "heap_pressure": 75,
      "nodes": [
        {"host": "localhost", "cache": "64 MiB", "heap_pressure": 100},
        {"host": "localhost", "cache": 1048576, "heap_pressure": 1},
        {"host": "localhost"}
      ]
    })",
                                             "cluster.json");
  REQUIRE(parsed.ok());
  CHECK(parsed->cache_size == 256u << 20);
  CHECK(parsed->heap_pressure == 75);
  CHECK(parsed->nodes[0].cache_size == 64u << 20);
  CHECK(parsed->nodes[0].heap_pressure == 100);
  CHECK(parsed->nodes[1].cache_size == 1u << 20);
  CHECK(parsed->nodes[1].heap_pressure == 1);
  CHECK_FALSE(parsed->nodes[2].cache_size);
  CHECK_FALSE(parsed->nodes[2].heap_pressure);
}

TEST_CASE("a bad cache or heap_pressure is named with what was found") {
  CHECK(error_for(R"({"nodes": [{"host": "a"}, {"host": "b", "cache": "lots"}]})") ==
        "cluster.json: nodes[1].cache must be a size such as \"1GiB\" or a number of bytes, got \"lots\"");
  CHECK(error_for(R"({"nodes": [{"host": "a", "cache": 0}]})") == "cluster.json: nodes[0].cache must be larger than 0");
  CHECK(error_for(R"({"cache_size": "0B", "nodes": [{"host": "a"}]})") == "cluster.json: cache_size must be larger than 0");
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap_pressure": 150}]})") ==
        "cluster.json: nodes[0].heap_pressure must be a whole percentage from 1 to 100, got 150");
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap_pressure": 0}]})") ==
        "cluster.json: nodes[0].heap_pressure must be a whole percentage from 1 to 100, got 0");
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap_pressure": -5}]})") ==
        "cluster.json: nodes[0].heap_pressure must be a whole percentage from 1 to 100, got -5");
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap_pressure": 62.5}]})") ==
        "cluster.json: nodes[0].heap_pressure must be a whole percentage from 1 to 100, got 62.5");
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap_pressure": "90%"}]})") ==
        "cluster.json: nodes[0].heap_pressure must be a whole percentage from 1 to 100, got \"90%\"");
  CHECK(error_for(R"({"heap_pressure": 101, "nodes": [{"host": "a"}]})") ==
        "cluster.json: heap_pressure must be a whole percentage from 1 to 100, got 101");
}

TEST_CASE("bad JSON names the line and column") {
  std::string error = error_for("{\n  \"nodes\": [\n    {\"host\" \"a\"}\n  ]\n}");
  INFO(error);
  CHECK(contains(error, "cluster.json line 3 column 15: syntax error"));
  CHECK(contains(error, "expected ':'"));
  CHECK(contains(error_for(""), "cluster.json line 1 column 1: syntax error"));
}

TEST_CASE("a missing field is named") {
  CHECK(error_for(R"({"nodes": [{"host": "a"}, {"host": "b"}, {"cores": 1}]})") == "cluster.json: nodes[2].host is missing");
  CHECK(contains(error_for(R"({"provider": "shm"})"), "cluster.json: nodes is missing"));
}

TEST_CASE("a value of the wrong type is named with what was found") {
  CHECK(error_for(R"({"nodes": [{"host": "a"}, {"host": "b", "cores": "two"}]})") ==
        "cluster.json: nodes[1].cores must be a positive integer, got \"two\"");
  CHECK(contains(error_for(R"({"nodes": [{"host": "a", "cores": 0}]})"), "nodes[0].cores must be a positive integer, got 0"));
  CHECK(contains(error_for(R"({"nodes": [{"host": "a", "cores": 1.5}]})"), "nodes[0].cores must be a positive integer, got 1.5"));
  CHECK(contains(error_for(R"({"nodes": [{"host": 7}]})"), "nodes[0].host must be a non-empty string, got 7"));
  CHECK(contains(error_for(R"({"nodes": [{"host": "-oProxyCommand=x"}]})"), "nodes[0].host must be a host name"));
  CHECK(contains(error_for(R"({"nodes": {"host": "a"}})"), "nodes must be a non-empty array"));
  CHECK(contains(error_for(R"({"nodes": []})"), "nodes must be a non-empty array"));
  CHECK(contains(error_for(R"({"nodes": ["a"]})"), "nodes[0] must be an object"));
  CHECK(contains(error_for(R"([1, 2])"), "cluster.json: must hold a JSON object"));
  CHECK(contains(error_for(R"({"controller": 7000, "nodes": [{"host": "a"}]})"), "controller must be a string"));
  CHECK(contains(error_for(R"({"controller": "a", "nodes": [{"host": "a"}]})"), "controller must be \"host:port\""));
}

TEST_CASE("a duplicate node name names both nodes") {
  CHECK(error_for(R"({"nodes": [{"name": "a0", "host": "a"}, {"host": "b"}, {"host": "c"}, {"name": "a0", "host": "d"}]})") ==
        "cluster.json: nodes[3] duplicates the name \"a0\" of nodes[0]; give every node its own name");
  CHECK(contains(error_for(R"({"nodes": [{"host": "a"}, {"name": "n0", "host": "b"}]})"), "nodes[1] duplicates the name \"n0\""));
}

TEST_CASE("an unknown provider lists the known ones") {
  std::string error = error_for(R"({"provider": "ib", "nodes": [{"host": "a"}]})");
  CHECK(contains(error, "cluster.json: provider \"ib\" is unknown; use one of auto, shm, tcp;ofi_rxm, verbs;ofi_rxm, efa, cxi"));
  CHECK(contains(error_for(R"({"provider": 3, "nodes": [{"host": "a"}]})"), "provider must be a string"));
}

TEST_CASE("an unknown key is named with the known ones") {
  CHECK(error_for(R"({"nodes": [{"host": "a", "hots": "b"}]})") ==
        "cluster.json: nodes[0] has an unknown key \"hots\"; the known keys are name, host, cores, heap, cache, "
        "heap_pressure, program");
  CHECK(error_for(R"({"node": [], "nodes": [{"host": "a"}]})") ==
        "cluster.json: the top level has an unknown key \"node\"; the known keys are provider, controller, cache_size, "
        "heap_pressure, nodes");
}

TEST_CASE("a repeated key is an error") {
  CHECK(contains(error_for(R"({"nodes": [{"host": "a", "host": "b"}]})"), "the key \"host\" appears twice"));
}

TEST_CASE("a bad size is named") {
  CHECK(error_for(R"({"nodes": [{"host": "a", "heap": "lots"}]})") ==
        "cluster.json: nodes[0].heap must be a size such as \"1GiB\" or a number of bytes, got \"lots\"");
  CHECK(contains(error_for(R"({"nodes": [{"host": "a", "heap": "1MiB"}]})"), "nodes[0].heap must be at least 16MiB, got \"1MiB\""));
  CHECK(contains(error_for(R"({"nodes": [{"host": "a", "heap": -5}]})"), "nodes[0].heap must be a size"));
  CHECK(contains(error_for(R"({"cache_size": "1.5G", "nodes": [{"host": "a"}]})"), "cache_size must be a size"));
}

TEST_CASE("sizes") {
  CHECK(launcher::parse_byte_size("1GiB").value() == 1ull << 30);
  CHECK(launcher::parse_byte_size("1G").value() == 1ull << 30);
  CHECK(launcher::parse_byte_size("256 MiB").value() == 256ull << 20);
  CHECK(launcher::parse_byte_size("64K").value() == 64ull << 10);
  CHECK(launcher::parse_byte_size("2T").value() == 2ull << 40);
  CHECK(launcher::parse_byte_size("12345").value() == 12345);
  CHECK(launcher::parse_byte_size("12345B").value() == 12345);
  CHECK_FALSE(launcher::parse_byte_size("").ok());
  CHECK_FALSE(launcher::parse_byte_size("G").ok());
  CHECK_FALSE(launcher::parse_byte_size("1 GB").ok());
  CHECK_FALSE(launcher::parse_byte_size("99999999999999999999").ok());
  CHECK_FALSE(launcher::parse_byte_size("99999999999T").ok());
  CHECK(launcher::format_byte_size(1ull << 30) == "1GiB");
  CHECK(launcher::format_byte_size(3ull << 20) == "3MiB");
  CHECK(launcher::format_byte_size(1000) == "1000B");
}

TEST_CASE("provider names") {
  CHECK(launcher::normalize_provider("tcp").value() == "tcp;ofi_rxm");
  CHECK(launcher::normalize_provider("verbs").value() == "verbs;ofi_rxm");
  CHECK(launcher::normalize_provider("efa").value() == "efa");
  CHECK_FALSE(launcher::normalize_provider("ib").ok());
}

TEST_CASE("shell quoting survives a round trip through words that need it") {
  CHECK(launcher::shell_quote("/opt/app") == "/opt/app");
  CHECK(launcher::shell_quote("a b") == "'a b'");
  CHECK(launcher::shell_quote("it's") == "'it'\\''s'");
  CHECK(launcher::shell_quote("") == "''");
  CHECK(launcher::shell_quote("$HOME") == "'$HOME'");
  CHECK(launcher::shell_command({"env", "A=x y", "/opt/app"}) == "env 'A=x y' /opt/app");
}

TEST_CASE("a plan for -n gives every node its share of this machine") {
  launcher::drun_options options;
  options.node_count = 3;
  options.command = {"./app", "--flag"};
  auto plan = launcher::make_job_plan(options, std::nullopt, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->job_id.size() == 16);
  CHECK(plan->cookie.size() == 32);
  CHECK(plan->provider == "shm");
  CHECK(plan->controller.host == "127.0.0.1");
  CHECK(plan->controller.port == 0);
  CHECK(plan->partition_size == launcher::default_heap_size);
  CHECK(plan->arguments == std::vector<std::string>{"--flag"});
  REQUIRE(plan->nodes.size() == 3);
  for (const auto& node : plan->nodes) {
    CHECK(node.local);
    CHECK(node.cores == 2);  // 8 cores / 3 nodes
    CHECK(node.heap_size == launcher::default_heap_size);
    CHECK(node.cache_size == launcher::default_heap_size / 4);
    CHECK(node.fabric_host == "127.0.0.1");
    CHECK(node.program == "./app");
  }
  CHECK(plan->nodes[2].name == "n2");
}

TEST_CASE("spread_cpus: disjoint runs, the first ones longer; more nodes than CPUs share them in turn") {
  using shares = std::vector<std::vector<int>>;
  CHECK(launcher::spread_cpus({0, 1}, 2) == shares{{0}, {1}});
  CHECK(launcher::spread_cpus({0, 1, 2, 3}, 2) == shares{{0, 1}, {2, 3}});
  CHECK(launcher::spread_cpus({0, 1, 2, 3, 4, 5, 6, 7}, 3) == shares{{0, 1, 2}, {3, 4, 5}, {6, 7}});
  CHECK(launcher::spread_cpus({2, 5, 7}, 2) == shares{{2, 5}, {7}});  // drun's own CPUs, whatever their numbers
  CHECK(launcher::spread_cpus({0, 1}, 5) == shares{{0}, {1}, {0}, {1}, {0}});
  CHECK(launcher::spread_cpus({3}, 2) == shares{{3}, {3}});
  CHECK(launcher::spread_cpus({}, 2) == shares{{}, {}});
}

TEST_CASE("local nodes get their shares of this machine's CPUs; one node, remote nodes and --cpu-bind none get none") {
  launcher::drun_options options;
  options.node_count = 3;
  options.command = {"./app"};
  auto plan = launcher::make_job_plan(options, std::nullopt, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cpus == std::vector<int>{0, 1, 2});  // test_hosts: 8 local cores
  CHECK(plan->nodes[1].cpus == std::vector<int>{3, 4, 5});
  CHECK(plan->nodes[2].cpus == std::vector<int>{6, 7});

  using binding = launcher::drun_options::cpu_binding;
  auto facts = test_hosts();
  facts.local_cpus = [] { return std::vector<int>{4, 6}; };
  options.node_count = 2;
  plan = launcher::make_job_plan(options, std::nullopt, facts);
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cpus == std::vector<int>{4});  // drun's CPUs, whatever their numbers
  CHECK(plan->nodes[1].cpus == std::vector<int>{6});

  // More nodes than CPUs: by default left to the kernel; spread binds them in turn.
  options.node_count = 4;
  plan = launcher::make_job_plan(options, std::nullopt, facts);
  REQUIRE(plan.ok());
  for (const auto& node : plan->nodes) CHECK(node.cpus.empty());
  options.bind_cpus = binding::spread;
  plan = launcher::make_job_plan(options, std::nullopt, facts);
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cpus == std::vector<int>{4});
  CHECK(plan->nodes[1].cpus == std::vector<int>{6});
  CHECK(plan->nodes[2].cpus == std::vector<int>{4});
  CHECK(plan->nodes[3].cpus == std::vector<int>{6});

  options.bind_cpus = binding::none;
  options.node_count = 2;
  plan = launcher::make_job_plan(options, std::nullopt, facts);
  REQUIRE(plan.ok());
  for (const auto& node : plan->nodes) CHECK(node.cpus.empty());

  options.bind_cpus = binding::automatic;
  options.node_count = 1;
  plan = launcher::make_job_plan(options, std::nullopt, facts);
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cpus.empty());

  // Two local nodes and a remote one: the local ones share this machine, the remote one is not bound.
  launcher::cluster_file cluster;
  cluster.nodes = {{"a", "localhost", {}, {}, {}}, {"b", "far", {}, {}, {}}, {"c", "127.0.0.1", {}, {}, {}}};
  cluster.controller = launcher::controller_address{"10.0.0.1", 7000};
  auto mixed = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE_MESSAGE(mixed.ok(), mixed.status().message());
  CHECK(mixed->nodes[0].cpus == std::vector<int>{0, 1, 2, 3});
  CHECK(mixed->nodes[1].cpus.empty());
  CHECK(mixed->nodes[2].cpus == std::vector<int>{4, 5, 6, 7});
}

TEST_CASE("the provider comes from the command line, then DRUST_PROVIDER, then the file, then auto") {
  launcher::cluster_file cluster;
  cluster.provider = "tcp;ofi_rxm";
  cluster.nodes = {{"n0", "localhost", {}, {}, {}}};
  auto options = options_for_cluster();
  CHECK(launcher::make_job_plan(options, cluster, test_hosts())->provider == "tcp;ofi_rxm");
  options.provider_from_environment = "verbs";
  CHECK(launcher::make_job_plan(options, cluster, test_hosts())->provider == "verbs;ofi_rxm");
  options.provider = "shm";
  CHECK(launcher::make_job_plan(options, cluster, test_hosts())->provider == "shm");
  options.provider = "ib";
  auto bad = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(std::string(bad.status().message()), "--provider: provider \"ib\" is unknown"));
  options.provider.reset();
  options.provider_from_environment.reset();
  cluster.provider.reset();
  CHECK(launcher::make_job_plan(options, cluster, test_hosts())->provider == "shm");
}

TEST_CASE("a plan across hosts needs a controller address and uses tcp") {
  launcher::cluster_file cluster;
  cluster.nodes = {{"a", "localhost", {}, std::uint64_t(100) << 20, {}},
                   {"b", "hostb", {}, {}, {}},
                   {"c", "hostb", 3, std::uint64_t(64) << 20, std::string("/opt/other")}};
  auto missing = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(std::string(missing.status().message()),
                 "cluster.json: controller is required because nodes[1] runs on another host (\"hostb\")"));

  cluster.controller = launcher::controller_address{"10.0.0.1", 7000};
  auto plan = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->provider == "tcp;ofi_rxm");
  CHECK(plan->controller_advertised_host == "10.0.0.1");
  CHECK(plan->partition_size == 1ull << 30);  // the largest heap: node b's default 1 GiB
  CHECK(plan->nodes[0].fabric_host == "10.0.0.1");  // reachable from hostb
  CHECK(plan->nodes[1].fabric_host == "hostb");
  CHECK_FALSE(plan->nodes[1].local);
  CHECK(plan->nodes[1].cores == 8);  // 16 cores / 2 nodes on hostb
  CHECK(plan->nodes[2].cores == 3);
  CHECK(plan->nodes[2].program == "/opt/other");
  CHECK(plan->nodes[1].program.front() == '/');  // drun's ./app, made absolute for ssh
  CHECK(plan->nodes[0].cores == 8);

  // A controller listening on every address announces the address this machine uses towards the
  // remote host, and local nodes bind there, not to a host name that may map to loopback.
  cluster.controller = launcher::controller_address{"0.0.0.0", 7000};
  auto facts = test_hosts();
  facts.address_towards = [](const std::string& host) { return host == "hostb" ? std::string("10.9.8.7") : std::string(); };
  auto wildcard = launcher::make_job_plan(options_for_cluster(), cluster, facts);
  REQUIRE(wildcard.ok());
  CHECK(wildcard->controller_advertised_host == "10.9.8.7");
  CHECK(wildcard->nodes[0].fabric_host == "10.9.8.7");

  auto options = options_for_cluster();
  options.provider = "shm";
  auto shm = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE_FALSE(shm.ok());
  CHECK(contains(std::string(shm.status().message()), "provider shm connects processes of one host only"));
}

TEST_CASE("partition size is the largest heap rounded up to 2 MiB, --heap and --cores override the file") {
  launcher::cluster_file cluster;
  cluster.nodes = {{"a", "localhost", 1, std::uint64_t(17) << 20, {}}, {"b", "localhost", {}, std::uint64_t(20) << 20, {}}};
  cluster.cache_size = 5u << 20;
  auto plan = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->partition_size == 20u << 20);
  CHECK(plan->nodes[0].cache_size == 5u << 20);
  CHECK(plan->nodes[1].cores == 4);  // 8 local cores / 2 local nodes

  cluster.nodes[1].heap_size = (20u << 20) + 1;
  CHECK(launcher::make_job_plan(options_for_cluster(), cluster, test_hosts())->partition_size == 22u << 20);

  auto options = options_for_cluster();
  options.heap_size = 64u << 20;
  options.cores = 5;
  plan = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE(plan.ok());
  for (const auto& node : plan->nodes) {
    CHECK(node.heap_size == 64u << 20);
    CHECK(node.cores == 5);
  }
  options.heap_size = 1u << 20;
  CHECK_FALSE(launcher::make_job_plan(options, cluster, test_hosts()).ok());
}

TEST_CASE("cache and heap pressure: --cache and --heap-pressure, else the node, else the file, else the defaults") {
  launcher::cluster_file cluster;
  cluster.nodes = {{"a", "localhost", 1, std::uint64_t(64) << 20, {}, std::uint64_t(3) << 20, 50},
                   {"b", "localhost", 1, std::uint64_t(32) << 20, {}, {}, {}}};
  auto plan = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cache_size == 3u << 20);
  CHECK(plan->nodes[0].heap_pressure == 50);
  CHECK(plan->nodes[1].cache_size == 8u << 20);  // a quarter of its heap
  CHECK(plan->nodes[1].heap_pressure == 90);

  cluster.cache_size = 5u << 20;
  cluster.heap_pressure = 70;
  plan = launcher::make_job_plan(options_for_cluster(), cluster, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->nodes[0].cache_size == 3u << 20);  // the node's own value wins
  CHECK(plan->nodes[0].heap_pressure == 50);
  CHECK(plan->nodes[1].cache_size == 5u << 20);
  CHECK(plan->nodes[1].heap_pressure == 70);

  auto options = options_for_cluster();
  options.cache_size = 7u << 20;
  options.heap_pressure = 100;
  plan = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE(plan.ok());
  for (const auto& node : plan->nodes) {
    CHECK(node.cache_size == 7u << 20);
    CHECK(node.heap_pressure == 100);
  }

  launcher::drun_options by_count;
  by_count.node_count = 2;
  by_count.command = {"./app"};
  by_count.heap_size = 64u << 20;
  plan = launcher::make_job_plan(by_count, std::nullopt, test_hosts());
  REQUIRE(plan.ok());
  CHECK(plan->nodes[1].cache_size == 16u << 20);  // a quarter of --heap
  CHECK(plan->nodes[1].heap_pressure == launcher::default_heap_pressure);

  options.heap_pressure = 0;
  auto bad = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) == "--heap-pressure must be a whole percentage from 1 to 100, got 0");
  options.heap_pressure.reset();
  options.cache_size = 0;
  CHECK(std::string(launcher::make_job_plan(options, cluster, test_hosts()).status().message()) ==
        "--cache must be larger than 0");
}

TEST_CASE("a node's environment and its ssh command line") {
  launcher::cluster_file cluster;
  cluster.controller = launcher::controller_address{"10.0.0.1", 7000};
  cluster.nodes = {{"a", "localhost", 1, {}, {}}, {"b", "hostb", 2, {}, std::string("/opt/my app")}};
  auto options = options_for_cluster();
  options.command = {"./app", "it's", "a b"};
  auto plan = launcher::make_job_plan(options, cluster, test_hosts());
  REQUIRE(plan.ok());
  auto environment = launcher::node_environment(*plan, plan->nodes[1], "10.0.0.1:7000");
  REQUIRE(environment.size() == 12);
  CHECK(environment[0] == std::pair<std::string, std::string>{"DRUST_JOB", plan->job_id});
  CHECK(environment[2] == std::pair<std::string, std::string>{"DRUST_NODE", "1"});
  CHECK(environment[3] == std::pair<std::string, std::string>{"DRUST_NODES", "2"});
  CHECK(environment[4] == std::pair<std::string, std::string>{"DRUST_CONTROLLER", "10.0.0.1:7000"});
  CHECK(environment[5] == std::pair<std::string, std::string>{"DRUST_PROVIDER", "tcp;ofi_rxm"});
  CHECK(environment[9] == std::pair<std::string, std::string>{"DRUST_CACHE_SIZE", std::to_string(256u << 20)});
  CHECK(environment[10] == std::pair<std::string, std::string>{"DRUST_HEAP_PRESSURE", "90"});
  CHECK(environment[11] == std::pair<std::string, std::string>{"DRUST_FABRIC_HOST", "hostb"});

  auto command = launcher::remote_node_command(*plan, plan->nodes[1], "10.0.0.1:7000");
  REQUIRE(command.size() == 5);
  CHECK(command[0] == "ssh");
  CHECK(command[1] == "-o");
  CHECK(command[2] == "BatchMode=yes");
  CHECK(command[3] == "hostb");
  // The cookie is read from ssh's stdin, never put on the command line.
  CHECK(command[4].rfind("IFS= read -r DRUST_COOKIE && export DRUST_COOKIE && exec env DRUST_JOB=", 0) == 0);
  CHECK_FALSE(contains(command[4], plan->cookie));
  CHECK(launcher::remote_cookie_line(*plan) == plan->cookie + "\n");
  CHECK(contains(command[4], "'DRUST_PROVIDER=tcp;ofi_rxm'"));
  CHECK(contains(command[4], "DRUST_NODE=1 "));
  CHECK(contains(command[4], "'/opt/my app' 'it'\\''s' 'a b'"));
}

TEST_CASE("the examples of docs/cluster-file.md parse") {
  const char* doc_path = std::getenv("CLUSTER_FILE_DOC");
  if (doc_path == nullptr) return;  // run outside meson: nothing to compare with
  std::ifstream doc(doc_path);
  REQUIRE(doc.good());
  std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  int examples = 0;
  for (auto start = text.find("```json\n"); start != std::string::npos; start = text.find("```json\n", start)) {
    start += 8;
    auto end = text.find("```", start);
    REQUIRE(end != std::string::npos);
    auto parsed = launcher::parse_cluster_file(text.substr(start, end - start), "example");
    INFO(text.substr(start, end - start));
    CHECK_MESSAGE(parsed.ok(), parsed.status().message());
    ++examples;
  }
  CHECK(examples >= 2);
}
