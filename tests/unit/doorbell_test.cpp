// fabric::doorbell: how a peer wakes a node's sleeping progress thread, and why it does not while
// one of the node's threads polls for itself (src/fabric/doorbell.hpp, "Pollers").
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "fabric/doorbell.hpp"

namespace fabric = drust::fabric;
using namespace std::chrono_literals;

namespace {

// A node's doorbell and a peer's view of it, as two mappings of one page in /dev/shm.
struct bell_pair {
  bell_pair() {
    static int pairs = 0;
    name = "/drust-test" + std::to_string(::getpid()) + "-" + std::to_string(++pairs) + ".doorbell";
    auto created = fabric::doorbell::create(name);
    REQUIRE_MESSAGE(created.ok(), created.status().ToString());
    owner = std::move(*created);
    auto attached = fabric::doorbell::attach(name);
    REQUIRE_MESSAGE(attached.ok(), attached.status().ToString());
    peer = std::move(*attached);
    owner.unlink();
  }
  std::string name;
  fabric::doorbell owner;
  fabric::doorbell peer;
};

}  // namespace

TEST_CASE("a ring wakes an owner that sleeps, and costs nothing when it does not") {
  bell_pair bells;
  CHECK_FALSE(std::filesystem::exists("/dev/shm" + bells.name));  // unlinked once both mapped it

  std::uint32_t ticket = bells.owner.prepare_to_sleep();
  CHECK(bells.owner.owner_asleep());
  bells.peer.ring();
  CHECK(bells.owner.rung_since(ticket));
  bells.owner.awake();
  CHECK_FALSE(bells.owner.owner_asleep());

  // Awake: the ring only looks.
  ticket = bells.owner.prepare_to_sleep();
  bells.owner.awake();
  bells.peer.ring();
  CHECK_FALSE(bells.owner.rung_since(ticket));
}

TEST_CASE("while one of the owner's threads polls, peers do not ring; the owner's own wake-up still does") {
  bell_pair bells;
  const std::uint32_t ticket = bells.owner.prepare_to_sleep();
  bells.owner.poller_enter();
  bells.peer.ring();
  CHECK_FALSE(bells.owner.rung_since(ticket));  // the poller takes the message
  // The poller that leaves sees the progress thread asleep, so it looks once more itself.
  bells.owner.poller_enter();
  bells.owner.poller_leave();
  bells.peer.ring();
  CHECK_FALSE(bells.owner.rung_since(ticket));  // one poller is still there
  CHECK(bells.owner.owner_asleep());
  bells.owner.wake_owner();  // to stop it, or for work only it runs
  CHECK(bells.owner.rung_since(ticket));
  bells.owner.poller_leave();

  const std::uint32_t later = bells.owner.prepare_to_sleep();
  bells.peer.ring();  // nobody polls now
  CHECK(bells.owner.rung_since(later));
  bells.owner.awake();
}

TEST_CASE("an owner asleep on the futex is woken by a ring from another process's view") {
  bell_pair bells;
  std::atomic<bool> woken{false};
  std::thread sleeper([&] {
    const std::uint32_t ticket = bells.owner.prepare_to_sleep();
    // Long enough that a timeout cannot pass for a ring; the ring comes within milliseconds.
    while (!bells.owner.rung_since(ticket)) bells.owner.sleep(ticket, std::chrono::milliseconds(20000));
    bells.owner.awake();
    woken = true;
  });
  while (!bells.owner.owner_asleep()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);  // most likely in the futex by now; if not, the ticket tells it
  const auto started = std::chrono::steady_clock::now();
  bells.peer.ring();
  sleeper.join();
  CHECK(woken.load());
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}
