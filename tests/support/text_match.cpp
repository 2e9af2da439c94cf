#include "text_match.hpp"

#include <regex>

namespace drust_test {
namespace {

std::vector<std::string> groups_of(const std::smatch& match) {
  std::vector<std::string> groups;
  groups.reserve(match.size());
  for (const auto& group : match) groups.push_back(group.str());
  return groups;
}

}  // namespace

std::optional<std::vector<std::string>> search(const std::string& text, const std::string& pattern) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(pattern))) return std::nullopt;
  return groups_of(match);
}

std::vector<std::vector<std::string>> search_all(const std::string& text, const std::string& pattern) {
  std::vector<std::vector<std::string>> all;
  const std::regex expression(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), expression); it != std::sregex_iterator(); ++it) {
    all.push_back(groups_of(*it));
  }
  return all;
}

bool matches(const std::string& text, const std::string& pattern) { return search(text, pattern).has_value(); }

bool matches_whole(const std::string& text, const std::string& pattern) {
  return std::regex_match(text, std::regex(pattern));
}

}  // namespace drust_test
