// A hostile peer that holds the job's cookie sends malformed frames to a real node; the node
// rejects each with one log line, never crashes, and serves the next valid request.
//
// Two processes (a fork): node 0 is a real transport with the real global heap attached (its
// partition reserved at the fixed base, as in a job); node 1 is a real transport plus a bare
// libfabric endpoint, from which it sends hand-made frames that no transport would build
// (truncated, lying about their length, kinds out of range, node ids out of range, unknown flags,
// a stranger's cookie). Through its transport it sends well-framed messages whose payloads are
// wrong (heap addresses outside the heap or inside it but not a block, a batch that is not whole
// words, a bad alignment, kinds nobody handles). Every wait is bounded; meson's timeout is the
// hard limit.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <rdma/fi_errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "blob_pipe.hpp"
#include "common/message_kinds.hpp"
#include "fabric/transport.hpp"
#include "heap/global_heap.hpp"
#include "heap/partition.hpp"

namespace fabric = drust::fabric;
namespace heap = drust::heap;
namespace kinds = drust::message_kinds;
using namespace std::chrono_literals;

namespace {

constexpr fabric::message_kind echo_kind = fabric::first_user_kind;
constexpr char job_cookie[] = "0123456789abcdef0123456789abcdef";
const heap::heap_layout layout{16u << 20, 2};

using drust_test::read_blob;
using drust_test::write_blob;

fabric::peer_info peer_at(const std::string& address, int pid) {
  fabric::peer_info peer;
  peer.address = address;
  peer.host = "localhost";
  peer.pid = pid;
  return peer;
}

std::unique_ptr<fabric::transport> open_transport(const std::string& provider, const std::string& job, int node) {
  fabric::transport_options options;
  options.endpoint.provider = provider;
  options.endpoint.job = job;
  options.endpoint.node = node;
  options.cookie = fabric::fold_cookie(job_cookie);
  options.operation_timeout = 5000ms;
  auto opened = fabric::transport::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  return std::move(*opened);
}

std::string frame(std::uint16_t kind, std::string_view payload, std::uint16_t flags = 0, std::uint64_t request_id = 0,
                  std::uint32_t source = 1, std::uint64_t cookie = fabric::fold_cookie(job_cookie)) {
  fabric::wire_header header{cookie, request_id, source, static_cast<std::uint32_t>(payload.size()), kind, flags, 0};
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes.append(payload);
  return bytes;
}

std::string words(std::initializer_list<std::uint64_t> values) {
  std::string bytes;
  for (std::uint64_t value : values) bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
  return bytes;
}

// Node 0's partition starts here; this address in it is no block (nothing was allocated).
const std::uint64_t inside_but_no_block = layout.partition_begin(0) + 8;

// The messages the victim must reject, each with the text its log line must hold.
struct expected_rejection {
  const char* description;
  std::string logged;
};

// An address as the log writes it; the heap's base differs under the sanitizers (partition.hpp).
std::string hex(std::uint64_t address) {
  std::ostringstream text;
  text << "0x" << std::hex << address;
  return text.str();
}
const std::vector<expected_rejection> rejections = {
    {"a truncated frame", "from an unknown sender (kind 0, reply): a frame of 20 bytes is shorter than a header"},
    {"a frame lying about its length", "from node 1 (kind 25, heap_free_batch): the header announces 64 payload bytes, but 8 arrived"},
    {"a kind out of range", "from node 1 (kind 300, unknown): message kind 300 is out of range"},
    {"a node id out of range", "from an unknown sender (kind 1, ping): the sender claims to be node 9, but the job has 2 nodes"},
    {"unknown flags", "from node 1 (kind 1, ping): unknown flags 0x80"},
    {"a request nobody handles", "from node 1 (kind 200, unknown): node 0 has no handler for requests of kind 200"},
    {"a free batch of 12 bytes", "(kind 25, heap_free_batch): a batch of 12 bytes is not a whole number of 8-byte words"},
    {"a free outside the heap", "(kind 25, heap_free_batch): a free of 0x42: it is not in this node's heap partition"},
    {"a free in another partition", "(kind 25, heap_free_batch): a free of " + hex(layout.partition_begin(1)) +
                                         ": it is not in this node's heap partition"},
    {"a free of no block", "(kind 25, heap_free_batch): a free of " + hex(inside_but_no_block) + ": no block is allocated there"},
    {"a bad alignment", "(kind 24, heap_allocate): alignment 3 is not a power of two"},
    {"an adopt of no block", "(kind 26, heap_adopt): heap_adopt of " + hex(inside_but_no_block) + ": no block is allocated there"},
    {"a one-way message nobody handles", "(kind 201, unknown): no handler for one-way messages of this kind"},
};

// Node 1: sends everything above, then valid requests; reports what the valid ones got.
[[noreturn]] void run_hostile_peer(const std::string& provider, const std::string& job, int to_victim, int from_victim) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto transport = open_transport(provider, job, 1);
  fabric::endpoint_options raw_options;
  raw_options.provider = provider;
  raw_options.job = job + "raw";
  raw_options.node = 1;
  raw_options.wait_object = false;
  auto raw = fabric::endpoint::open(raw_options);
  REQUIRE_MESSAGE(raw.ok(), raw.status().ToString());

