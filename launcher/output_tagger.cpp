#include "output_tagger.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <string_view>


namespace drust::launcher {

namespace {

constexpr ::std::size_t longest_line = 64 * 1024;

// Writes all of `bytes` to a terminal, file or pipe. A closed destination drops them: drun must
// keep managing its nodes even when nobody reads its output.
void write_fully(int fd, ::std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    bytes.remove_prefix(static_cast<::std::size_t>(written));
  }
}

}  // namespace

output_tagger::output_tagger(event_loop& loop, int source_fd, int destination_fd, ::std::string prefix)
    : loop_(loop), source_fd_(source_fd), destination_fd_(destination_fd), prefix_(::std::move(prefix)) {
  loop_.watch(source_fd_, [this] { on_readable(); });
}

output_tagger::~output_tagger() { finish(); }

void output_tagger::finish() {
  if (source_fd_ < 0) return;
  write_lines(/*flush_partial=*/true);
  loop_.unwatch(source_fd_);
  ::close(source_fd_);
  source_fd_ = -1;
}

void output_tagger::on_readable() {
  ::std::array<char, 16 * 1024> buffer;
  while (source_fd_ >= 0) {
    ssize_t got = ::read(source_fd_, buffer.data(), buffer.size());
    if (got > 0) {
      pending_.append(buffer.data(), static_cast<::std::size_t>(got));
      write_lines(/*flush_partial=*/false);
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    finish();  // end of file, or an error that will not go away
  }
}

void output_tagger::write_lines(bool flush_partial) {
  ::std::string out;
  ::std::size_t start = 0;
  while (true) {
    auto newline = pending_.find('\n', start);
    if (newline == ::std::string::npos) {
      if (pending_.size() - start >= longest_line) newline = start + longest_line - 1;
      else break;
    }
    out += prefix_;
    out.append(pending_, start, newline + 1 - start);
    if (pending_[newline] != '\n') out += '\n';
    start = newline + 1;
  }
  pending_.erase(0, start);
  if (flush_partial && !pending_.empty()) {
    out += prefix_ + pending_ + "\n";
    pending_.clear();
  }
  write_fully(destination_fd_, out);
}

}  // namespace drust::launcher
