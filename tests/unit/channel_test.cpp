// drust::std::sync channels on a one-node runtime (every channel homed here): unbounded and
// bounded channels, try_recv, recv_for timing out, disconnection both ways, many producer
// threads, range-for, values holding std::string / std::vector / drust::std::unique_ptr (their
// objects given back when nobody receives them), sync_channel(0) refused, ends shipped through
// the codec. Several nodes: tests/cluster/channel_test.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <drust/codec>
#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/sync>

#include "runtime/node_runtime.hpp"
#include "sync/channel_service.hpp"

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

std::uint64_t channels_now() { return drust::sync::channel_service::instance().counters().channels.load(); }

struct message {
  int sender;
  int serial;
};

}  // namespace

TEST_CASE("an unbounded channel delivers in order and ends when the sender goes") {
  const std::uint64_t before = channels_now();
  {
    auto [tx, rx] = dstd::sync::channel<int>();
    CHECK(channels_now() == before + 1);
    for (int i = 0; i < 1000; ++i) tx.send(i);
    for (int i = 0; i < 1000; ++i) CHECK(rx.recv() == i);
    CHECK_FALSE(rx.try_recv().has_value());
    tx.send(7);
    tx.reset();
    CHECK(rx.recv() == 7);
    CHECK_FALSE(rx.recv().has_value());  // every sender gone, nothing queued
    CHECK_FALSE(rx.recv_for(1ms).has_value());
  }
  CHECK(channels_now() == before);
}

TEST_CASE("recv_for times out while senders live") {
  auto [tx, rx] = dstd::sync::channel<int>();
  CHECK_FALSE(rx.recv_for(20ms).has_value());
  CHECK_FALSE(rx.recv_until(std::chrono::steady_clock::now() + 5ms).has_value());
  std::thread later([tx = tx] {
    std::this_thread::sleep_for(10ms);
    tx.send(3);
  });
  CHECK(rx.recv_timeout(10s) == 3);
  later.join();
}

TEST_CASE("send throws send_error once the receiver is gone") {
  auto [tx, rx] = dstd::sync::channel<std::string>();
  tx.send("kept");
  { auto gone = std::move(rx); }
  CHECK_THROWS_AS(tx.send("lost"), dstd::sync::send_error);
  dstd::sync::sender<std::string> empty;
  CHECK_THROWS_AS(empty.send("x"), dstd::sync::send_error);
}

TEST_CASE("many producer threads: every value once, in order per sender") {
  constexpr int producers = 8;
  constexpr int each = 2000;
  auto [tx, rx] = dstd::sync::channel<message>();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([p, tx = tx] {
      for (int i = 0; i < each; ++i) tx.send(message{p, i});
    });
  }
  tx.reset();
  std::vector<int> next(producers, 0);
  int total = 0;
  for (message m : rx) {
    CHECK(m.serial == next[m.sender]);
    next[m.sender] = m.serial + 1;
    ++total;
  }
  CHECK(total == producers * each);
  for (auto& thread : threads) thread.join();
}

TEST_CASE("a bounded channel blocks the sender while full") {
  auto [tx, rx] = dstd::sync::sync_channel<int>(2);
  tx.send(1);
  tx.send(2);
  int third = 3;
  CHECK_FALSE(tx.try_send(std::move(third)));
  CHECK(third == 3);
  std::atomic<bool> sent{false};
  std::thread blocked([&, tx = tx] {
    tx.send(3);
    sent = true;
  });
  std::this_thread::sleep_for(20ms);
  CHECK(rx.recv() == 1);  // room for one: the blocked send goes on
  blocked.join();
  CHECK(sent.load());
  CHECK(rx.recv() == 2);
  CHECK(rx.recv() == 3);
  CHECK(tx.try_send(4));
  CHECK(rx.try_recv() == 4);
}

TEST_CASE("a bounded send blocked on a full channel throws when the receiver goes") {
  auto [tx, rx] = dstd::sync::sync_channel<int>(1);
  tx.send(1);
  std::thread dropper([rx = std::move(rx)]() mutable {
    std::this_thread::sleep_for(20ms);
    auto gone = std::move(rx);
  });
  CHECK_THROWS_AS(tx.send(2), dstd::sync::send_error);
  dropper.join();
}

TEST_CASE("sync_channel(0) is refused") {
  CHECK_THROWS_AS(dstd::sync::sync_channel<int>(0), std::invalid_argument);
}

TEST_CASE("values with strings, vectors and unique_ptrs inside") {
  using value = std::pair<std::string, std::vector<dstd::unique_ptr<int>>>;
  const std::uint64_t objects_before = drust::stats().live_objects;
  {
    auto [tx, rx] = dstd::sync::channel<value>();
    std::vector<dstd::unique_ptr<int>> boxes;
    boxes.push_back(dstd::make_unique<int>(41));
    boxes.push_back(dstd::make_unique<int>(42));
    tx.send(value{"answer", std::move(boxes)});
    std::optional<value> got = rx.recv();
    REQUIRE(got.has_value());
    CHECK(got->first == "answer");
    REQUIRE(got->second.size() == 2);
    CHECK(*got->second[1] == 42);
    // Queued and never received: destroyed with the receiver, their objects freed.
    std::vector<dstd::unique_ptr<int>> more;
    more.push_back(dstd::make_unique<int>(1));
    tx.send(value{"dropped", std::move(more)});
  }
  CHECK(drust::stats().live_objects == objects_before);
}

TEST_CASE("ends travel through the codec without changing the count") {
  const std::uint64_t before = channels_now();
  {
    auto [tx, rx] = dstd::sync::channel<int>();
    static_assert(drust::sendable<dstd::sync::sender<int>> && drust::sendable<dstd::sync::receiver<int>>);
    std::string sender_bytes = drust::detail::encode(std::move(tx));
    std::string receiver_bytes = drust::detail::encode(std::move(rx));
    CHECK_FALSE(static_cast<bool>(tx));
    auto tx2 = drust::detail::decode<dstd::sync::sender<int>>(sender_bytes);
    auto rx2 = drust::detail::decode<dstd::sync::receiver<int>>(receiver_bytes);
    auto tx3 = tx2;  // a copy: two senders now
    tx2.send(5);
    tx2.reset();
    tx3.send(6);
    CHECK(rx2.recv() == 5);
    CHECK(rx2.recv() == 6);
    tx3 = {};
    CHECK_FALSE(rx2.recv().has_value());
  }
  CHECK(channels_now() == before);
}
