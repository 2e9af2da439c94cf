#include "control/frame.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace drust::control {

namespace {

using ::std::chrono::milliseconds;
using ::std::chrono::steady_clock;

int remaining_ms(steady_clock::time_point deadline) {
  auto left = ::std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Reads exactly `size` bytes before `deadline`.
absl::Status read_exact(int fd, char* out, ::std::size_t size, steady_clock::time_point deadline) {
  ::std::size_t done = 0;
  while (done < size) {
    pollfd waiter{fd, POLLIN, 0};
    int ready = ::poll(&waiter, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno_status("poll on control connection");
    if (ready == 0) return absl::DeadlineExceededError("no message from the other side in time");
    ssize_t got = ::read(fd, out + done, size - done);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return errno_status("read from control connection");
    if (got == 0) return absl::UnavailableError("control connection closed by the other side");
    done += static_cast<::std::size_t>(got);
  }
  return absl::OkStatus();
}

::std::uint32_t decode_length(const char* bytes) {
  ::std::uint32_t network;
  ::std::memcpy(&network, bytes, sizeof network);
  return ntohl(network);
}

// A frame's JSON text as an object, or an error.
absl::StatusOr<nlohmann::json> parse_frame_body(::std::string_view body) {
  auto message = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded() || !message.is_object()) {
    return absl::InvalidArgumentError("control frame is not a JSON object");
  }
  return message;
}

}  // namespace

::std::string encode_frame(const nlohmann::json& message) {
  ::std::string body = message.dump();
  ::std::uint32_t network = htonl(static_cast<::std::uint32_t>(body.size()));
  ::std::string frame(sizeof network, '\0');
  ::std::memcpy(frame.data(), &network, sizeof network);
  frame += body;
  return frame;
}

absl::Status write_all(int fd, ::std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno == EAGAIN) {
      pollfd waiter{fd, POLLOUT, 0};
      ::poll(&waiter, 1, 100);
      continue;
    }
    if (sent < 0) return errno_status("write to control connection");
    bytes.remove_prefix(static_cast<::std::size_t>(sent));
  }
  return absl::OkStatus();
}

absl::Status send_frame(int fd, const nlohmann::json& message) {
  return write_all(fd, encode_frame(message));
}

absl::StatusOr<nlohmann::json> receive_frame(int fd, milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  char header[4];
  DRUST_RETURN_IF_ERROR(read_exact(fd, header, sizeof header, deadline));
  ::std::uint32_t length = decode_length(header);
  if (length > max_frame_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("control frame of ", length, " bytes is too large"));
  }
  ::std::string body(length, '\0');
  DRUST_RETURN_IF_ERROR(read_exact(fd, body.data(), length, deadline));
  return parse_frame_body(body);
}

absl::StatusOr<::std::optional<nlohmann::json>> frame_reader::next() {
  if (buffer_.size() < 4) return ::std::optional<nlohmann::json>{};
  ::std::uint32_t length = decode_length(buffer_.data());
  if (length > max_frame_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("control frame of ", length, " bytes is too large"));
  }
  if (buffer_.size() < 4 + static_cast<::std::size_t>(length)) return ::std::optional<nlohmann::json>{};
  absl::StatusOr<nlohmann::json> message = parse_frame_body(::std::string_view(buffer_).substr(4, length));
  buffer_.erase(0, 4 + static_cast<::std::size_t>(length));
  if (!message.ok()) return message.status();
  return ::std::optional<nlohmann::json>(*::std::move(message));
}

::std::optional<::std::int64_t> integer_field(const nlohmann::json& message, const char* name) {
  if (!message.is_object()) return ::std::nullopt;
  auto field = message.find(name);
  if (field == message.end() || !field->is_number_integer()) return ::std::nullopt;
  // An unsigned value past int64's range is no valid count or id.
  if (field->is_number_unsigned() && field->get<::std::uint64_t>() > static_cast<::std::uint64_t>(INT64_MAX)) {
    return ::std::nullopt;
  }
  return field->get<::std::int64_t>();
}

::std::optional<::std::string> string_field(const nlohmann::json& message, const char* name) {
  if (!message.is_object()) return ::std::nullopt;
  auto field = message.find(name);
  if (field == message.end() || !field->is_string()) return ::std::nullopt;
  return field->get<::std::string>();
}

absl::StatusOr<::std::pair<::std::string, ::std::uint16_t>> split_host_port(::std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == ::std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", ::std::string(text), "' is not host:port"));
  }
  ::std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError(absl::StrCat("'", ::std::string(text), "' has a bad port"));
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return absl::InvalidArgumentError(absl::StrCat("'", ::std::string(text), "' has a bad port"));
  }
  return ::std::pair{host, static_cast<::std::uint16_t>(port)};
}

namespace {

absl::StatusOr<addrinfo*> resolve(const ::std::string& host, ::std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  ::std::string service = ::std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve host '", host, "': ", gai_strerror(rc)));
  }
  return found;
}

}  // namespace

absl::StatusOr<int> connect_tcp(const ::std::string& host, ::std::uint16_t port, milliseconds timeout) {
  DRUST_ASSIGN_OR_RETURN(addrinfo * found, resolve(host, port, false));
  auto deadline = steady_clock::now() + timeout;
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port));
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd waiter{fd, POLLOUT, 0};
      int ready;
      do ready = ::poll(&waiter, 1, remaining_ms(deadline));
      while (ready < 0 && errno == EINTR);
      int error = ETIMEDOUT;
      socklen_t len = sizeof error;
      if (ready > 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      rc = error == 0 ? 0 : -1;
      errno = error;
    }
    if (rc == 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::freeaddrinfo(found);
      return fd;
    }
    last = errno_status(absl::StrCat("connect to ", host, ":", port));
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return last;
}

absl::StatusOr<::std::pair<int, ::std::uint16_t>> listen_tcp(const ::std::string& host, ::std::uint16_t port) {
  DRUST_ASSIGN_OR_RETURN(addrinfo * found, resolve(host, port, true));
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port));
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
      ::std::uint16_t bound_port = bound.ss_family == AF_INET6
                                       ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      ::freeaddrinfo(found);
      return ::std::pair{fd, bound_port};
    }
    last = errno_status(absl::StrCat("listen on ", host, ":", port));
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return last;
}

}  // namespace drust::control
