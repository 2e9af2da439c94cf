#include "fabric/doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <utility>

namespace drust::fabric {

namespace {

long futex(void* word, int operation, ::std::uint32_t value, const timespec* timeout) {
  return ::syscall(SYS_futex, word, operation, value, timeout, nullptr, 0);
}

}  // namespace

absl::StatusOr<doorbell> doorbell::map(const ::std::string& name, bool create) {
  int flags = create ? (O_RDWR | O_CREAT | O_EXCL) : O_RDWR;
  int fd = ::shm_open(name.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) return errno_status(absl::StrCat("shm_open(", name, ")"));
  if (create && ::ftruncate(fd, sizeof(shared_state)) != 0) {
    auto status = errno_status(absl::StrCat("ftruncate(", name, ")"));
    ::close(fd);
    ::shm_unlink(name.c_str());
    return status;
  }
  void* page = ::mmap(nullptr, sizeof(shared_state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (page == MAP_FAILED) return errno_status(absl::StrCat("mmap(", name, ")"));
  doorbell bell;
  bell.state_ = static_cast<shared_state*>(page);
  bell.name_ = name;
  return bell;
}

absl::StatusOr<doorbell> doorbell::create(const ::std::string& name) { return map(name, true); }
absl::StatusOr<doorbell> doorbell::attach(const ::std::string& name) { return map(name, false); }

doorbell::~doorbell() {
  if (state_ != nullptr) ::munmap(state_, sizeof(shared_state));
}

doorbell::doorbell(doorbell&& other) noexcept
    : state_(::std::exchange(other.state_, nullptr)), name_(::std::move(other.name_)) {}

doorbell& doorbell::operator=(doorbell&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) ::munmap(state_, sizeof(shared_state));
    state_ = ::std::exchange(other.state_, nullptr);
    name_ = ::std::move(other.name_);
  }
  return *this;
}

void doorbell::unlink() {
  if (!name_.empty()) ::shm_unlink(name_.c_str());
}

void doorbell::ring() { wake(/*unless_polled=*/true); }

void doorbell::wake_owner() { wake(/*unless_polled=*/false); }

void doorbell::wake(bool unless_polled) {
  if (state_ == nullptr) return;
  // Pairs with prepare_to_sleep(): either the owner's last look for work sees what the caller
  // posted before ringing, or this load sees `sleeping` and the ticket bump wakes the owner. And
  // with poller_leave(): either the poller's last look sees it, or this load sees no poller.
  ::std::atomic_thread_fence(::std::memory_order_seq_cst);
  if (state_->sleeping.load(::std::memory_order_relaxed) == 0) return;
  if (unless_polled && state_->pollers.load(::std::memory_order_relaxed) != 0) return;
  state_->ticket.fetch_add(1, ::std::memory_order_seq_cst);
  futex(&state_->ticket, FUTEX_WAKE, 1, nullptr);
}

void doorbell::poller_enter() {
  if (state_ != nullptr) state_->pollers.fetch_add(1, ::std::memory_order_seq_cst);
}

void doorbell::poller_leave() {
  if (state_ != nullptr) state_->pollers.fetch_sub(1, ::std::memory_order_seq_cst);
}

bool doorbell::owner_asleep() const {
  return state_ != nullptr && state_->sleeping.load(::std::memory_order_seq_cst) != 0;
}

::std::uint32_t doorbell::prepare_to_sleep() {
  state_->sleeping.store(1, ::std::memory_order_seq_cst);
  return state_->ticket.load(::std::memory_order_seq_cst);
}

void doorbell::sleep(::std::uint32_t ticket, ::std::chrono::milliseconds timeout) {
  timespec wait{static_cast<time_t>(timeout.count() / 1000),
                static_cast<long>((timeout.count() % 1000) * 1000000)};
  futex(&state_->ticket, FUTEX_WAIT, ticket, &wait);
}

void doorbell::awake() { state_->sleeping.store(0, ::std::memory_order_relaxed); }

void doorbell::expect_replies(int change) {
  if (state_ == nullptr) return;  // a provider without doorbells: its progress thread sleeps in poll(2)
  state_->callers_asleep.fetch_add(static_cast<::std::uint32_t>(change), ::std::memory_order_seq_cst);
}

void doorbell::ring_for_reply() {
  if (state_ == nullptr) return;
  ::std::atomic_thread_fence(::std::memory_order_seq_cst);
  if (state_->callers_asleep.load(::std::memory_order_relaxed) == 0) return;
  ring();
}

bool doorbell::rung_since(::std::uint32_t ticket) const {
  return state_->ticket.load(::std::memory_order_acquire) != ticket;
}

}  // namespace drust::fabric
