// The simulated cluster of docs/simulation.md, with real processes: drun --cpu-quota puts every
// node in a cgroup whose quota the kernel enforces; --netns gives every node its own network
// namespace, so node-to-node traffic crosses its eth0; --net-delay adds netem latency. Each
// removes everything it made when the job ends: normally, on SIGTERM, and (for a drun killed by
// SIGKILL) at the next drun's start.
//
// One doctest suite per part, each run by its own meson test (--test-suite=<part>): a part whose
// facility this machine lacks (root, a writable cgroup with the cpu controller, network
// namespaces) exits 77, meson's skip, saying why. The errors part needs nothing.
#include <doctest/doctest.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "drun_job.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using drust_test::check_nothing_left;
using drust_test::contains;
using drust_test::started_job;

namespace {

const std::string drun = drust_test::env_or("DRUN", "drun");
const std::string cpu_burn_app = drust_test::env_or("CPU_BURN_APP", "cpu_burn_app");
const std::string netns_app = drust_test::env_or("NETNS_APP", "netns_app");
const std::string sleeper_app = drust_test::env_or("SLEEPER_APP", "sleeper_app");
const std::string exit_status_app = drust_test::env_or("EXIT_STATUS_APP", "exit_status_app");
constexpr auto run_limit = 60s;

// Mount points of cgroup hierarchies with the cpu controller (v1 "cpu", or v2 offering "cpu").
std::vector<std::string> cpu_hierarchies() {
  std::vector<std::string> found;
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, mount_point, type, options;
    fields >> device >> mount_point >> type >> options;
    if (type == "cgroup" && contains("," + options + ",", ",cpu,")) found.push_back(mount_point);
    if (type == "cgroup2") {
      std::ifstream controllers(mount_point + "/cgroup.controllers");
      std::string list((std::istreambuf_iterator<char>(controllers)),
                       std::istreambuf_iterator<char>());
      if (contains(" " + list + " ", " cpu ") || contains(" " + list, " cpu\n"))
        found.push_back(mount_point);
    }
  }
  return found;
}

// The job's cgroup directories that exist, in any hierarchy.
std::vector<std::string> cgroups_of(const std::string& job_id) {
  std::vector<std::string> left;
  for (const std::string& root : cpu_hierarchies()) {
    std::string directory = root + "/drust-" + job_id;
    if (fs::exists(directory)) left.push_back(directory);
  }
  return left;
}

// The job's network namespaces and interfaces (d<first 8 hex digits of the job>...) that exist.
std::vector<std::string> network_of(const std::string& job_id) {
  std::vector<std::string> left;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/run/netns", ignored)) {
    std::string name = entry.path().filename();
    if (name.rfind("drust-" + job_id + "-", 0) == 0) left.push_back("namespace " + name);
  }
  if (struct if_nameindex* interfaces = ::if_nameindex(); interfaces != nullptr) {
    for (struct if_nameindex* each = interfaces; each->if_index != 0; ++each) {
      if (std::string(each->if_name).rfind("d" + job_id.substr(0, 8), 0) == 0)
        left.push_back(each->if_name);
    }
    ::if_freenameindex(interfaces);
  }
  return left;
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += word + " ";
  return text;
}

std::string job_id_in(const std::string& drun_stderr) {
  auto match = drust_test::search(drun_stderr, R"(drun: job ([0-9a-f]{16}))");
  return match ? (*match)[1] : "";
}

// The first number after `key=` in `text`, or nullopt.
std::optional<double> number_after(const std::string& text, const std::string& key) {
  auto match = drust_test::search(text, key + R"(=(-?[0-9.]+))");
  if (!match) return std::nullopt;
  return std::stod((*match)[1]);
}

