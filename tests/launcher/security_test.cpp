// The security of a job (issue 6, item 3; docs/RELIABILITY.md, "Security of a job"): the cookie
// travels to remote nodes on ssh's stdin and is never on a command line nor in drun's output; a
// node keeps no copy of it for the processes it starts; the controller listens only where the
// nodes need it; the files of a job are mode 0600; drun's helper commands run in their own process
// group. A stranger refused by the controller is tested in controller_test.cpp and drun_test.cpp.
//
// Two parts (meson runs each as its own test): "local" needs nothing; "netns" needs root and
// network namespaces and exits 77 (meson's skip) without them, saying why.
#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "drun_job.hpp"
#include "helper_commands.hpp"
#include "job_lock.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using drust_test::contains;

namespace {

const std::string drun = drust_test::env_or("DRUN", "drun");
const std::string fake_node = drust_test::env_or("FAKE_NODE", "fake_node");
const std::string cookie_app = drust_test::env_or("COOKIE_APP", "cookie_app");
const std::string sleeper_app = drust_test::env_or("SLEEPER_APP", "sleeper_app");
const std::string recording_ssh_directory = drust_test::env_or("RECORDING_SSH_DIR", "recording_ssh");
constexpr auto run_limit = 60s;  // for any one drun run in this file

fs::path scratch_directory(const std::string& name) {
  fs::path directory = fs::temp_directory_path() / ("security-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(directory);
  fs::create_directories(directory);
  return directory;
}

std::string read_file(const fs::path& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

fs::path write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// The pids whose command line (what `ps` shows every user) contains `secret`.
std::vector<pid_t> command_lines_containing(const std::string& secret) {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* entry = ::readdir(proc)) {
    const std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (contains(read_file("/proc/" + name + "/cmdline"), secret)) found.push_back(std::stoi(name));
  }
  ::closedir(proc);
  return found;
}

// The addresses ("a.b.c.d:port", or the raw hex of an IPv6 one) on which process `pid` listens
// for TCP connections: its socket inodes matched against its network namespace's TCP tables.
std::set<std::string> listening_addresses(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::set<std::string> inodes;
  for (const auto& entry : fs::directory_iterator(proc + "/fd")) {
    std::error_code error;
    std::string target = fs::read_symlink(entry.path(), error).string();
    if (!error && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<std::string> addresses;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::istringstream lines(read_file(proc + table));
    std::string line;
    std::getline(lines, line);  // the header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state != "0A" || inodes.count(inode) == 0) continue;  // 0A: LISTEN
      const std::string host = local.substr(0, local.find(':'));
      const int port = std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
      if (host.size() != 8) {
        addresses.insert("[" + host + "]:" + std::to_string(port));
        continue;
      }
      // The kernel prints the address as a number in host (little-endian) order.
      const unsigned long value = std::stoul(host, nullptr, 16);
      addresses.insert(std::to_string(value & 0xff) + "." + std::to_string((value >> 8) & 0xff) + "." +
                       std::to_string((value >> 16) & 0xff) + "." + std::to_string((value >> 24) & 0xff) + ":" +
                       std::to_string(port));
    }
  }
  return addresses;
}

std::string joined(const std::set<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += word + " ";
  return text;
}

// The mode bits (permissions, setuid/setgid/sticky) of `path`, or -1 when it cannot be stat'ed.
int mode_of(const std::string& path) {
  struct stat status {};
  return ::stat(path.c_str(), &status) == 0 ? static_cast<int>(status.st_mode & 07777) : -1;
}

}  // namespace

TEST_SUITE("local") {
  TEST_CASE("remote nodes get the cookie on ssh's stdin, never on a command line, with dash and with bash") {
    for (const std::string shell : {"/bin/dash", "/bin/bash"}) {
      CAPTURE(shell);
      fs::path directory = scratch_directory("stdin");
      fs::path log = directory / "ssh.log";
      // Node 0 (which reads drun's stdin) and node 2 are remote, node 1 is local.
      fs::path cluster = write_file(directory / "cluster.json", R"({"controller": "127.0.0.1:0",
          "nodes": [{"host": "remote-a", "cores": 1}, {"host": "localhost", "cores": 1},
                    {"host": "remote-b", "cores": 1}]})");
      // drun's stdin: two lines, the second without its newline, to show that it all arrives.
      drust_test::background_process job(
          {"sh", "-c", "printf 'first line\\nsecond' | exec \"$@\"", "sh", drun, "--verbose", "--cluster",
           cluster.string(), fake_node, "--print-env", "--echo-stdin", "--sleep-ms=3000"},
          {"PATH=" + recording_ssh_directory + ":" + drust_test::env_or("PATH", "/usr/bin:/bin"),
           "RECORDING_SSH_LOG=" + log.string(), "REMOTE_SHELL=" + shell});
      auto cookie_line = job.wait_for_line(
          [](const std::string& line) { return contains(line, "node 0 DRUST_COOKIE="); }, run_limit);
      REQUIRE(cookie_line.has_value());
      auto match = drust_test::search(*cookie_line, "DRUST_COOKIE=([0-9a-f]{32})$");
      REQUIRE(match.has_value());
      const std::string cookie = (*match)[1];
      // While the job runs (node 0 sleeps 3 s once it started): no process shows the cookie.
      REQUIRE(job.wait_for_stderr_line(
                     [](const std::string& line) { return contains(line, "every node is ready"); }, run_limit)
                  .has_value());
      std::vector<pid_t> showing = command_lines_containing(cookie);
      CHECK_MESSAGE(showing.empty(), showing.size() << " processes show the cookie on their command line");

      auto result = job.wait(run_limit);
      INFO("stdout: " << result.out << "\nstderr: " << result.err);
      REQUIRE_FALSE(result.timed_out);
      CHECK(result.exit_code == 0);
      for (int node : {0, 1, 2}) {
        CHECK(contains(result.out, "node " + std::to_string(node) + " DRUST_COOKIE=" + cookie + "\n"));
      }
      // Node 0 reads what followed the cookie line, to the end; the other nodes read nothing.
      CHECK(contains(result.out, "node 0 stdin [first line\nsecond]\n"));
      CHECK(contains(result.out, "node 1 stdin []\n"));
      CHECK(contains(result.out, "node 2 stdin []\n"));

      const std::string ssh_runs = read_file(log);
      CHECK(contains(ssh_runs, "remote-a IFS= read -r DRUST_COOKIE && export DRUST_COOKIE && exec env DRUST_JOB="));
      CHECK(contains(ssh_runs, "remote-b IFS= read -r DRUST_COOKIE"));
      CHECK_FALSE(contains(ssh_runs, cookie));
      CHECK_FALSE(contains(result.err, cookie));  // drun --verbose
      fs::remove_all(directory);
    }
  }

