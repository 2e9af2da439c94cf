#include "random_id.hpp"

#include <sys/random.h>

#include <vector>

namespace drust::launcher {

absl::StatusOr<::std::string> random_hex(::std::size_t digits) {
  ::std::vector<unsigned char> bytes((digits + 1) / 2);
  ::std::size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t got = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_status("getrandom");
    filled += static_cast<::std::size_t>(got);
  }
  constexpr char hex_digits[] = "0123456789abcdef";
  ::std::string text;
  for (unsigned char byte : bytes) {
    text += hex_digits[byte >> 4];
    text += hex_digits[byte & 0xf];
  }
  text.resize(digits);
  return text;
}

}  // namespace drust::launcher
