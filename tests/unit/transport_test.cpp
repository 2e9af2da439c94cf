// The transport between two real processes (a fork), on shm and on tcp;ofi_rxm: active-message
// round trips, one-sided reads and writes of exposed memory, and a killed peer.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <thread>
#include <cstring>
#include <string>
#include <vector>

#include "blob_pipe.hpp"
#include "fabric/transport.hpp"

namespace fabric = drust::fabric;
using namespace std::chrono_literals;

namespace {

constexpr fabric::message_kind echo_kind = fabric::first_user_kind;
constexpr fabric::message_kind note_kind = fabric::first_user_kind + 1;
constexpr fabric::message_kind upper_kind = fabric::first_user_kind + 2;
// Answers after sleeping 3 ms: a wait no spin window covers.
constexpr fabric::message_kind slow_kind = fabric::first_user_kind + 3;
constexpr std::size_t exposed_bytes = 2u << 20;

using drust_test::read_blob;
using drust_test::write_blob;

// One side of a two-node job: a transport, its exposed memory, and the peer's description.
struct side {
  std::unique_ptr<fabric::transport> transport;
  std::vector<std::byte> memory = std::vector<std::byte>(exposed_bytes);
  fabric::memory_region region;
};

std::string describe(const side& s) {
  std::string blob = s.transport->address();
  blob.append(reinterpret_cast<const char*>(&s.region.base), sizeof s.region.base);
  blob.append(reinterpret_cast<const char*>(&s.region.key), sizeof s.region.key);
  return blob;
}

fabric::peer_info peer_from(const std::string& blob, int pid) {
  fabric::peer_info peer;
  std::size_t address_bytes = blob.size() - 16;
  peer.address = blob.substr(0, address_bytes);
  std::memcpy(&peer.region.base, blob.data() + address_bytes, 8);
  std::memcpy(&peer.region.key, blob.data() + address_bytes + 8, 8);
  peer.host = "localhost";
  peer.pid = pid;
  return peer;
}

// Both sides of a pair run in this progress mode (set before the fork).
fabric::progress_mode pair_progress = fabric::progress_mode::adaptive;

side open_side(const std::string& provider, const std::string& job, int node, std::chrono::milliseconds timeout) {
  side s;
  fabric::transport_options options;
  options.endpoint.provider = provider;
  options.endpoint.job = job;
  options.endpoint.node = node;
  options.cookie = fabric::fold_cookie("0123456789abcdef");
  options.operation_timeout = timeout;
  options.progress = pair_progress;
  auto opened = fabric::transport::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  s.transport = std::move(*opened);
  for (std::size_t i = 0; i < s.memory.size(); ++i) s.memory[i] = static_cast<std::byte>((i * 7 + static_cast<std::size_t>(node)) & 0xff);
  auto region = s.transport->expose(s.memory.data(), s.memory.size());
  REQUIRE_MESSAGE(region.ok(), region.status().ToString());
  s.region = *region;
  return s;
}

// The child: node 1. Serves echo requests until told to exit on its pipe.
[[noreturn]] void run_child(const std::string& provider, const std::string& job, int to_parent, int from_parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  side s = open_side(provider, job, 1, 5000ms);
  s.transport->on_request(echo_kind, [](const fabric::incoming_message& m) -> absl::StatusOr<std::string> {
    std::string reply(m.payload.rbegin(), m.payload.rend());
    return reply;
  });
  // A handler that writes into the transport's reply buffer; an error comes back as an error.
  s.transport->on_request(upper_kind, fabric::reply_handler([](const fabric::incoming_message& m, std::string& reply) {
    if (m.payload.empty()) return absl::InvalidArgumentError("nothing to shout");
    for (char c : m.payload) reply.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return absl::OkStatus();
  }));
  s.transport->on_request(slow_kind, [](const fabric::incoming_message&) -> absl::StatusOr<std::string> {
    std::this_thread::sleep_for(3ms);
    return std::string("late");
  });
  write_blob(to_parent, describe(s));
  std::string parent = read_blob(from_parent);
  std::vector<fabric::peer_info> peers{peer_from(parent, ::getppid()), peer_from(describe(s), ::getpid())};
  REQUIRE(s.transport->connect(peers).ok());
  write_blob(to_parent, "connected");
  char stop;
  (void)::read(from_parent, &stop, 1);  // EOF or a byte: the parent is done
  s.transport->stop();
  ::_exit(0);
}

struct pair_fixture {
  side self;
  pid_t child = -1;
  int to_child = -1;
  int from_child = -1;
  std::uint64_t child_base = 0;  // where the child's exposed memory starts
  fabric::peer_info child_peer;

  std::string job;

