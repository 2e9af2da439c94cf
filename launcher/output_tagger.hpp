// --tag-output: copies a node's stdout or stderr to drun's, each line prefixed with "[n3] ".
//
// Lines are written whole, so the nodes' lines never interleave mid-line. A line longer than 64 KiB
// is cut in pieces, each prefixed; a last line without a newline gets one.
#pragma once

#include <string>

#include "event_loop.hpp"

namespace drust::launcher {

class output_tagger {
 public:
  // Takes ownership of `source_fd` (non-blocking), which it reads on `loop` until its end.
  output_tagger(event_loop& loop, int source_fd, int destination_fd, ::std::string prefix);
  output_tagger(const output_tagger&) = delete;
  output_tagger& operator=(const output_tagger&) = delete;
  ~output_tagger();

  // True once the source reached its end (every writer closed it).
  bool finished() const { return source_fd_ < 0; }

  // Writes out what is buffered and stops reading: for a source that a leftover process still
  // holds open when drun ends.
  void finish();

 private:
  void on_readable();
  void write_lines(bool flush_partial);

  event_loop& loop_;
  int source_fd_;
  int destination_fd_;
  ::std::string prefix_;
  ::std::string pending_;  // bytes of an unfinished line
};

}  // namespace drust::launcher