bool command_works(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Why this machine cannot run `part`, or empty when it can.
std::string missing_facility(const std::string& part) {
  if (part == "errors" || part.empty()) return {};
  if (::geteuid() != 0) return "not root: cgroups and network namespaces need root";
  if (part == "cpu_quota") {
    for (const std::string& root : cpu_hierarchies()) {
      if (::access(root.c_str(), W_OK) == 0) return {};
    }
    return "no writable cgroup hierarchy with the cpu controller is mounted";
  }
  if (!command_works("ip -V")) return "the ip command (iproute2) is missing";
  std::string probe = "drust-probe-" + std::to_string(::getpid());
  if (!command_works("ip netns add " + probe))
    return "cannot create a network namespace (ip netns add)";
  command_works("ip netns delete " + probe);
  return {};
}

// Whether this kernel has netem: a throwaway namespace, a veth pair, the qdisc.
bool kernel_has_netem() {
  std::string probe = "drust-probe-" + std::to_string(::getpid());
  bool has = command_works("ip netns add " + probe) &&
             command_works("ip -n " + probe + " link add name probe0 type veth peer name probe1") &&
             command_works("tc -n " + probe + " qdisc add dev probe0 root netem delay 1ms");
  command_works("ip netns delete " + probe);
  return has;
}

// Starts a 3-node sleeper job with drun's `options`, SIGKILLs node `victim` mid-run, and checks
// that drun reports it, exits with 128 + SIGKILL and leaves no process or /dev/shm file. Returns
// the job, for the caller's checks of what its options made (cgroups, network).
started_job kill_a_node_mid_run(const std::vector<std::string>& options, int victim) {
  std::vector<std::string> command = {drun, "--verbose", "-n", "3"};
  command.insert(command.end(), options.begin(), options.end());
  command.insert(command.end(), {sleeper_app, "60000"});
  drust_test::background_process job_process(command);
  started_job job = drust_test::wait_until_started(job_process, 30s);
  const pid_t pid = job.pids[static_cast<std::size_t>(victim)];
  REQUIRE(::kill(pid, SIGKILL) == 0);
  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 128 + SIGKILL);
  CHECK(contains(result.err, "node " + std::to_string(victim) + " (host localhost, pid " + std::to_string(pid) +
                                 ") was killed by SIGKILL"));
  check_nothing_left(job);
  return job;
}

}  // namespace

TEST_SUITE("errors") {
  TEST_CASE("--net-delay without --netns is a usage error that says to add --netns") {
    auto result = drust_test::run_process(
        {drun, "-n", "2", "--net-delay", "1ms", exit_status_app, "0"}, run_limit);
    INFO("stderr: " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err,
                   "drun: --net-delay delays each node's network link, which only --netns gives "
                   "it: add --netns; "
                   "see drun --help"));
  }

  TEST_CASE("--netns with the shm provider is a usage error that says to use tcp") {
    auto result = drust_test::run_process(
        {drun, "-n", "2", "--netns", "--provider", "shm", exit_status_app, "0"}, run_limit);
    INFO("stderr: " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err,
                   "drun: --netns gives each node its own network stack, which provider shm "
                   "(--provider) cannot "
                   "cross: use --provider tcp, or leave the provider as auto; see drun --help"));
  }

  TEST_CASE("a bad --cpu-quota or --net-delay value is a usage error that shows the value") {
    for (std::string bad : {"0", "-1", "abc", "1.5x", "0.001", ""}) {
      auto result = drust_test::run_process(
          {drun, "-n", "1", "--cpu-quota", bad, exit_status_app, "0"}, run_limit);
      INFO("value '" << bad << "' stderr: " << result.err);
      CHECK(result.exit_code == 2);
      CHECK(contains(
          result.err,
          "drun: --cpu-quota must be a number of cores of at least 0.01, e.g. 0.25, 1 or 1.5; "
          "got \"" +
              bad + "\"; see drun --help"));
    }
    for (std::string bad : {"20", "5parsecs", "0ms", "11s"}) {
      auto result = drust_test::run_process(
          {drun, "-n", "2", "--netns", "--net-delay", bad, exit_status_app, "0"}, run_limit);
      INFO("value '" << bad << "' stderr: " << result.err);
      CHECK(result.exit_code == 2);
      CHECK(contains(
          result.err,
          "drun: --net-delay must be a time with a unit (us, ms or s), from 1us to 10s, e.g. "
          "100us, 1ms or 20ms; got \"" +
              bad + "\""));
    }
  }

  TEST_CASE("without a writable cgroup, --cpu-quota says what it tried and how to fix it") {
    if (::geteuid() != 0 || !command_works("setpriv --version")) {
      MESSAGE("needs root and setpriv to run drun as an unprivileged user: not checked");
      return;
    }
    auto result =
        drust_test::run_process({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 drun, "-n", "1", "--cpu-quota", "1", exit_status_app, "0"},
                                run_limit);
    INFO("stderr: " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(contains(
        result.err,
        "drun: --cpu-quota needs a cgroup with the cpu controller that drun may write, and "
        "found none (tried cgroup v"));
    CHECK(contains(
        result.err,
        "run drun as root, or delegate a cgroup to your user and name it in DRUST_CGROUP_PARENT"));
  }

  TEST_CASE("--cpu-quota and --netns refuse a cluster file with remote hosts") {
    std::string path = "/tmp/drust-simulation-test-" + std::to_string(::getpid()) + ".json";
    std::ofstream(path)
        << R"({"controller": "10.0.0.1:0", "nodes": [{"host": "localhost", "cores": 1},
                                                                     {"host": "b.example", "cores": 1}]})";
    for (std::string option : {"--cpu-quota", "--netns"}) {
      std::vector<std::string> argv = {drun, "--cluster", path, option};
      if (option == "--cpu-quota") argv.push_back("1");
      argv.push_back(exit_status_app);
      auto result = drust_test::run_process(argv, run_limit);
      INFO(option << " stderr: " << result.err);
      CHECK(result.exit_code == 1);
      CHECK(contains(
          result.err,
          "drun: " + option + " simulates a cluster on this machine, but " + path +
              " has nodes on other hosts (nodes[1] on \"b.example\"): run a simulated cluster "
              "with -n N, or a real one without these options"));
    }
    fs::remove(path);
  }
}

