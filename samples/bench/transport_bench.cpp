// transport-bench: drust's fabric layer against raw libfabric, in one run, between two processes.
//
// For each provider (shm, tcp;ofi_rxm) the program forks a child and sets up, in both processes,
// a drust::fabric::transport and, beside it, a raw libfabric RDM endpoint opened with the same
// hints. It then measures, in alternating rounds so that machine noise hits every variant alike:
//
//   am      an active-message round trip: a request of 64 B or 4 KiB answered by a same-size reply
//           (drust: transport::call to a handler that echoes its payload; raw: fi_inject or fi_send
//           of the same frame, header included, echoed by a child that busy-polls its CQ);
//   read    a one-sided fi_read of 64 B, 4 KiB or 1 MiB from the child's exposed region into a
//           registered local buffer (drust: transport::read; raw: fi_read + fi_cq_read).
//
// and prints, per operation, the median time of one operation for each and their ratio.
//
// Where drust opens its completion queue with a wait fd (idle_wait::wait_fd: tcp;ofi_rxm), so that
// an idle node can sleep in poll(2), libfabric signals that fd on every completion. A third
// variant, "raw+fd", is then the raw code with its CQ opened with FI_WAIT_FD too (busy-polled,
// never waited on), so that the layer's own cost can be told from the cost of that configuration.
// See samples/bench/README.md; run `./drust bench` or `build/samples/bench/transport-bench --help`.
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fabric/active_message.hpp"
#include "fabric/provider_table.hpp"
#include "fabric/transport.hpp"

namespace {

namespace fabric = drust::fabric;
using clock_type = std::chrono::steady_clock;

constexpr fabric::message_kind echo_kind = fabric::first_user_kind;
constexpr std::size_t largest_read = std::size_t{1} << 20;
// Each side's data region: the read source (child) or the read target (parent).
constexpr std::size_t data_bytes = 2 * largest_read;
// Raw message buffers: big enough for a 4 KiB payload and its header.
constexpr std::size_t raw_slot_bytes = 16 * 1024;
constexpr int raw_receive_slots = 8;
constexpr int raw_send_slots = 8;
// Untimed operations before each timed batch (connection set-up, waking the peer).
constexpr int batch_warmup = 8;
// A batch stops early after this long: on an oversubscribed machine either side can fall into a
// regime of ~0.2 ms (drust) or ~8 ms (raw, both spinners on one CPU) per operation, and the run
// must still end in about a minute. Such batches show up in the per-round medians.
constexpr auto batch_time_limit = std::chrono::seconds(1);

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "transport-bench: %s\n", message.c_str());
  std::exit(1);
}

void check(const absl::Status& status, const char* what) {
  if (!status.ok()) die(std::string(what) + ": " + status.ToString());
}

void check_fi(int rc, const char* call) {
  if (rc != 0) die(std::string(call) + " failed: " + fi_strerror(rc < 0 ? -rc : rc));
}

// ---------------------------------------------------------------------------------------------
// Options

struct options {
  std::vector<std::string> providers{"shm", "tcp;ofi_rxm"};
  bool provider_chosen = false;
  int iterations = 2000;
  int rounds = 7;
  std::string json_file;
};

void usage(FILE* to) {
  std::fprintf(
      to,
      "usage: transport-bench [--provider NAME] [--iterations N] [--rounds R] [--json FILE]\n"
      "\n"
      "Measures drust's fabric layer (drust::fabric::transport) against raw libfabric calls\n"
      "between two forked processes: active-message round trips (64 B, 4 KiB, same-size\n"
      "reply) and fi_read (64 B, 4 KiB, 1 MiB). Raw and drust batches alternate, R rounds\n"
      "of N operations each (1 MiB reads: N/10); the table shows median times per operation.\n"
      "Where drust's completion queue has a wait fd (tcp;ofi_rxm), a third variant, raw+fd,\n"
      "runs the raw code with its CQ opened with FI_WAIT_FD too (still busy-polled).\n"
      "\n"
      "  --provider NAME   shm or tcp;ofi_rxm (or tcp); default: both\n"
      "  --iterations N    operations per batch (default 2000)\n"
      "  --rounds R        rounds of raw/drust(/raw+fd) batches (default 7)\n"
      "  --json FILE       also write the results as JSON to FILE\n");
}

int parse_count(const std::string& flag, const char* text) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 100000000) {
    die(flag + " wants a positive integer, not '" + text + "'");
  }
  return static_cast<int>(value);
}

options parse_options(int argc, char** argv) {
  options parsed;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> value;
    if (auto equals = flag.find('='); flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    auto next = [&]() -> std::string {
      if (value) return *value;
      if (i + 1 >= argc) die(flag + " needs a value (see --help)");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (flag == "--provider") {
      std::string name = next();
      const fabric::provider_traits* traits = fabric::find_provider(name);
      if (traits == nullptr)
        die("unknown provider '" + name + "'; use one of " + fabric::known_provider_names());
      parsed.providers = {std::string(traits->name)};
      parsed.provider_chosen = true;
    } else if (flag == "--iterations") {
      parsed.iterations = parse_count(flag, next().c_str());
    } else if (flag == "--rounds") {
      parsed.rounds = parse_count(flag, next().c_str());
    } else if (flag == "--json") {
      parsed.json_file = next();
    } else {
      usage(stderr);
      die("unknown argument '" + flag + "'");
    }
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Pipes between parent and child (bootstrap and phase changes)

void write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t wrote = ::write(fd, bytes, size);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) die("pipe write failed (the other process died?)");
    bytes += wrote;
    size -= static_cast<std::size_t>(wrote);
  }
}