  TEST_CASE("a drust node keeps no DRUST_COOKIE for its children, and drun --verbose --stats never prints it") {
    fs::path directory = scratch_directory("cookie-app");
    fs::path cookie_file = directory / "cookie";
    auto result = drust_test::run_process(
        {drun, "--verbose", "--stats", "-n", "2", "--heap", "64MiB", cookie_app, cookie_file.string()}, run_limit);
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    const std::string cookie = read_file(cookie_file);
    REQUIRE(drust_test::matches_whole(cookie, "[0-9a-f]{32}"));
    CHECK(contains(result.out, "node 0: started with a cookie: yes\n"));
    CHECK(contains(result.out, "node 0: DRUST_COOKIE in its environment now: no\n"));
    CHECK(contains(result.out, "child: no DRUST_COOKIE\n"));
    CHECK(contains(result.err, "drun: controller 127.0.0.1:"));  // --verbose did print
    CHECK_FALSE(contains(result.out, cookie));
    CHECK_FALSE(contains(result.err, cookie));
    fs::remove_all(directory);
  }

  TEST_CASE("a one-host job's controller listens on loopback only, and its /dev/shm files are mode 0600") {
    drust_test::background_process job({drun, "--verbose", "-n", "2", "--heap", "64MiB", sleeper_app, "60000"});
    drust_test::started_job started = drust_test::wait_until_started(job, run_limit);
    std::set<std::string> listening = listening_addresses(job.pid());
    INFO("drun listens on: " << joined(listening));
    REQUIRE(listening.size() == 1);
    CHECK(listening.begin()->rfind("127.0.0.1:", 0) == 0);
    CHECK(job.wait_for_stderr_line(
                 [&](const std::string& line) { return line == "drun: controller " + *listening.begin(); }, 1s)
              .has_value());

    std::vector<std::string> files = drust_test::shm_files_with_prefix("drust-" + started.job_id + "-");
    REQUIRE_FALSE(files.empty());  // the shm provider's regions and the doorbells
    for (const std::string& file : files) {
      CAPTURE(file);
      CHECK(mode_of("/dev/shm/" + file) == 0600);
    }
    job.signal(SIGTERM);
    auto result = job.wait(run_limit);
    REQUIRE_FALSE(result.timed_out);
    drust_test::check_nothing_left(started);
  }