TEST_SUITE("cpu_quota") {
  TEST_CASE(
      "a node under --cpu-quota 0.2 that spins for 1 s of wall time gets about 0.2 s of CPU") {
    auto result = drust_test::run_process(
        {drun, "--verbose", "-n", "2", "--cpu-quota", "0.2", cpu_burn_app, "1000"}, run_limit);
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    const std::string job_id = job_id_in(result.err);
    REQUIRE(!job_id.empty());
    // The node ran in the job's cgroup for node 0, with 20 ms per 100 ms period.
    CHECK(contains(result.out, "cgroup=/drust-" + job_id + "/node-0 quota=20000"));
    auto cpu = number_after(result.out, "cpu_s");
    REQUIRE(cpu.has_value());
    // Unconstrained, the spin would take about 1 s of CPU; the quota allows 0.2 s (plus at most one
    // period's worth at the start). A bound, not a speed measurement.
    CHECK(*cpu < 0.5);
    CHECK(contains(result.err, "drun: removed the cgroup "));
    CHECK_MESSAGE(cgroups_of(job_id).empty(), "left: " << joined(cgroups_of(job_id)));
  }

  TEST_CASE(
      "an unprivileged user with a delegated cgroup (DRUST_CGROUP_PARENT) gets the quota below "
      "it") {
    // Delegation as cgroup v1 has it: the user owns a cgroup directory and its procs files. (In
    // v2 the user must also own the cgroup drun starts in, which a test cannot arrange.)
    std::string root;
    for (const std::string& hierarchy : cpu_hierarchies()) {
      if (!fs::exists(hierarchy + "/cgroup.controllers")) root = hierarchy;
    }
    if (root.empty() || !command_works("setpriv --version")) {
      MESSAGE("needs a cgroup v1 cpu hierarchy and setpriv (util-linux): not checked");
      return;
    }
    std::string delegated = root + "/drust-test-delegated-" + std::to_string(::getpid());
    REQUIRE(::mkdir(delegated.c_str(), 0755) == 0);
    for (std::string file : {"", "/cgroup.procs", "/tasks"})
      CHECK(::chown((delegated + file).c_str(), 65534, 65534) == 0);
    auto result = drust_test::run_process(
        {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", drun, "--verbose", "-n",
         "2", "--cpu-quota", "0.2", cpu_burn_app, "500"},
        run_limit, {"DRUST_CGROUP_PARENT=" + delegated});
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code == 0);
    const std::string job_id = job_id_in(result.err);
    CHECK(contains(result.out, "cgroup=" + delegated.substr(root.size()) + "/drust-" + job_id +
                                   "/node-0 quota=20000"));
    CHECK_FALSE(fs::exists(delegated + "/drust-" + job_id));
    CHECK(::rmdir(delegated.c_str()) == 0);
  }

  TEST_CASE("SIGTERM to drun: the nodes stop and the job's cgroups (mode 0700) are removed") {
    drust_test::background_process job_process(
        {drun, "--verbose", "-n", "2", "--cpu-quota", "0.5", sleeper_app, "60000"});
    started_job job = drust_test::wait_until_started(job_process, 30s);
    REQUIRE(cgroups_of(job.job_id).size() == 1);
    // Mode 0700, as every file of a job: other users do not list its processes or read its counters.
    const std::string job_directory = cgroups_of(job.job_id).front();
    for (const std::string& directory : {job_directory, job_directory + "/node-0", job_directory + "/node-1"}) {
      struct stat status {};
      REQUIRE(::stat(directory.c_str(), &status) == 0);
      CHECK_MESSAGE((status.st_mode & 07777) == 0700, directory);
    }
    job_process.signal(SIGTERM);
    auto result = job_process.wait(run_limit);
    INFO("stderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 128 + SIGTERM);
    check_nothing_left(job);
    CHECK_MESSAGE(cgroups_of(job.job_id).empty(), "left: " << joined(cgroups_of(job.job_id)));
  }

  TEST_CASE("a node killed mid-run: the job stops and its cgroups are removed") {
    started_job job = kill_a_node_mid_run({"--cpu-quota", "0.5"}, 1);
    CHECK_MESSAGE(cgroups_of(job.job_id).empty(), "left: " << joined(cgroups_of(job.job_id)));
  }

  TEST_CASE("drun killed by SIGKILL leaves its cgroups; the next drun removes them") {
    drust_test::background_process job_process(
        {drun, "--verbose", "-n", "2", "--cpu-quota", "0.5", sleeper_app, "60000"});
    started_job job = drust_test::wait_until_started(job_process, 30s);
    job_process.signal(SIGKILL);
    auto killed = job_process.wait(run_limit);
    REQUIRE_FALSE(killed.timed_out);
    CHECK(cgroups_of(job.job_id).size() == 1);  // nobody was left to remove them

    auto next =
        drust_test::run_process({drun, "--verbose", "-n", "1", exit_status_app, "0"}, run_limit);
    INFO("next drun's stderr: " << next.err);
    CHECK(next.exit_code == 0);
    CHECK(contains(next.err, "drun: removed the cgroup of a dead job: "));
    CHECK_MESSAGE(cgroups_of(job.job_id).empty(), "left: " << joined(cgroups_of(job.job_id)));
    check_nothing_left(job);  // the nodes died with drun (PR_SET_PDEATHSIG)
  }
}