void read_all(int fd, void* data, std::size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    ssize_t got = ::read(fd, bytes, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) die("pipe read failed (the other process died?)");
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
}

void write_blob(int fd, const std::string& blob) {
  auto size = static_cast<std::uint32_t>(blob.size());
  write_all(fd, &size, sizeof size);
  write_all(fd, blob.data(), size);
}

std::string read_blob(int fd) {
  std::uint32_t size = 0;
  read_all(fd, &size, sizeof size);
  std::string blob(size, '\0');
  read_all(fd, blob.data(), size);
  return blob;
}

// What one process tells the other: its drust and raw addresses and exposed regions.
struct description {
  std::string drust_address;
  fabric::remote_region drust_region;
  std::string raw_address;
  fabric::remote_region raw_region;
  std::string raw_fd_address;  // empty when there is no raw+fd endpoint
  fabric::remote_region raw_fd_region;

  std::string encode() const {
    std::string blob;
    auto put_text = [&](const std::string& text) {
      auto size = static_cast<std::uint32_t>(text.size());
      blob.append(reinterpret_cast<const char*>(&size), sizeof size);
      blob.append(text);
    };
    auto put_region = [&](const fabric::remote_region& region) {
      blob.append(reinterpret_cast<const char*>(&region.base), sizeof region.base);
      blob.append(reinterpret_cast<const char*>(&region.key), sizeof region.key);
    };
    put_text(drust_address);
    put_region(drust_region);
    put_text(raw_address);
    put_region(raw_region);
    put_text(raw_fd_address);
    put_region(raw_fd_region);
    return blob;
  }

  static description decode(const std::string& blob) {
    description d;
    std::size_t at = 0;
    auto take = [&](void* into, std::size_t size) {
      if (at + size > blob.size()) die("malformed description from the other process");
      std::memcpy(into, blob.data() + at, size);
      at += size;
    };
    auto get_text = [&](std::string& text) {
      std::uint32_t size = 0;
      take(&size, sizeof size);
      text.resize(size);
      take(text.data(), size);
    };
    auto get_region = [&](fabric::remote_region& region) {
      take(&region.base, sizeof region.base);
      take(&region.key, sizeof region.key);
    };
    get_text(d.drust_address);
    get_region(d.drust_region);
    get_text(d.raw_address);
    get_region(d.raw_region);
    get_text(d.raw_fd_address);
    get_region(d.raw_fd_region);
    return d;
  }
};

// Shared (MAP_SHARED) between parent and child: tells the child's raw loop when to stop spinning.
struct shared_control {
  std::atomic<int> raw_phase;
};

// Page-aligned, pre-faulted memory.
struct mapping {
  std::byte* base = nullptr;
  std::size_t length = 0;
  explicit mapping(std::size_t bytes) : length(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) die("mmap failed");
    base = static_cast<std::byte*>(p);
  }
  ~mapping() { ::munmap(base, length); }
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
};

void fill_pattern(std::byte* data, std::size_t length, int node) {
  for (std::size_t i = 0; i < length; ++i) {
    data[i] = static_cast<std::byte>((i * 7 + static_cast<std::size_t>(node)) & 0xff);
  }
}