  explicit pair_fixture(const std::string& provider, std::chrono::milliseconds timeout = 5000ms) {
    static int fixtures = 0;
    job = "t" + std::to_string(::getpid()) + "x" + std::to_string(++fixtures);
    int up[2], down[2];
    REQUIRE(::pipe(up) == 0);
    REQUIRE(::pipe(down) == 0);
    child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(up[0]);
      ::close(down[1]);
      run_child(provider, job, up[1], down[0]);
    }
    ::close(up[1]);
    ::close(down[0]);
    from_child = up[0];
    to_child = down[1];
    self = open_side(provider, job, 0, timeout);
    std::string child_blob = read_blob(from_child);
    write_blob(to_child, describe(self));
    std::vector<fabric::peer_info> peers{peer_from(describe(self), ::getpid()), peer_from(child_blob, child)};
    child_base = peers[1].region.base;
    child_peer = peers[1];
    REQUIRE(self.transport->connect(peers).ok());
    REQUIRE(read_blob(from_child) == "connected");
  }

  ~pair_fixture() {
    if (self.transport) self.transport->stop();
    ::close(to_child);
    ::close(from_child);
    if (child > 0) {
      // Give the child a moment to leave by itself, then make sure.
      for (int i = 0; i < 200 && ::waitpid(child, nullptr, WNOHANG) == 0; ++i) ::usleep(10000);
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
    // What a killed child could not remove, as drun does for a job.
    std::string prefix = "drust-" + job + "-";
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(entry.path());
    }
  }
};

void check_round_trip_and_rma(const std::string& provider) {
  pair_fixture pair(provider);
  auto& t = *pair.self.transport;

  auto reply = t.call(1, echo_kind, "hello, node 1");
  REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
  CHECK(*reply == "1 edon ,olleh");

  std::string large(40000, 'x');
  large[0] = 'a';
  auto large_reply = t.call(1, echo_kind, large);
  REQUIRE(large_reply.ok());
  CHECK(large_reply->size() == large.size());
  CHECK(large_reply->back() == 'a');

  // The reply-buffer forms: the caller's string is overwritten (not appended to) and reused.
  std::string reply_buffer = "left over";
  REQUIRE(t.call(1, upper_kind, "quiet", reply_buffer).ok());
  CHECK(reply_buffer == "QUIET");
  REQUIRE(t.call(1, upper_kind, "again", reply_buffer).ok());
  CHECK(reply_buffer == "AGAIN");
  absl::Status refused = t.call(1, upper_kind, "", reply_buffer);
  CHECK_FALSE(refused.ok());
  CHECK(std::string(refused.message()).find("nothing to shout") != std::string::npos);

  // The child filled its memory with (i * 7 + 1) & 0xff.
  for (std::size_t length : {std::size_t{64}, std::size_t{4096}, std::size_t{1} << 20}) {
    CAPTURE(length);
    std::vector<std::byte> local(length);
    // Read from an offset, to check addressing within the region.
    const std::size_t offset = 4096 + 8;
    auto read = t.read(1, local.data(), length, pair.child_base + offset);
    REQUIRE_MESSAGE(read.ok(), read.ToString());
    bool same = true;
    for (std::size_t i = 0; i < length; ++i) {
      same = same && local[i] == static_cast<std::byte>(((offset + i) * 7 + 1) & 0xff);
    }
    CHECK(same);
  }

  // A write, read back.
  std::string text = "written by node 0";
  REQUIRE(t.write(1, text.data(), text.size(), pair.child_base + 100).ok());
  std::string back(text.size(), '\0');
  REQUIRE(t.read(1, back.data(), back.size(), pair.child_base + 100).ok());
  CHECK(back == text);
  CHECK(t.counters().bytes_read.load() > (1u << 20));
}

}  // namespace

void check_killed_peer(const std::string& provider) {
  pair_fixture pair(provider, 3000ms);
  auto& t = *pair.self.transport;
  REQUIRE(t.call(1, echo_kind, "alive?").ok());
  REQUIRE(::kill(pair.child, SIGKILL) == 0);
  REQUIRE(::waitpid(pair.child, nullptr, 0) == pair.child);
  pair.child = -1;

  auto started = std::chrono::steady_clock::now();
  auto reply = t.call(1, echo_kind, "anyone there?");
  CHECK_FALSE(reply.ok());
  std::vector<std::byte> local(4096);
  auto read = t.read(1, local.data(), local.size(), pair.child_base);
  CHECK_FALSE(read.ok());
  auto waited = std::chrono::steady_clock::now() - started;
  // Bounded: the operation timeout (3 s) at most, plus slack; usually the liveness check fires in
  // tens of milliseconds.
  CHECK(waited < 6s);
  MESSAGE("error after a killed peer: ", reply.status().ToString());
  CHECK(std::string(reply.status().message()).find("node 1") != std::string::npos);
}

TEST_CASE("shm: active-message round trip and one-sided read and write") { check_round_trip_and_rma("shm"); }
TEST_CASE("tcp;ofi_rxm: active-message round trip and one-sided read and write") {
  check_round_trip_and_rma("tcp;ofi_rxm");
}
void check_concurrent_callers(const std::string& provider) {
  pair_fixture pair(provider);
  auto& t = *pair.self.transport;
  constexpr int callers = 6;
  constexpr int calls_each = 400;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < calls_each; ++i) {
        std::string request = "caller " + std::to_string(c) + " call " + std::to_string(i);
        auto reply = t.call(1, echo_kind, request);
        if (!reply.ok() || *reply != std::string(request.rbegin(), request.rend())) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // Every reply reached the caller that asked, whichever thread polled it off the queue.
  CHECK(wrong == 0);
}

