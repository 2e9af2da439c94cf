// One libfabric RDM endpoint with its fabric, domain, address vector and completion queue.
//
// This is the thin, unlocked wrapper over libfabric calls; `transport` adds locking, active
// messages, waiting, timeouts and progress on top of it. Peers are addressed by node id: the
// address vector is a table filled in node order, so fi_addr_t == node id.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_rma.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "fabric/provider_table.hpp"

namespace drust::fabric {

struct endpoint_options {
  ::std::string provider = "shm";  // a name find_provider() knows
  ::std::string job;               // names the shm endpoint: drust-<job>-n<node>
  int node = 0;
  ::std::string bind_host = "127.0.0.1";  // for providers with bind_to_host
  bool wait_object = true;  // open the CQ with the provider's wait object (idle_wait::wait_fd)
};

// A registered memory region: what a peer needs to reach it, and what local calls pass as desc.
struct memory_region {
  ::std::uint64_t base = 0;    // first byte
  ::std::uint64_t length = 0;
  ::std::uint64_t key = 0;     // remote key
  void* descriptor = nullptr;  // local descriptor (fi_mr_desc), for providers with FI_MR_LOCAL
};

// Where a peer's region is, as the peer reported it at bootstrap.
struct remote_region {
  ::std::uint64_t base = 0;
  ::std::uint64_t key = 0;
};

class endpoint {
 public:
  static absl::StatusOr<::std::unique_ptr<endpoint>> open(const endpoint_options& options);
  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  const provider_traits& provider() const { return *traits_; }
  // The endpoint's fabric address (opaque bytes, as fi_getname gives them).
  const ::std::string& address() const { return address_; }
  ::std::size_t inject_limit() const { return inject_limit_; }
  // Whether local buffers must be registered (FI_MR_LOCAL): then send/read/write need descriptors.
  bool needs_local_registration() const { return needs_local_registration_; }

  // Inserts every node's address, in node order, so that fi_addr_t == node id.
  absl::Status insert_peers(const ::std::vector<::std::string>& addresses);

  // Registers [base, base + length) for local use and remote read and write.
  absl::StatusOr<memory_region> register_memory(void* base, ::std::size_t length);

  // Posting calls return -FI_EAGAIN as is (the caller drives progress and retries).
  ssize_t post_receive(void* buffer, ::std::size_t length, void* descriptor, void* context);
  ssize_t post_send(int peer, const void* buffer, ::std::size_t length, void* descriptor, void* context);
  ssize_t post_inject(int peer, const void* buffer, ::std::size_t length);
  ssize_t post_read(int peer, void* local, ::std::size_t length, void* descriptor,
                    ::std::uint64_t remote_address, ::std::uint64_t key, void* context);
  ssize_t post_write(int peer, const void* local, ::std::size_t length, void* descriptor,
                     ::std::uint64_t remote_address, ::std::uint64_t key, void* context);

  // Reads up to `capacity` completions. Returns the count, 0, or a negative fi error; on
  // -FI_EAVAIL, `read_error` returns the failed entry.
  ssize_t read_completions(fi_cq_msg_entry* entries, ::std::size_t capacity);
  fi_cq_err_entry read_error();
  ::std::string error_text(const fi_cq_err_entry& entry);

  // The CQ's wait file descriptor (idle_wait::wait_fd), or -1.
  int wait_fd() const { return wait_fd_; }
  // fi_trywait: true when it is safe to sleep on wait_fd().
  bool try_wait();

  // The remote address to use for a peer's object at `address` (FI_MR_VIRT_ADDR or offset).
  ::std::uint64_t remote_offset(const remote_region& region, ::std::uint64_t address) const {
    return virtual_addresses_ ? address : address - region.base;
  }

 private:
  endpoint() = default;
  absl::Status open_resources(const endpoint_options& options);

  const provider_traits* traits_ = nullptr;
  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_av* av_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_ep* ep_ = nullptr;
  ::std::vector<fid_mr*> regions_;
  ::std::string address_;
  ::std::size_t inject_limit_ = 0;
  bool needs_local_registration_ = false;
  bool virtual_addresses_ = true;
  bool provider_keys_ = false;
  int wait_fd_ = -1;
  ::std::uint64_t next_key_ = 1;
};

// "fi_xxx failed: <fi_strerror>" as a status.
absl::Status fabric_status(const char* call, int error);

}  // namespace drust::fabric