bool matches_pattern(const std::byte* data, std::size_t length, int node) {
  for (std::size_t i = 0; i < length; ++i) {
    if (data[i] != static_cast<std::byte>((i * 7 + static_cast<std::size_t>(node)) & 0xff))
      return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The raw libfabric side: one RDM endpoint, opened with the same hints as drust's endpoint.cpp.

// The measured variants. raw_fd exists only for providers whose drust CQ has a wait fd.
enum class variant : std::uint8_t { raw, raw_fd, drust };

const char* variant_name(variant v) {
  switch (v) {
    case variant::raw:
      return "raw";
    case variant::raw_fd:
      return "raw+fd";
    case variant::drust:
      return "drust";
  }
  return "?";
}

// Whether drust's CQ for this provider has a wait fd, and so whether raw+fd is measured.
bool has_wait_fd(const std::string& provider) {
  const fabric::provider_traits* traits = fabric::find_provider(provider);
  return traits != nullptr && traits->idle == fabric::idle_wait::wait_fd;
}

struct raw_operation {
  fi_context2 context;  // first: the CQ entry's op_context points here
  enum class type : std::uint8_t { receive, send, read } kind = type::receive;
  int slot = 0;
  bool in_flight = false;
};

class raw_endpoint {
 public:
  // cq_wait_fd: open the CQ with FI_WAIT_FD, as drust does for idle_wait::wait_fd (raw+fd); it is
  // still only busy-polled.
  raw_endpoint(const fabric::provider_traits& traits, const std::string& job, int node,
               bool cq_wait_fd)
      : memory_(data_bytes +
                static_cast<std::size_t>(raw_receive_slots + raw_send_slots) * raw_slot_bytes) {
    fi_info* hints = fi_allocinfo();
    if (hints == nullptr) die("fi_allocinfo failed");
    hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->ep_attr->type = FI_EP_RDM;
    hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->fabric_attr->prov_name = ::strdup(std::string(traits.libfabric).c_str());
    std::string source;
    if (traits.single_host) {
      source = "drust-" + job + (cq_wait_fd ? "-rawfd" : "-raw") + std::to_string(node);
    } else if (traits.bind_to_host) {
      source = "127.0.0.1";
    }
    int rc = fi_getinfo(FI_VERSION(1, 15), source.empty() ? nullptr : source.c_str(), nullptr,
                        source.empty() ? 0 : FI_SOURCE, hints, &info_);
    fi_freeinfo(hints);
    check_fi(rc, "fi_getinfo");
    const std::uint64_t mr_mode = info_->domain_attr->mr_mode;
    virtual_addresses_ = (mr_mode & FI_MR_VIRT_ADDR) != 0;
    inject_limit_ = info_->tx_attr->inject_size;

    check_fi(fi_fabric(info_->fabric_attr, &fabric_, nullptr), "fi_fabric");
    check_fi(fi_domain(fabric_, info_, &domain_, nullptr), "fi_domain");
    fi_av_attr av_attr{};
    av_attr.type = FI_AV_TABLE;
    check_fi(fi_av_open(domain_, &av_attr, &av_, nullptr), "fi_av_open");
    fi_cq_attr cq_attr{};
    cq_attr.format = FI_CQ_FORMAT_MSG;
    cq_attr.size = 1024;
    cq_attr.wait_obj = cq_wait_fd ? FI_WAIT_FD : FI_WAIT_NONE;
    check_fi(fi_cq_open(domain_, &cq_attr, &cq_, nullptr), "fi_cq_open");
    check_fi(fi_endpoint(domain_, info_, &ep_, nullptr), "fi_endpoint");
    check_fi(fi_ep_bind(ep_, &av_->fid, 0), "fi_ep_bind(av)");
    check_fi(fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
    check_fi(fi_enable(ep_), "fi_enable");
    char name[256];
    std::size_t name_length = sizeof name;
    check_fi(fi_getname(&ep_->fid, name, &name_length), "fi_getname");
    address_.assign(name, name_length);

    const std::uint64_t access =
        FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    check_fi(fi_mr_reg(domain_, memory_.base, memory_.length, access, 0, 1, 0, &region_, nullptr),
             "fi_mr_reg");
    descriptor_ = fi_mr_desc(region_);
    fill_pattern(data(), data_bytes, node);

    for (int i = 0; i < raw_receive_slots; ++i) {
      receives_[i].kind = raw_operation::type::receive;
      receives_[i].slot = i;
    }
    for (int i = 0; i < raw_send_slots; ++i) {
      sends_[i].kind = raw_operation::type::send;
      sends_[i].slot = i;
    }
    read_op_.kind = raw_operation::type::read;
  }

  ~raw_endpoint() {
    if (region_ != nullptr) fi_close(&region_->fid);
    if (ep_ != nullptr) fi_close(&ep_->fid);
    if (cq_ != nullptr) fi_close(&cq_->fid);
    if (av_ != nullptr) fi_close(&av_->fid);
    if (domain_ != nullptr) fi_close(&domain_->fid);
    if (fabric_ != nullptr) fi_close(&fabric_->fid);
    if (info_ != nullptr) fi_freeinfo(info_);
  }
  raw_endpoint(const raw_endpoint&) = delete;
  raw_endpoint& operator=(const raw_endpoint&) = delete;

  const std::string& address() const { return address_; }
  std::size_t inject_limit() const { return inject_limit_; }
  std::byte* data() { return memory_.base; }
  fabric::remote_region region() const {
    return {reinterpret_cast<std::uint64_t>(memory_.base), fi_mr_key(region_)};
  }

  // Inserts both nodes in order (fi_addr_t == node id) and posts the receives.
  void connect(const std::vector<std::string>& addresses) {
    for (std::size_t node = 0; node < addresses.size(); ++node) {
      fi_addr_t inserted = FI_ADDR_NOTAVAIL;
      if (fi_av_insert(av_, addresses[node].data(), 1, &inserted, 0, nullptr) != 1 ||
          inserted != node) {
        die("fi_av_insert failed for the raw endpoint");
      }
    }
    for (int i = 0; i < raw_receive_slots; ++i) post_receive(i);
  }

  void set_peer_region(const fabric::remote_region& region) { peer_region_ = region; }

  // One active-message round trip: a frame of header + `payload` bytes out, the echo back.
  void call(int peer, std::string_view payload) {
    const std::size_t total = sizeof(fabric::wire_header) + payload.size();
    const int slot = take_send_slot();
    std::byte* frame = send_buffer(slot);
    fabric::wire_header header{
        0,         ++request_id_,        0, static_cast<std::uint32_t>(payload.size()),
        echo_kind, fabric::flag_request, 0};
    std::memcpy(frame, &header, sizeof header);
    std::memcpy(frame + sizeof header, payload.data(), payload.size());
    replies_ = 0;
    send_frame(peer, slot, total);
    while (replies_ == 0) poll();
    if (last_reply_length_ != total) die("raw echo came back with the wrong length");
  }

  // One fi_read of `length` bytes at `offset` in the peer's region into our data region.
  void read(int peer, std::size_t length, std::size_t offset) {
    std::uint64_t remote = peer_region_.base + offset;
    if (!virtual_addresses_) remote -= peer_region_.base;
    read_op_.in_flight = true;
    ssize_t rc;
    while ((rc = fi_read(ep_, data(), length, descriptor_, static_cast<fi_addr_t>(peer), remote,
                         peer_region_.key, &read_op_.context)) == -FI_EAGAIN) {
      poll();
    }
    if (rc != 0) check_fi(static_cast<int>(rc), "fi_read");
    while (read_op_.in_flight) poll();
  }

  // The child's loop: echo every request, keep the provider progressing, until `keep_going` drops.
  void serve(const std::atomic<int>& keep_going) {
    while (keep_going.load(std::memory_order_acquire) != 0) poll();
  }

 private:
  std::byte* receive_buffer(int slot) {
    return memory_.base + data_bytes + static_cast<std::size_t>(slot) * raw_slot_bytes;
  }
  std::byte* send_buffer(int slot) {
    return memory_.base + data_bytes +
           static_cast<std::size_t>(raw_receive_slots + slot) * raw_slot_bytes;
  }

  void post_receive(int slot) {
    ssize_t rc;
    while ((rc = fi_recv(ep_, receive_buffer(slot), raw_slot_bytes, descriptor_, FI_ADDR_UNSPEC,
                         &receives_[slot].context)) == -FI_EAGAIN) {
      poll();
    }
    if (rc != 0) check_fi(static_cast<int>(rc), "fi_recv");
  }

  int take_send_slot() {
    const int slot = next_send_;
    next_send_ = (next_send_ + 1) % raw_send_slots;
    while (sends_[slot].in_flight) poll();
    return slot;
  }

  // Sends the frame in send slot `slot`: fi_inject when it fits, else fi_send.
  void send_frame(int peer, int slot, std::size_t total) {
    std::byte* frame = send_buffer(slot);
    ssize_t rc;
    if (total <= inject_limit_) {
      while ((rc = fi_inject(ep_, frame, total, static_cast<fi_addr_t>(peer))) == -FI_EAGAIN)
        poll();
      if (rc != 0) check_fi(static_cast<int>(rc), "fi_inject");
      return;
    }
    raw_operation& op = sends_[slot];
    op.in_flight = true;
    while ((rc = fi_send(ep_, frame, total, descriptor_, static_cast<fi_addr_t>(peer),
                         &op.context)) == -FI_EAGAIN) {
      poll();
    }
    if (rc != 0) check_fi(static_cast<int>(rc), "fi_send");
  }

  void poll() {
    fi_cq_msg_entry entries[16];
    ssize_t count = fi_cq_read(cq_, entries, 16);
    if (count == -FI_EAGAIN || count == 0) return;
    if (count < 0) {
      fi_cq_err_entry failed{};
      fi_cq_readerr(cq_, &failed, 0);
      die(std::string("raw completion failed: ") + fi_strerror(failed.err));
    }
    for (ssize_t i = 0; i < count; ++i) {
      auto* op = static_cast<raw_operation*>(entries[i].op_context);
      switch (op->kind) {
        case raw_operation::type::receive:
          handle_receive(op->slot, entries[i].len);
          break;
        case raw_operation::type::send:
        case raw_operation::type::read:
          op->in_flight = false;
          break;
      }
    }
  }

  void handle_receive(int slot, std::size_t length) {
    fabric::wire_header header;
    std::memcpy(&header, receive_buffer(slot), sizeof header);
    if ((header.flags & fabric::flag_request) != 0) {
      // Echo: the same frame back, as a reply.
      const int send_slot = take_send_slot();
      std::byte* frame = send_buffer(send_slot);
      std::memcpy(frame, receive_buffer(slot), length);
      header.flags = fabric::flag_reply;
      std::memcpy(frame, &header, sizeof header);
      post_receive(slot);
      send_frame(static_cast<int>(header.source), send_slot, length);
    } else {
      last_reply_length_ = length;
      ++replies_;
      post_receive(slot);
    }
  }

  mapping memory_;
  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_av* av_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_ep* ep_ = nullptr;
  fid_mr* region_ = nullptr;
  void* descriptor_ = nullptr;
  std::string address_;
  std::size_t inject_limit_ = 0;
  bool virtual_addresses_ = true;
  fabric::remote_region peer_region_;
  raw_operation receives_[raw_receive_slots];
  raw_operation sends_[raw_send_slots];
  raw_operation read_op_;
  int next_send_ = 0;
  std::uint64_t request_id_ = 0;
  int replies_ = 0;
  std::size_t last_reply_length_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The drust side

struct drust_side {
  mapping memory{data_bytes};
  std::unique_ptr<fabric::transport> transport;
  fabric::memory_region region;
};

std::unique_ptr<drust_side> open_drust(const std::string& provider, const std::string& job,
                                       int node) {
  auto side = std::make_unique<drust_side>();
  fabric::transport_options options;
  options.endpoint.provider = provider;
  options.endpoint.job = job;
  options.endpoint.node = node;
  options.cookie = fabric::fold_cookie(job);
  // DRUST_PROGRESS=spin measures the layer with a progress thread that never sleeps (and, on
  // tcp;ofi_rxm, a CQ without a wait object), as a job started with it would run.
  if (auto mode = fabric::progress_mode_from_environment(); mode.ok()) options.progress = *mode;
  auto opened = fabric::transport::open(options);
  check(opened.status(), "opening the drust transport");
  side->transport = std::move(*opened);
  fill_pattern(side->memory.base, side->memory.length, node);
  auto region = side->transport->expose(side->memory.base, side->memory.length);
  check(region.status(), "exposing memory");
  side->region = *region;
  return side;
}

fabric::peer_info peer_from(const description& d, int pid) {
  fabric::peer_info peer;
  peer.address = d.drust_address;
  peer.region = d.drust_region;
  peer.host = "localhost";
  peer.pid = pid;
  peer.same_host = true;
  return peer;
}

description describe(const drust_side& drust, const raw_endpoint& raw, const raw_endpoint* raw_fd) {
  description d{drust.transport->address(),
                {drust.region.base, drust.region.key},
                raw.address(),
                raw.region(),
                {},
                {}};
  if (raw_fd != nullptr) {
    d.raw_fd_address = raw_fd->address();
    d.raw_fd_region = raw_fd->region();
  }
  return d;
}

// Phase commands on the parent → child pipe.
constexpr char command_raw = 'R';
constexpr char command_raw_fd = 'F';
constexpr char command_quit = 'Q';
constexpr char reply_done = 'D';

// The child: node 1. Serves drust requests from its progress thread; on command, busy-polls its raw
// (or raw+fd) endpoint until the parent drops raw_phase.
[[noreturn]] void run_child(const std::string& provider, const std::string& job, int to_parent,
                            int from_parent, shared_control* control) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto drust = open_drust(provider, job, 1);
  // The reply is written into the transport's reused buffer, as raw writes into its send buffer.
  drust->transport->on_request(echo_kind, fabric::reply_handler([](const fabric::incoming_message& m,
                                                                   std::string& reply) {
                                 reply.assign(m.payload.data(), m.payload.size());
                                 return absl::OkStatus();
                               }));
  const fabric::provider_traits& traits = *fabric::find_provider(provider);
  raw_endpoint raw(traits, job, 1, false);
  std::unique_ptr<raw_endpoint> raw_fd;
  if (has_wait_fd(provider)) raw_fd = std::make_unique<raw_endpoint>(traits, job, 1, true);
  const description self = describe(*drust, raw, raw_fd.get());
  write_blob(to_parent, self.encode());
  description parent = description::decode(read_blob(from_parent));
  check(drust->transport->connect({peer_from(parent, ::getppid()), peer_from(self, ::getpid())}),
        "connecting the child's transport");
  raw.connect({parent.raw_address, self.raw_address});
  raw.set_peer_region(parent.raw_region);
  if (raw_fd) {
    raw_fd->connect({parent.raw_fd_address, self.raw_fd_address});
    raw_fd->set_peer_region(parent.raw_fd_region);
  }
  write_blob(to_parent, "connected");
  while (true) {
    char command = command_quit;
    if (::read(from_parent, &command, 1) != 1) command = command_quit;
    if (command == command_quit) break;
    raw_endpoint* serving = &raw;
    if (command == command_raw_fd) {
      if (!raw_fd) die("asked to serve raw+fd, which this provider does not have");
      serving = raw_fd.get();
    }
    serving->serve(control->raw_phase);
    write_all(to_parent, &reply_done, 1);
  }
  drust->transport->stop();
  ::_exit(0);
}

// ---------------------------------------------------------------------------------------------
// Measurement

struct operation_spec {
  const char* name;  // "am" or "read"
  std::size_t size;
};
constexpr operation_spec operation_specs[] = {
    {"am", 64}, {"am", 4096}, {"read", 64}, {"read", 4096}, {"read", largest_read},
};

struct samples {
  std::vector<double> all;           // microseconds per operation, every timed one
  std::vector<double> round_median;  // one per round
};

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

double mean_of(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double percentile_of(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  auto at = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

struct result {
  std::string provider;
  std::string operation;
  std::size_t size = 0;
  bool has_raw_fd = false;
  samples raw;
  samples raw_fd;  // empty unless has_raw_fd
  samples drust;

  samples& of(variant v) {
    switch (v) {
      case variant::raw:
        return raw;
      case variant::raw_fd:
        return raw_fd;
      case variant::drust:
        return drust;
    }
    return raw;
  }
};

std::string size_text(std::size_t size) {
  if (size >= (1u << 20) && size % (1u << 20) == 0) return std::to_string(size >> 20) + " MiB";
  if (size >= 1024 && size % 1024 == 0) return std::to_string(size >> 10) + " KiB";
  return std::to_string(size) + " B";
}

class pair_run {
 public:
  pair_run(const std::string& provider, const options& opts) : provider_(provider), options_(opts) {
    job_ = "bench" + std::to_string(::getpid()) + "p" + std::to_string(++runs_);
    void* shared = ::mmap(nullptr, sizeof(shared_control), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap(MAP_SHARED) failed");
    control_ = new (shared) shared_control{};
    int up[2], down[2];
    if (::pipe(up) != 0 || ::pipe(down) != 0) die("pipe failed");
    child_ = ::fork();
    if (child_ < 0) die("fork failed");
    if (child_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      run_child(provider, job_, up[1], down[0], control_);
    }
    ::close(up[1]);
    ::close(down[0]);
    from_child_ = up[0];
    to_child_ = down[1];

    drust_ = open_drust(provider, job_, 0);
    const fabric::provider_traits& traits = *fabric::find_provider(provider);
    raw_ = std::make_unique<raw_endpoint>(traits, job_, 0, false);
    if (has_wait_fd(provider)) raw_fd_ = std::make_unique<raw_endpoint>(traits, job_, 0, true);
    description child = description::decode(read_blob(from_child_));
    description self = describe(*drust_, *raw_, raw_fd_.get());
    write_blob(to_child_, self.encode());
    check(drust_->transport->connect({peer_from(self, ::getpid()), peer_from(child, child_)}),
          "connecting the parent's transport");
    raw_->connect({self.raw_address, child.raw_address});
    raw_->set_peer_region(child.raw_region);
    if (raw_fd_) {
      raw_fd_->connect({self.raw_fd_address, child.raw_fd_address});
      raw_fd_->set_peer_region(child.raw_fd_region);
    }
    child_drust_base_ = child.drust_region.base;
    if (read_blob(from_child_) != "connected") die("the child did not connect");
  }

  ~pair_run() {
    if (drust_) drust_->transport->stop();
    write_all(to_child_, &command_quit, 1);
    ::close(to_child_);
    ::close(from_child_);
    for (int i = 0; i < 300 && ::waitpid(child_, nullptr, WNOHANG) == 0; ++i) ::usleep(10000);
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    drust_.reset();
    raw_.reset();
    raw_fd_.reset();
    ::munmap(control_, sizeof(shared_control));
    forget_shared_memory_names();
  }
  pair_run(const pair_run&) = delete;
  pair_run& operator=(const pair_run&) = delete;

  std::size_t inject_limit() const { return raw_->inject_limit(); }
  int truncated_batches() const { return truncated_batches_; }

  std::vector<result> measure() {
    verify();
    // Every endpoint has now mapped its peer's shared memory (shm): the names can go, so that an
    // interrupted run leaves nothing in /dev/shm.
    forget_shared_memory_names();
    std::vector<variant> variants{variant::raw, variant::drust};
    if (raw_fd_) variants.push_back(variant::raw_fd);
    std::vector<result> results;
    for (const operation_spec& spec : operation_specs) {
      result r;
      r.provider = provider_;
      r.operation = spec.name;
      r.size = spec.size;
      r.has_raw_fd = raw_fd_ != nullptr;
      results.push_back(std::move(r));
    }
    // Warm-up: every operation, every variant, untimed.
    for (const operation_spec& spec : operation_specs) {
      const int warmup = std::max(10, iterations_for(spec) / 10);
      for (variant v : variants) run_batch(v, spec, warmup, nullptr);
    }
    for (int round = 0; round < options_.rounds; ++round) {
      // Rotate the order every round (two variants: alternate), so that none always follows
      // the same other one's wake-up.
      std::vector<variant> order = variants;
      std::rotate(order.begin(),
                  order.begin() +
                      static_cast<std::ptrdiff_t>(static_cast<std::size_t>(round) % order.size()),
                  order.end());
      for (std::size_t i = 0; i < std::size(operation_specs); ++i) {
        const operation_spec& spec = operation_specs[i];
        const int n = iterations_for(spec);
        for (variant v : order) {
          samples& into = results[i].of(v);
          std::vector<double> batch;
          run_batch(v, spec, n, &batch);
          into.round_median.push_back(median_of(batch));
          into.all.insert(into.all.end(), batch.begin(), batch.end());
        }
      }
    }
    return results;
  }

 private:
  int iterations_for(const operation_spec& spec) const {
    return spec.size >= largest_read ? std::max(10, options_.iterations / 10) : options_.iterations;
  }

  // Removes /dev/shm/drust-<job>-* (shm regions and doorbells); mappings stay valid.
  void forget_shared_memory_names() const {
    const std::string prefix = "drust-" + job_ + "-";
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ignored)) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) {
        std::filesystem::remove(entry.path(), ignored);
      }
    }
  }

  // Checks once that both paths move the right bytes.
  void verify() {
    std::string payload(4096, 'x');
    payload[0] = 'a';
    auto reply = drust_->transport->call(1, echo_kind, payload);
    check(reply.status(), "drust echo");
    if (*reply != payload) die("drust echo returned other bytes");
    check(drust_->transport->read(1, drust_->memory.base, largest_read, child_drust_base_),
          "drust read");
    if (!matches_pattern(drust_->memory.base, largest_read, 1))
      die("drust read returned other bytes");
    for (variant v : {variant::raw, variant::raw_fd}) {
      raw_endpoint* raw = raw_for(v);
      if (raw == nullptr) continue;
      begin_raw(v);
      raw->call(1, payload);
      raw->read(1, largest_read, 0);
      if (!matches_pattern(raw->data(), largest_read, 1))
        die(std::string(variant_name(v)) + " read returned other bytes");
      end_raw();
    }
  }

  raw_endpoint* raw_for(variant v) const {
    return v == variant::raw ? raw_.get() : v == variant::raw_fd ? raw_fd_.get() : nullptr;
  }

  void begin_raw(variant v) {
    control_->raw_phase.store(1, std::memory_order_release);
    write_all(to_child_, v == variant::raw_fd ? &command_raw_fd : &command_raw, 1);
  }

  void end_raw() {
    control_->raw_phase.store(0, std::memory_order_release);
    char done = 0;
    read_all(from_child_, &done, 1);
    if (done != reply_done) die("unexpected answer from the child");
  }

  void run_batch(variant which, const operation_spec& spec, int n, std::vector<double>* times) {
    const bool is_read = std::string_view(spec.name) == "read";
    const bool drust = which == variant::drust;
    const std::string payload(is_read ? 0 : spec.size, 'p');
    fabric::transport& t = *drust_->transport;
    raw_endpoint* raw = raw_for(which);
    std::string reply;  // reused across the batch, as raw reuses its receive buffer
    auto one = [&] {
      if (drust) {
        if (is_read) {
          check(t.read(1, drust_->memory.base, spec.size, child_drust_base_), "drust read");
        } else {
          check(t.call(1, echo_kind, payload, reply), "drust call");
          if (reply.size() != payload.size()) die("drust echo came back with the wrong length");
        }
      } else if (is_read) {
        raw->read(1, spec.size, 0);
      } else {
        raw->call(1, payload);
      }
    };
    if (!drust) begin_raw(which);
    for (int i = 0; i < batch_warmup; ++i) one();
    if (times != nullptr) times->reserve(static_cast<std::size_t>(n));
    const auto batch_start = clock_type::now();
    for (int i = 0; i < n; ++i) {
      auto start = clock_type::now();
      one();
      auto stop = clock_type::now();
      if (times != nullptr) {
        times->push_back(std::chrono::duration<double, std::micro>(stop - start).count());
      }
      if (stop - batch_start > batch_time_limit && i + 1 < n) {
        ++truncated_batches_;
        break;
      }
    }
    if (!drust) end_raw();
  }

  static inline int runs_ = 0;
  int truncated_batches_ = 0;
  std::string provider_;
  const options& options_;
  std::string job_;
  shared_control* control_ = nullptr;
  pid_t child_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::unique_ptr<drust_side> drust_;
  std::unique_ptr<raw_endpoint> raw_;
  std::unique_ptr<raw_endpoint> raw_fd_;  // only where drust's CQ has a wait fd
  std::uint64_t child_drust_base_ = 0;
};

// Whether fi_getinfo finds the provider on this machine (checked before forking).
bool provider_usable(const std::string& provider, std::string& why) {
  const fabric::provider_traits* traits = fabric::find_provider(provider);
  fi_info* hints = fi_allocinfo();
  hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
  hints->ep_attr->type = FI_EP_RDM;
  hints->fabric_attr->prov_name = ::strdup(std::string(traits->libfabric).c_str());
  fi_info* found = nullptr;
  int rc = fi_getinfo(FI_VERSION(1, 15), nullptr, nullptr, 0, hints, &found);
  fi_freeinfo(hints);
  if (found != nullptr) fi_freeinfo(found);
  if (rc != 0) why = fi_strerror(-rc);
  return rc == 0;
}

// ---------------------------------------------------------------------------------------------
// Report

struct machine {
  long cpus = 0;
  std::string cpu_model;
  std::string kernel;
};

machine describe_machine() {
  machine m;
  m.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size())
        m.cpu_model = line.substr(colon + 2);
      break;
    }
  }
  utsname names{};
  if (::uname(&names) == 0) m.kernel = std::string(names.sysname) + " " + names.release;
  return m;
}

