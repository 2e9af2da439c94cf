// A doorbell: lets an idle progress engine sleep and a peer on the same host wake it.
//
// libfabric's shm provider has no blocking completion-queue wait, so an idle node would have to
// spin. Instead each node owns one small shared-memory page (/dev/shm/drust-<job>-n<node>.doorbell)
// holding a futex word; a peer that sends to a sleeping node bumps the word and wakes it. The page
// is unlinked as soon as every peer has mapped it, so a killed node leaves nothing behind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.hpp"

namespace drust::fabric {

class doorbell {
 public:
  doorbell() = default;
  ~doorbell();
  doorbell(doorbell&& other) noexcept;
  doorbell& operator=(doorbell&& other) noexcept;

  // Creates this node's doorbell (the owner sleeps on it).
  static absl::StatusOr<doorbell> create(const ::std::string& name);
  // Maps a peer's doorbell (to ring it).
  static absl::StatusOr<doorbell> attach(const ::std::string& name);
  // Removes the name from /dev/shm; mappings stay valid.
  void unlink();

  bool valid() const { return state_ != nullptr; }

  // Wakes the owner if it sleeps and none of its threads polls (see poller_enter). Cheap when it
  // does not: two loads of shared memory.
  void ring();
  // The owner's side: wakes its sleeping progress thread whoever polls (to stop it, or for work
  // only it runs).
  void wake_owner();

  // Pollers. A thread of the owner that polls the completion queue itself (a caller waiting for
  // its reply, a receiver waiting for a value) finds what peers send as well as the progress
  // thread would, so while one polls, peers do not ring: a ring would wake a progress thread that
  // the poller has parked, for a message the poller takes anyway. A poller that stops polls once
  // more after poller_leave: a message posted before a peer saw the count fall is found there, one
  // posted after it rings (the same pairing as prepare_to_sleep and ring).
  void poller_enter();
  void poller_leave();
  // Whether the owner's progress thread sleeps (or is about to): a poller that leaves polls once
  // more only then, since an awake progress thread finds what the poller left.
  bool owner_asleep() const;

  // The owner's side: announce the intent to sleep and take a ticket, look for work once more,
  // then sleep unless the ticket changed; finally mark itself awake.
  ::std::uint32_t prepare_to_sleep();
  void sleep(::std::uint32_t ticket, ::std::chrono::milliseconds timeout);
  void awake();
  // Whether someone rang since `ticket` was taken.
  bool rung_since(::std::uint32_t ticket) const;

  // Replies. A caller of the owner's node that waits for a reply polls for it, so peers do not
  // ring for replies, unless the owner has announced callers that stopped polling and sleep until
  // their replies come (transport::wait_until): then the reply must wake the owner's progress
  // thread, which polls for them.
  // The owner's side: one more (+1) or one fewer (-1) caller asleep. After +1 the caller looks for
  // its reply once more before sleeping: a reply posted before the announcement is found there,
  // one posted after it rings (the same pairing as prepare_to_sleep and ring).
  void expect_replies(int change);
  // A peer's side, after posting a reply: rings when the owner has callers asleep.
  void ring_for_reply();

 private:
  struct shared_state {
    ::std::atomic<::std::uint32_t> sleeping;
    ::std::atomic<::std::uint32_t> ticket;
    ::std::atomic<::std::uint32_t> callers_asleep;  // expect_replies
    ::std::atomic<::std::uint32_t> pollers;         // poller_enter
  };
  static absl::StatusOr<doorbell> map(const ::std::string& name, bool create);
  // ring and wake_owner: wakes a sleeping owner, unless (`unless_polled`) one of its threads polls.
  void wake(bool unless_polled);

  shared_state* state_ = nullptr;
  ::std::string name_;
};

}  // namespace drust::fabric
