// Length-prefixed blobs over a pipe, for unit tests that fork a peer process and swap addresses
// with it (transport_test, wire_validation_test). A short read or write fails the test.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace drust_test {

inline void write_blob(int fd, const std::string& blob) {
  std::uint32_t size = static_cast<std::uint32_t>(blob.size());
  REQUIRE(::write(fd, &size, sizeof size) == sizeof size);
  REQUIRE(::write(fd, blob.data(), size) == static_cast<ssize_t>(size));
}

inline std::string read_blob(int fd) {
  std::uint32_t size = 0;
  REQUIRE(::read(fd, &size, sizeof size) == sizeof size);
  std::string blob(size, '\0');
  for (std::size_t done = 0; done < size;) {
    ssize_t got = ::read(fd, blob.data() + done, size - done);
    REQUIRE(got > 0);
    done += static_cast<std::size_t>(got);
  }
  return blob;
}

}  // namespace drust_test
