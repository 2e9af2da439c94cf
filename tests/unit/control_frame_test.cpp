#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/frame.hpp"

using namespace drust::control;
using namespace std::chrono_literals;

TEST_CASE("frames survive being cut anywhere") {
  nlohmann::json first = {{"type", "hello"}, {"node", 3}};
  nlohmann::json second = {{"type", "ready"}};
  std::string bytes = encode_frame(first) + encode_frame(second);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    frame_reader reader;
    reader.feed(bytes.data(), cut);
    std::vector<nlohmann::json> got;
    while (true) {
      auto next = reader.next();
      REQUIRE(next.ok());
      if (!next->has_value()) break;
      got.push_back(**next);
    }
    reader.feed(bytes.data() + cut, bytes.size() - cut);
    while (true) {
      auto next = reader.next();
      REQUIRE(next.ok());
      if (!next->has_value()) break;
      got.push_back(**next);
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0] == first);
    CHECK(got[1] == second);
  }
}

TEST_CASE("oversized and non-object frames are errors") {
  frame_reader reader;
  const char huge[4] = {0x7f, 0, 0, 0};
  reader.feed(huge, 4);
  CHECK_FALSE(reader.next().ok());

  frame_reader not_object;
  std::string frame = encode_frame(nlohmann::json::array({1, 2}));
  not_object.feed(frame.data(), frame.size());
  CHECK_FALSE(not_object.next().ok());
}

TEST_CASE("blocking send and receive over a socket pair, with a deadline and a closed peer") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  REQUIRE(send_frame(fds[0], {{"type", "start"}}).ok());
  auto got = receive_frame(fds[1], 1000ms);
  REQUIRE(got.ok());
  CHECK((*got)["type"] == "start");

  auto nothing = receive_frame(fds[1], 50ms);
  CHECK(absl::IsDeadlineExceeded(nothing.status()));

  ::close(fds[0]);
  auto closed = receive_frame(fds[1], 1000ms);
  CHECK(absl::IsUnavailable(closed.status()));
  ::close(fds[1]);
}

TEST_CASE("host:port parsing") {
  auto parsed = split_host_port("127.0.0.1:7000");
  REQUIRE(parsed.ok());
  CHECK(parsed->first == "127.0.0.1");
  CHECK(parsed->second == 7000);
  auto v6 = split_host_port("[::1]:80");
  REQUIRE(v6.ok());
  CHECK(v6->first == "::1");
  CHECK_FALSE(split_host_port("nohost").ok());
  CHECK_FALSE(split_host_port("h:99999").ok());
  CHECK_FALSE(split_host_port("h:12a").ok());
}
