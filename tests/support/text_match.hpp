// Regular expressions for tests that read a program's output, compiled once in the support library
// (text_match.cpp): <regex> in a test file cost 5 s of compile per file at -O2 and 10 s under ASan.
// The patterns are std::regex's ECMAScript syntax.
//
//   auto groups = drust_test::search(result.out, R"(main node=(\d+) pid=(\d+))");
//   REQUIRE(groups.has_value());              // (*groups)[0] is the whole match, [1] the node
//   for (const auto& match : drust_test::search_all(result.out, R"(thread node=(\d+))")) ...
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace drust_test {

// The whole match and each group of `pattern`'s first match in `text`; nullopt when none.
std::optional<std::vector<std::string>> search(const std::string& text, const std::string& pattern);

// Every match of `pattern` in `text`, in order, each as search() gives it.
std::vector<std::vector<std::string>> search_all(const std::string& text, const std::string& pattern);

// True when `pattern` matches in `text` (matches_whole: when it matches all of `text`).
bool matches(const std::string& text, const std::string& pattern);
bool matches_whole(const std::string& text, const std::string& pattern);

// How many times `pattern` matches in `text`.
inline int count_of(const std::string& text, const std::string& pattern) {
  return static_cast<int>(search_all(text, pattern).size());
}

}  // namespace drust_test