  write_blob(to_victim, transport->address());
  const std::string victim_address = read_blob(from_victim);
  REQUIRE(transport->connect({peer_at(victim_address, ::getppid()), peer_at(transport->address(), ::getpid())}).ok());
  REQUIRE((*raw)->insert_peers({victim_address}).ok());
  REQUIRE(read_blob(from_victim) == "go");

  auto send_raw = [&](const std::string& bytes) {
    ssize_t rc;
    fi_cq_msg_entry ignored[4];
    while ((rc = (*raw)->post_inject(0, bytes.data(), bytes.size())) == -FI_EAGAIN) (void)(*raw)->read_completions(ignored, 4);
    REQUIRE_MESSAGE(rc == 0, fi_strerror(static_cast<int>(-rc)));
  };
  send_raw(frame(fabric::ping_kind, "").substr(0, 20));
  std::string lying = frame(kinds::heap_free_batch, words({1}));
  reinterpret_cast<fabric::wire_header*>(lying.data())->payload_bytes = 64;
  send_raw(lying);
  send_raw(frame(300, ""));
  send_raw(frame(fabric::ping_kind, "", 0, 0, /*source=*/9));
  send_raw(frame(fabric::ping_kind, "", 0x80));
  send_raw(frame(200, "anything", fabric::flag_request, 77));
  send_raw(frame(fabric::ping_kind, "", 0, 0, 1, /*cookie=*/0xdeadbeef));

  // Well framed, wrong inside.
  REQUIRE(transport->send(0, kinds::heap_free_batch, std::string(12, 'x')).ok());
  REQUIRE(transport->send(0, kinds::heap_free_batch, words({0x42, layout.partition_begin(1), inside_but_no_block})).ok());
  auto bad_alignment = transport->call(0, kinds::heap_allocate, words({64, 3}));
  auto bad_adopt = transport->call(0, kinds::heap_adopt, words({inside_but_no_block}));
  REQUIRE(transport->send(0, 201, "nobody listens").ok());

  // The job goes on: a real allocation at node 0, and an echo.
  auto allocated = transport->call(0, kinds::heap_allocate, words({64, 16}));
  auto echoed = transport->call(0, echo_kind, "still there?");
  std::ostringstream report;
  report << (bad_alignment.ok() ? std::string("accepted") : std::string(bad_alignment.status().message())) << "\n"
         << (bad_adopt.ok() ? std::string("accepted") : std::string(bad_adopt.status().message())) << "\n";
  if (allocated.ok() && allocated->size() == 8) {
    std::uint64_t word;
    std::memcpy(&word, allocated->data(), sizeof word);
    report << "allocated at node " << layout.home_of(word & ((std::uint64_t{1} << 48) - 1)) << "\n";
  } else {
    report << "allocation failed: " << (allocated.ok() ? "a reply of the wrong size" : allocated.status().ToString()) << "\n";
  }
  report << (echoed.ok() ? *echoed : echoed.status().ToString()) << "\n";
  write_blob(to_victim, report.str());
  char stop;
  (void)::read(from_victim, &stop, 1);  // EOF: the victim is done
  transport->stop();
  ::_exit(0);
}

