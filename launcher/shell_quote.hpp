// Quoting words for a POSIX shell, for the command line ssh hands to the remote login shell.
//
// ssh joins its arguments with spaces and the remote shell splits them again, so every word drun
// sends (paths, the program's arguments, environment assignments) must be quoted to arrive intact.
//
//   shell_command({"env", "A=x y", "/opt/app", "it's"})  ==  "env 'A=x y' /opt/app 'it'\''s'"
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace drust::launcher {

// `word` as the shell will read it back: unchanged when it has only safe characters, else in
// single quotes (a single quote inside becomes '\'').
::std::string shell_quote(::std::string_view word);

// The words quoted and joined with spaces.
::std::string shell_command(const ::std::vector<::std::string>& words);

}  // namespace drust::launcher
