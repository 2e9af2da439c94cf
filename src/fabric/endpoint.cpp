#include "fabric/endpoint.hpp"

#include <rdma/fi_errno.h>

#include <cstring>

namespace drust::fabric {

absl::Status fabric_status(const char* call, int error) {
  if (error < 0) error = -error;
  return absl::UnavailableError(absl::StrCat(call, " failed: ", fi_strerror(error)));
}

namespace {

// Close a libfabric object if it was opened.
template <class Fid>
void close_fid(Fid*& object) {
  if (object != nullptr) fi_close(&object->fid);
  object = nullptr;
}

}  // namespace

absl::StatusOr<::std::unique_ptr<endpoint>> endpoint::open(const endpoint_options& options) {
  ::std::unique_ptr<endpoint> opened(new endpoint());
  DRUST_RETURN_IF_ERROR(opened->open_resources(options));
  return opened;
}

absl::Status endpoint::open_resources(const endpoint_options& options) {
  traits_ = find_provider(options.provider);
  if (traits_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("libfabric provider '", options.provider,
                                                   "' is unknown; use one of ",
                                                   known_provider_names()));
  }

  fi_info* hints = fi_allocinfo();
  if (hints == nullptr) return absl::ResourceExhaustedError("fi_allocinfo failed");
  hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->ep_attr->type = FI_EP_RDM;
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  // drust serialises its own calls into the endpoint (see transport), so libfabric need not lock.
  hints->domain_attr->threading = FI_THREAD_DOMAIN;
  hints->domain_attr->av_type = FI_AV_TABLE;
  hints->fabric_attr->prov_name = ::strdup(::std::string(traits_->libfabric).c_str());

  // shm names its shared-memory region after the endpoint: give it the job's prefix so that drun
  // can remove what a killed node leaves in /dev/shm. Socket providers bind to the node's host.
  ::std::string source;
  if (traits_->single_host) {
    source = absl::StrCat("drust-", options.job, "-n", options.node);
  } else if (traits_->bind_to_host) {
    source = options.bind_host;
  }
  int rc = fi_getinfo(FI_VERSION(1, 15), source.empty() ? nullptr : source.c_str(), nullptr,
                      source.empty() ? 0 : FI_SOURCE, hints, &info_);
  fi_freeinfo(hints);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "libfabric provider '", ::std::string(traits_->name), "' is not usable here (fi_getinfo: ",
        fi_strerror(-rc), "); pick another with DRUST_PROVIDER or the cluster file's \"provider\""));
  }

  const ::std::uint64_t mr_mode = info_->domain_attr->mr_mode;
  needs_local_registration_ = (mr_mode & FI_MR_LOCAL) != 0;
  virtual_addresses_ = (mr_mode & FI_MR_VIRT_ADDR) != 0;
  provider_keys_ = (mr_mode & FI_MR_PROV_KEY) != 0;
  inject_limit_ = info_->tx_attr->inject_size;

  if ((rc = fi_fabric(info_->fabric_attr, &fabric_, nullptr)) != 0) return fabric_status("fi_fabric", rc);
  if ((rc = fi_domain(fabric_, info_, &domain_, nullptr)) != 0) return fabric_status("fi_domain", rc);

  fi_av_attr av_attr{};
  av_attr.type = FI_AV_TABLE;
  if ((rc = fi_av_open(domain_, &av_attr, &av_, nullptr)) != 0) return fabric_status("fi_av_open", rc);

  fi_cq_attr cq_attr{};
  cq_attr.format = FI_CQ_FORMAT_MSG;
  cq_attr.size = 1024;
  cq_attr.wait_obj = traits_->idle == idle_wait::wait_fd && options.wait_object ? FI_WAIT_FD : FI_WAIT_NONE;
  if ((rc = fi_cq_open(domain_, &cq_attr, &cq_, nullptr)) != 0) return fabric_status("fi_cq_open", rc);
  if (cq_attr.wait_obj == FI_WAIT_FD && fi_control(&cq_->fid, FI_GETWAIT, &wait_fd_) != 0) wait_fd_ = -1;

  if ((rc = fi_endpoint(domain_, info_, &ep_, nullptr)) != 0) return fabric_status("fi_endpoint", rc);
  if ((rc = fi_ep_bind(ep_, &av_->fid, 0)) != 0) return fabric_status("fi_ep_bind(av)", rc);
  if ((rc = fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV)) != 0) return fabric_status("fi_ep_bind(cq)", rc);
  if ((rc = fi_enable(ep_)) != 0) return fabric_status("fi_enable", rc);

  char name[256];
  size_t name_length = sizeof name;
  if ((rc = fi_getname(&ep_->fid, name, &name_length)) != 0) return fabric_status("fi_getname", rc);
  address_.assign(name, name_length);
  return absl::OkStatus();
}