// The table. "drust rounds" is the range of the per-round medians: a wide range means some drust
// batches ran in another regime (see docs/PERFORMANCE.md), which one median hides. The raw+fd
// columns read "-" for providers without a wait fd.
void print_table(const std::vector<result>& results) {
  std::printf("\n%-12s %-5s %8s %9s %9s %9s %9s %12s %9s %10s  %s\n", "provider", "op", "size",
              "raw us", "raw+fd us", "drust us", "drust/raw", "drust/raw+fd", "raw GB/s",
              "drust GB/s", "drust rounds us");
  for (const result& r : results) {
    const double raw = median_of(r.raw.all);
    const double drust = median_of(r.drust.all);
    std::printf("%-12s %-5s %8s %9.2f", r.provider.c_str(), r.operation.c_str(),
                size_text(r.size).c_str(), raw);
    const double raw_fd = r.has_raw_fd ? median_of(r.raw_fd.all) : 0;
    if (r.has_raw_fd) {
      std::printf(" %9.2f", raw_fd);
    } else {
      std::printf(" %9s", "-");
    }
    std::printf(" %9.2f %8.2fx", drust, drust / raw);
    if (r.has_raw_fd) {
      std::printf(" %11.2fx", drust / raw_fd);
    } else {
      std::printf(" %12s", "-");
    }
    if (r.operation == "read") {
      std::printf(" %9.2f %10.2f", static_cast<double>(r.size) / raw / 1e3,
                  static_cast<double>(r.size) / drust / 1e3);
    } else {
      std::printf(" %9s %10s", "-", "-");
    }
    const auto [low, high] =
        std::minmax_element(r.drust.round_median.begin(), r.drust.round_median.end());
    if (low != r.drust.round_median.end()) std::printf("  %.2f..%.2f", *low, *high);
    std::printf("\n");
  }
}

