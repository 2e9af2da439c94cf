#include "shell_quote.hpp"

namespace drust::launcher {

namespace {

bool is_safe_in_shell(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         ::std::string_view("_-+=/.,:@%").find(c) != ::std::string_view::npos;
}

}  // namespace

::std::string shell_quote(::std::string_view word) {
  bool safe = !word.empty();
  for (char c : word) safe = safe && is_safe_in_shell(c);
  if (safe) return ::std::string(word);
  ::std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

::std::string shell_command(const ::std::vector<::std::string>& words) {
  ::std::string command;
  for (const ::std::string& word : words) {
    if (!command.empty()) command += ' ';
    command += shell_quote(word);
  }
  return command;
}

}  // namespace drust::launcher