TEST_SUITE("netns") {
  TEST_CASE("--netns: nodes in their own namespaces, traffic crosses eth0, and nothing is left") {
    auto result = drust_test::run_process(
        {drun, "--verbose", "-n", "2", "--netns", netns_app, "traffic"}, run_limit);
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    const std::string job_id = job_id_in(result.err);
    REQUIRE(!job_id.empty());
    CHECK(contains(result.err, "drun: provider tcp;ofi_rxm"));

    // Each node sees only its loopback and its own eth0, at the address drun gave it.
    for (int node : {0, 1}) {
      auto planned = drust_test::search(result.err, "drun: network: node " + std::to_string(node) +
                                                        " in namespace drust-" + job_id + "-n" + std::to_string(node) +
                                                        R"( at (10\.\d+\.\d+\.\d+) \(eth0\))");
      REQUIRE(planned.has_value());
      const std::string address = (*planned)[1];
      CHECK(contains(result.out, "interfaces node=" + std::to_string(node) +
                                     " lo=127.0.0.1,eth0=" + address + "\n"));
      // The node joined the controller (on the bridge) from that address, not from loopback.
      CHECK(contains(result.err, "said hello from " + address + ":"));
    }
    CHECK(drust_test::matches(result.err, R"(drun: controller (10\.\d+\.\d+\.\d+):\d+)"));
    CHECK(contains(result.out, "sum node=1 value=" + std::to_string(3L * 256 * 1024) + "\n"));
    // Node 1 read node 0's 2 MiB vector through node 0's eth0.
    auto sent = number_after(result.out, "tx_bytes");
    REQUIRE(sent.has_value());
    CHECK(*sent >= 2.0 * 1024 * 1024);
    CHECK_MESSAGE(network_of(job_id).empty(), "left: " << joined(network_of(job_id)));
  }

  TEST_CASE("SIGTERM to drun: the namespaces, veths and bridge are removed") {
    drust_test::background_process job_process(
        {drun, "--verbose", "-n", "2", "--netns", sleeper_app, "60000"});
    started_job job = drust_test::wait_until_started(job_process, 30s);
    CHECK(network_of(job.job_id).size() == 5);  // 2 namespaces, 2 veths, the bridge
    job_process.signal(SIGTERM);
    auto result = job_process.wait(run_limit);
    INFO("stderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 128 + SIGTERM);
    check_nothing_left(job);
    CHECK_MESSAGE(network_of(job.job_id).empty(), "left: " << joined(network_of(job.job_id)));
  }

  TEST_CASE("a node killed mid-run: the job stops and its network is removed") {
    started_job job = kill_a_node_mid_run({"--netns"}, 2);
    CHECK_MESSAGE(network_of(job.job_id).empty(), "left: " << joined(network_of(job.job_id)));
  }

  TEST_CASE("drun killed by SIGKILL leaves its network; the next drun removes it") {
    drust_test::background_process job_process(
        {drun, "--verbose", "-n", "2", "--netns", sleeper_app, "60000"});
    started_job job = drust_test::wait_until_started(job_process, 30s);
    job_process.signal(SIGKILL);
    auto killed = job_process.wait(run_limit);
    REQUIRE_FALSE(killed.timed_out);
    CHECK(network_of(job.job_id).size() == 5);

    auto next =
        drust_test::run_process({drun, "--verbose", "-n", "1", exit_status_app, "0"}, run_limit);
    INFO("next drun's stderr: " << next.err);
    CHECK(next.exit_code == 0);
    CHECK(
        contains(next.err, "drun: removed the network of a dead job: drust-" + job.job_id + "-n0"));
    CHECK_MESSAGE(network_of(job.job_id).empty(), "left: " << joined(network_of(job.job_id)));
    check_nothing_left(job);
  }
}

TEST_SUITE("net_delay") {
  TEST_CASE("--net-delay 20ms: a round trip between two nodes takes at least 20 ms") {
    auto result = drust_test::run_process(
        {drun, "--verbose", "-n", "2", "--netns", "--net-delay", "20ms", netns_app, "roundtrip"},
        run_limit);
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    const std::string job_id = job_id_in(result.err);
    REQUIRE(!job_id.empty());
    if (kernel_has_netem()) {
      CHECK(result.exit_code == 0);
      auto round_trip = number_after(result.out, "roundtrip_ms");
      REQUIRE(round_trip.has_value());
      // netem holds every packet a node sends for 20 ms: a lower bound the kernel enforces.
      CHECK(*round_trip >= 20.0);
    } else {
      // This kernel has no netem: drun must say so, name the module, and start nothing.
      MESSAGE("this kernel has no netem qdisc: checking drun's error instead of the delay");
      CHECK(result.exit_code == 1);
      CHECK(contains(result.err,
                     "--net-delay needs the netem queueing discipline, which this kernel lacks"));
      CHECK(contains(result.err, "load the sch_netem kernel module (modprobe sch_netem)"));
    }
    CHECK_MESSAGE(network_of(job_id).empty(), "left: " << joined(network_of(job_id)));
  }
}

int main(int argc, char** argv) {
  std::string part;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument.rfind("--test-suite=", 0) == 0) part = argument.substr(13);
  }
  if (std::string missing = missing_facility(part); !missing.empty()) {
    std::printf("SKIP %s: %s\n", part.c_str(), missing.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