// Sends this process's stderr to a file until destroyed, then gives back what was written.
struct captured_stderr {
  std::string path = "/tmp/drust-wire-validation-" + std::to_string(::getpid()) + ".log";
  int saved = ::dup(2);
  captured_stderr() {
    int file = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(file >= 0);
    ::dup2(file, 2);
    ::close(file);
  }
  std::string release() {
    ::dup2(saved, 2);
    ::close(saved);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove(path);
    return text.str();
  }
};

void check_hostile_peer(const std::string& provider) {
  const std::string job = "wv" + std::to_string(::getpid()) + provider.substr(0, 3);
  int up[2], down[2];
  REQUIRE(::pipe(up) == 0);
  REQUIRE(::pipe(down) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(up[0]);
    ::close(down[1]);
    run_hostile_peer(provider, job, up[1], down[0]);
  }
  ::close(up[1]);
  ::close(down[0]);

  std::string log;
  std::string report;
  std::uint64_t rejected = 0, dropped = 0;
  {
    captured_stderr capture;
    auto part = heap::partition::reserve(layout, 0);
    REQUIRE_MESSAGE(part.ok(), part.status().ToString());
    heap::global_heap_options options;
    options.heap_size = layout.partition_size;
    heap::global_heap victim_heap(*part, 0, options);
    auto victim = open_transport(provider, job, 0);
    victim_heap.attach(victim.get());
    victim->on_request(echo_kind, [](const fabric::incoming_message& message) -> absl::StatusOr<std::string> {
      return std::string(message.payload);
    });
    const std::string hostile_address = read_blob(up[0]);
    write_blob(down[1], victim->address());
    REQUIRE(victim->connect({peer_at(victim->address(), ::getpid()), peer_at(hostile_address, child)}).ok());
    write_blob(down[1], "go");
    report = read_blob(up[0]);
    // One-way messages may still be on their way after the replies: wait for them, boundedly.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (victim->counters().messages_rejected.load() < rejections.size() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    rejected = victim->counters().messages_rejected.load();
    dropped = victim->counters().messages_dropped.load();
    ::close(down[1]);
    ::waitpid(child, nullptr, 0);
    victim->stop();
    victim_heap.stop();
    log = capture.release();
  }
  ::close(up[0]);
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    if (entry.path().filename().string().rfind("drust-" + job, 0) == 0) std::filesystem::remove(entry.path());
  }

  INFO("node 0's log:\n" << log);
  INFO("node 1's report:\n" << report);
  CHECK(rejected == rejections.size());
  CHECK(dropped == 1);
  for (const expected_rejection& rejection : rejections) {
    CAPTURE(rejection.description);
    CHECK(log.find(std::string("drust: node 0: rejected a message ")) != std::string::npos);
    CHECK(log.find(rejection.logged) != std::string::npos);
  }
  CHECK(log.find("rejected a message from node 1 (kind 1, ping): the frame does not carry this job's cookie") !=
        std::string::npos);
  // The requester of a malformed request gets the reason back as its error; the node goes on.
  std::istringstream lines(report);
  std::string bad_alignment, bad_adopt, allocated, echoed;
  std::getline(lines, bad_alignment);
  std::getline(lines, bad_adopt);
  std::getline(lines, allocated);
  std::getline(lines, echoed);
  CHECK(bad_alignment.find("alignment 3 is not a power of two") != std::string::npos);
  CHECK(bad_adopt.find("heap_adopt of " + hex(inside_but_no_block) + ": no block is allocated there") != std::string::npos);
  CHECK(allocated == "allocated at node 0");
  CHECK(echoed == "still there?");
}

}  // namespace

TEST_CASE("a node rejects malformed frames from a peer and goes on (shm)") { check_hostile_peer("shm"); }

TEST_CASE("a node rejects malformed frames from a peer and goes on (tcp;ofi_rxm)") { check_hostile_peer("tcp;ofi_rxm"); }