nlohmann::json to_json(const std::vector<result>& results, const options& opts,
                       const machine& host) {
  nlohmann::json out;
  out["machine"] = {{"cpus", host.cpus}, {"cpu_model", host.cpu_model}, {"kernel", host.kernel}};
  out["iterations"] = opts.iterations;
  out["rounds"] = opts.rounds;
  out["libfabric"] =
      std::to_string(FI_MAJOR(fi_version())) + "." + std::to_string(FI_MINOR(fi_version()));
  out["am_reply"] = "same size as the request (echo)";
  out["raw_fd"] =
      "raw with its CQ opened with FI_WAIT_FD, as drust's is for this provider (busy-polled); null "
      "where drust's CQ has no wait fd";
  nlohmann::json rows = nlohmann::json::array();
  for (const result& r : results) {
    auto summary = [&](const samples& s) {
      nlohmann::json j;
      j["median_us"] = median_of(s.all);
      j["mean_us"] = mean_of(s.all);
      j["p10_us"] = percentile_of(s.all, 0.10);
      j["p90_us"] = percentile_of(s.all, 0.90);
      j["p99_us"] = percentile_of(s.all, 0.99);
      j["round_median_us"] = s.round_median;
      j["operations"] = s.all.size();
      if (r.operation == "read")
        j["bandwidth_gb_s"] = static_cast<double>(r.size) / median_of(s.all) / 1e3;
      return j;
    };
    nlohmann::json row;
    row["provider"] = r.provider;
    row["operation"] = r.operation == "am" ? "am_round_trip" : "read";
    row["size"] = r.size;
    row["raw"] = summary(r.raw);
    row["raw_fd"] = r.has_raw_fd ? summary(r.raw_fd) : nlohmann::json(nullptr);
    row["drust"] = summary(r.drust);
    row["ratio"] = median_of(r.drust.all) / median_of(r.raw.all);
    row["ratio_raw_fd"] = r.has_raw_fd
                              ? nlohmann::json(median_of(r.drust.all) / median_of(r.raw_fd.all))
                              : nlohmann::json(nullptr);
    rows.push_back(row);
  }
  out["results"] = rows;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const options opts = parse_options(argc, argv);
  const machine host = describe_machine();
  std::printf(
      "transport-bench: drust::fabric::transport vs raw libfabric %u.%u, %d rounds x %d operations "
      "(1 MiB reads: %d); median per operation\n",
      FI_MAJOR(fi_version()), FI_MINOR(fi_version()), opts.rounds, opts.iterations,
      std::max(10, opts.iterations / 10));
  std::printf("machine: %ld CPUs, %s, %s\n", host.cpus, host.cpu_model.c_str(),
              host.kernel.c_str());
  std::printf(
      "am = active-message round trip, request and same-size reply; read = fi_read into registered "
      "memory\n");
  std::fflush(stdout);

  std::vector<result> all;
  nlohmann::json truncated_batches = nlohmann::json::object();
  for (const std::string& provider : opts.providers) {
    std::string why;
    if (!provider_usable(provider, why)) {
      if (opts.provider_chosen) {
        die("provider " + provider + " is not usable here (" + why +
            "); pick another with --provider");
      }
      std::printf("skipping %s: not usable here (%s)\n", provider.c_str(), why.c_str());
      continue;
    }
    auto started = clock_type::now();
    std::vector<result> results;
    std::size_t inject_limit = 0;
    int truncated = 0;
    {
      pair_run run(provider, opts);
      inject_limit = run.inject_limit();
      results = run.measure();
      truncated = run.truncated_batches();
    }
    std::printf("%s: inject_size %zu B, measured in %.1f s", provider.c_str(), inject_limit,
                std::chrono::duration<double>(clock_type::now() - started).count());
    if (truncated > 0) std::printf(" (%d batches stopped at the 1 s limit)", truncated);
    std::printf("\n");
    truncated_batches[provider] = truncated;
    std::fflush(stdout);
    all.insert(all.end(), results.begin(), results.end());
  }
  print_table(all);

  if (!opts.json_file.empty()) {
    std::ofstream out(opts.json_file);
    nlohmann::json report = to_json(all, opts, host);
    report["batches_stopped_at_time_limit"] = truncated_batches;
    out << report.dump(2) << '\n';
    if (!out) die("could not write " + opts.json_file);
  }
  return 0;
}