TEST_CASE("progress mode spin (a CQ without wait object): round trips, reads and writes on tcp;ofi_rxm and shm") {
  pair_progress = fabric::progress_mode::spin;
  check_round_trip_and_rma("tcp;ofi_rxm");
  check_round_trip_and_rma("shm");
  pair_progress = fabric::progress_mode::adaptive;
}

TEST_CASE("progress mode sleep (fixed spin windows): round trips, reads and writes on tcp;ofi_rxm and shm") {
  pair_progress = fabric::progress_mode::sleep;
  check_round_trip_and_rma("tcp;ofi_rxm");
  check_round_trip_and_rma("shm");
  pair_progress = fabric::progress_mode::adaptive;
}

// Every caller's wait reports its length to the spin budget (fabric/spin_budget.hpp): replies that
// take 3 ms are long waits, in the adaptive mode as in the fixed one, and calls go on working
// once the budget has stopped the spinning.
void check_long_waits_counted(const std::string& provider) {
  pair_fixture pair(provider);
  fabric::transport& t = *pair.self.transport;
  const std::uint64_t long_before = t.long_waits();
  constexpr int slow_calls = 6;
  for (int i = 0; i < slow_calls; ++i) {
    auto reply = t.call(1, slow_kind, "x");
    REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
    CHECK(*reply == "late");
  }
  CHECK(t.long_waits() - long_before >= slow_calls);
  const std::uint64_t all_before = t.short_waits() + t.long_waits();
  for (int i = 0; i < 20; ++i) {
    auto reply = t.call(1, echo_kind, "abc");
    REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
    CHECK(*reply == "cba");
  }
  // Each call is one wait of its caller (the progress thread's waits may add more).
  CHECK(t.short_waits() + t.long_waits() - all_before >= 20);
}

TEST_CASE("adaptive and sleep mode: callers' waits are counted, long ones as long, and calls go on working") {
  check_long_waits_counted("shm");
  pair_progress = fabric::progress_mode::sleep;
  check_long_waits_counted("shm");
  pair_progress = fabric::progress_mode::adaptive;
}

TEST_CASE("DRUST_PROGRESS names the progress mode, and a bad value is an error that says what to use") {
  ::setenv("DRUST_PROGRESS", "spin", 1);
  CHECK(fabric::progress_mode_from_environment().value() == fabric::progress_mode::spin);
  ::setenv("DRUST_PROGRESS", "sleep", 1);
  CHECK(fabric::progress_mode_from_environment().value() == fabric::progress_mode::sleep);
  ::setenv("DRUST_PROGRESS", "adaptive", 1);
  CHECK(fabric::progress_mode_from_environment().value() == fabric::progress_mode::adaptive);
  ::setenv("DRUST_PROGRESS", "fast", 1);
  auto bad = fabric::progress_mode_from_environment();
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("use adaptive (the default), sleep or spin") != std::string::npos);
  ::unsetenv("DRUST_PROGRESS");
  CHECK(fabric::progress_mode_from_environment().value() == fabric::progress_mode::adaptive);
}

TEST_CASE("shm: concurrent callers each get their own replies") { check_concurrent_callers("shm"); }
TEST_CASE("tcp;ofi_rxm: concurrent callers each get their own replies") { check_concurrent_callers("tcp;ofi_rxm"); }

TEST_CASE("shm: operations towards a killed peer fail instead of hanging") { check_killed_peer("shm"); }
TEST_CASE("tcp;ofi_rxm: operations towards a killed peer fail instead of hanging") {
  check_killed_peer("tcp;ofi_rxm");
}

TEST_CASE("a message without the job's cookie is dropped") {
  pair_fixture pair("tcp;ofi_rxm");
  // A second endpoint in this process with another cookie, posing as node 0 of the same job.
  fabric::transport_options options;
  options.endpoint.provider = "tcp;ofi_rxm";
  options.endpoint.job = "stranger" + std::to_string(::getpid());
  options.endpoint.node = 0;
  options.cookie = fabric::fold_cookie("not the cookie");
  options.operation_timeout = 500ms;
  auto stranger = fabric::transport::open(options);
  REQUIRE(stranger.ok());
  fabric::peer_info me{(*stranger)->address(), {}, "localhost", ::getpid(), true};
  REQUIRE((*stranger)->connect({me, pair.child_peer}).ok());
  auto refused = (*stranger)->call(1, echo_kind, "let me in");
  CHECK_FALSE(refused.ok());
  CHECK(absl::IsDeadlineExceeded(refused.status()));
  (*stranger)->stop();
  // The real job is unaffected.
  auto reply = pair.self.transport->call(1, echo_kind, "ok");
  REQUIRE(reply.ok());
  CHECK(*reply == "ko");
}

TEST_CASE("unknown providers are refused with the list of known ones") {
  fabric::transport_options options;
  options.endpoint.provider = "ib";
  auto opened = fabric::transport::open(options);
  REQUIRE_FALSE(opened.ok());
  CHECK(std::string(opened.status().message()).find("shm, tcp;ofi_rxm") != std::string::npos);
}