  TEST_CASE("a lock file another user made, or a link in its place, is refused with its name and the fix") {
    // /run/drust is 1777 like /tmp: another user could make network.lock first and keep it locked
    // to block every --netns job, or put a link there. open_lock_file is checked in a directory
    // of the same kind (root's, 1777), so that the machine's own /run/drust is left alone.
    if (::geteuid() != 0) {
      MESSAGE("needs root, to make a directory like /run/drust and a file of another user: not checked");
      return;
    }
    const fs::path directory = scratch_directory("locks");
    REQUIRE(::chmod(directory.c_str(), 01777) == 0);
    const std::string path = (directory / "network.lock").string();

    {  // drun's own file: taken, and made 0600 if an older drun left it 0666
      write_file(path, "");
      REQUIRE(::chmod(path.c_str(), 0666) == 0);
      auto opened = drust::launcher::open_lock_file(path);
      REQUIRE(opened.ok());
      ::close(*opened);
      CHECK(mode_of(path) == 0600);
      fs::remove(path);
    }
    {  // another user's file
      write_file(path, "");
      REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
      auto opened = drust::launcher::open_lock_file(path);
      REQUIRE_FALSE(opened.ok());
      const std::string message(opened.status().message());
      INFO(message);
      CHECK(contains(message, path + " belongs to uid 65534"));
      CHECK(contains(message, "another user may have made it to block drun's jobs; as root, remove it (rm " + path + ")"));
      fs::remove(path);
    }
    {  // a symbolic link: never followed
      const fs::path target = directory / "target";
      write_file(target, "keep");
      fs::create_symlink(target, path);
      auto opened = drust::launcher::open_lock_file(path);
      REQUIRE_FALSE(opened.ok());
      CHECK(contains(std::string(opened.status().message()), path + " is a symbolic link, which drun never follows there"));
      CHECK(read_file(target) == "keep");
      fs::remove(path);
    }
    {  // a directory without the sticky bit: anyone could replace drun's files in it
      REQUIRE(::chmod(directory.c_str(), 0777) == 0);
      auto opened = drust::launcher::open_lock_file(path);
      REQUIRE_FALSE(opened.ok());
      CHECK(contains(std::string(opened.status().message()),
                     directory.string() + " is not a root-owned directory with the sticky bit"));
      CHECK_FALSE(fs::exists(path));
    }
    fs::remove_all(directory);
  }

  TEST_CASE("drun's helper commands run in a process group of their own") {
    // A Ctrl-C to drun's group must not kill an `ip` or `tc` half way (docs/simulation.md).
    auto results = drust::launcher::run_helper_commands({{"sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"}}, 10s);
    REQUIRE(results.size() == 1);
    REQUIRE(results[0].exit_status == 0);
    std::istringstream output(results[0].output);
    pid_t helper = 0;
    pid_t group = 0;
    output >> helper >> group;
    CHECK(helper > 0);
    CHECK(group == helper);
    CHECK(group != ::getpgrp());
  }
}

TEST_SUITE("netns") {
  TEST_CASE("--netns: the controller listens on the bridge address only, and the job's lock files are mode 0600") {
    drust_test::background_process job({drun, "--verbose", "-n", "2", "--netns", "--heap", "64MiB", sleeper_app, "60000"});
    drust_test::started_job started = drust_test::wait_until_started(job, run_limit);
    auto bridge_line = job.wait_for_stderr_line(
        [](const std::string& line) { return contains(line, "drun: network: bridge "); }, 1s);
    REQUIRE(bridge_line.has_value());
    auto match = drust_test::search(*bridge_line, R"( at (\d+\.\d+\.\d+\.\d+))");
    REQUIRE(match.has_value());
    const std::string bridge_address = (*match)[1];
    std::set<std::string> listening = listening_addresses(job.pid());
    INFO("drun listens on: " << joined(listening) << "; the bridge is at " << bridge_address);
    REQUIRE(listening.size() == 1);
    CHECK(listening.begin()->rfind(bridge_address + ":", 0) == 0);

    CHECK(mode_of("/run/drust/" + started.job_id + ".lock") == 0600);
    CHECK(mode_of("/run/drust/network.lock") == 0600);
    job.signal(SIGTERM);
    auto result = job.wait(run_limit);
    REQUIRE_FALSE(result.timed_out);
    drust_test::check_nothing_left(started);
  }
}

int main(int argc, char** argv) {
  std::string part;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument.rfind("--test-suite=", 0) == 0) part = argument.substr(13);
  }
  if (part == "netns") {
    std::string probe = "drust-probe-" + std::to_string(::getpid());
    std::string why;
    if (::geteuid() != 0) {
      why = "not root: network namespaces need root";
    } else if (std::system(("ip netns add " + probe + " >/dev/null 2>&1").c_str()) != 0) {
      why = "cannot create a network namespace (ip netns add)";
    }
    std::system(("ip netns delete " + probe + " >/dev/null 2>&1").c_str());
    if (!why.empty()) {
      std::printf("SKIP netns: %s\n", why.c_str());
      return 77;
    }
  }
  doctest::Context context(argc, argv);
  return context.run();
}