endpoint::~endpoint() {
  for (fid_mr*& region : regions_) close_fid(region);
  close_fid(ep_);
  close_fid(cq_);
  close_fid(av_);
  close_fid(domain_);
  close_fid(fabric_);
  if (info_ != nullptr) fi_freeinfo(info_);
}

absl::Status endpoint::insert_peers(const ::std::vector<::std::string>& addresses) {
  for (::std::size_t node = 0; node < addresses.size(); ++node) {
    fi_addr_t inserted = FI_ADDR_NOTAVAIL;
    int rc = fi_av_insert(av_, addresses[node].data(), 1, &inserted, 0, nullptr);
    if (rc != 1) return fabric_status("fi_av_insert", rc < 0 ? rc : FI_EINVAL);
    if (inserted != node) {
      return absl::InternalError(absl::StrCat("fi_av_insert gave index ", inserted, " to node ", node));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<memory_region> endpoint::register_memory(void* base, ::std::size_t length) {
  fid_mr* region = nullptr;
  const ::std::uint64_t access = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
  const ::std::uint64_t requested_key = provider_keys_ ? 0 : next_key_++;
  int rc = fi_mr_reg(domain_, base, length, access, 0, requested_key, 0, &region, nullptr);
  if (rc != 0) return fabric_status("fi_mr_reg", rc);
  regions_.push_back(region);
  memory_region registered;
  registered.base = reinterpret_cast<::std::uint64_t>(base);
  registered.length = length;
  registered.key = fi_mr_key(region);
  registered.descriptor = fi_mr_desc(region);
  return registered;
}

ssize_t endpoint::post_receive(void* buffer, ::std::size_t length, void* descriptor, void* context) {
  return fi_recv(ep_, buffer, length, descriptor, FI_ADDR_UNSPEC, context);
}

ssize_t endpoint::post_send(int peer, const void* buffer, ::std::size_t length, void* descriptor,
                            void* context) {
  return fi_send(ep_, buffer, length, descriptor, static_cast<fi_addr_t>(peer), context);
}

ssize_t endpoint::post_inject(int peer, const void* buffer, ::std::size_t length) {
  return fi_inject(ep_, buffer, length, static_cast<fi_addr_t>(peer));
}

ssize_t endpoint::post_read(int peer, void* local, ::std::size_t length, void* descriptor,
                            ::std::uint64_t remote_address, ::std::uint64_t key, void* context) {
  return fi_read(ep_, local, length, descriptor, static_cast<fi_addr_t>(peer), remote_address, key, context);
}

ssize_t endpoint::post_write(int peer, const void* local, ::std::size_t length, void* descriptor,
                             ::std::uint64_t remote_address, ::std::uint64_t key, void* context) {
  return fi_write(ep_, local, length, descriptor, static_cast<fi_addr_t>(peer), remote_address, key, context);
}

ssize_t endpoint::read_completions(fi_cq_msg_entry* entries, ::std::size_t capacity) {
  return fi_cq_read(cq_, entries, capacity);
}

fi_cq_err_entry endpoint::read_error() {
  fi_cq_err_entry entry{};
  fi_cq_readerr(cq_, &entry, 0);
  return entry;
}

::std::string endpoint::error_text(const fi_cq_err_entry& entry) {
  const char* detail = fi_cq_strerror(cq_, entry.prov_errno, entry.err_data, nullptr, 0);
  return absl::StrCat(fi_strerror(entry.err), detail != nullptr ? absl::StrCat(" (", detail, ")") : "");
}

bool endpoint::try_wait() {
  fid* waitable = &cq_->fid;
  return fi_trywait(fabric_, &waitable, 1) == FI_SUCCESS;
}

}  // namespace drust::fabric
