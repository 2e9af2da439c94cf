// drust::std::string on a one-node runtime: the std::string interface checked against std::string
// (fixed cases and random operation sequences), comparisons with every kind of text in both
// orders, hashing, streams, views and shipping. Remote characters are exercised by
// tests/cluster/vector_test.cpp.
#include <doctest/doctest.h>

#include <compare>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "runtime/node_runtime.hpp"

#include <drust/runtime>
#include <drust/std/string>
#include <drust/std/vector>

namespace dstd = drust::std;
using namespace std::string_view_literals;

namespace {

void check_same(const dstd::string& s, const std::string& model) {
  REQUIRE(s.size() == model.size());
  CHECK(s.length() == model.length());
  CHECK(s.empty() == model.empty());
  CHECK(std::string_view(s) == model);
  CHECK(std::strlen(s.c_str()) == model.size());  // NUL-terminated, no NUL inside in these tests
  CHECK(s.c_str()[s.size()] == '\0');
  CHECK(std::string(s.begin(), s.end()) == model);
  CHECK(s.capacity() >= s.size());
}

}  // namespace

static_assert(drust::relocatable<dstd::string>);
static_assert(drust::detail::shipped_handle<dstd::string>);
static_assert(std::ranges::contiguous_range<dstd::string>);
static_assert(std::is_nothrow_move_constructible_v<dstd::string>);
static_assert(std::is_convertible_v<const char*, dstd::string>);
static_assert(std::is_convertible_v<std::string, dstd::string>);
static_assert(!std::is_convertible_v<std::string_view, dstd::string>);  // explicit, as in std
static_assert(std::is_convertible_v<dstd::string, std::string_view>);

TEST_CASE("construction and assignment agree with std::string") {
  check_same(dstd::string(), "");
  check_same(dstd::string("hello"), "hello");
  check_same(dstd::string("hello", 3), "hel");
  check_same(dstd::string(4, 'x'), "xxxx");
  check_same(dstd::string("view"sv), "view");
  check_same(dstd::string(std::string("from std")), "from std");
  const std::string source = "iterators";
  check_same(dstd::string(source.begin(), source.end()), source);
  check_same(dstd::string({'a', 'b', 'c'}), "abc");
  const dstd::string base = "0123456789";
  check_same(dstd::string(base, 3), "3456789");
  check_same(dstd::string(base, 3, 4), "3456");
  CHECK_THROWS_AS(dstd::string(base, 11), std::out_of_range);

  dstd::string s;
  s = "text";
  check_same(s, "text");
  s = "longer text than before"sv;
  check_same(s, "longer text than before");
  s = std::string("std");
  check_same(s, "std");
  s = 'c';
  check_same(s, "c");
  s = {'x', 'y'};
  check_same(s, "xy");
  dstd::string other = "other";
  s = other;
  check_same(s, "other");
  s = std::move(other);
  check_same(s, "other");
  check_same(other, "");  // NOLINT: moved-from
  s.assign(5, 'z');
  check_same(s, "zzzzz");
  s.assign("abc");
  check_same(s, "abc");
  s.assign(source.begin(), source.end());
  check_same(s, source);
  // Assigning a part of itself.
  s.assign(std::string_view(s).substr(2, 4));
  check_same(s, "erat");
}

TEST_CASE("access, iteration and capacity") {
  dstd::string s = "hello";
  CHECK(s[0] == 'h');
  CHECK(std::as_const(s)[4] == 'o');
  CHECK(s.at(1) == 'e');
  CHECK_THROWS_AS((void)s.at(5), std::out_of_range);
  CHECK_THROWS_AS((void)std::as_const(s).at(5), std::out_of_range);
  CHECK(s.front() == 'h');
  CHECK(s.back() == 'o');
  s[0] = 'j';
  s.back() = 'y';
  check_same(s, "jelly");
  for (char& c : s) c = static_cast<char>(c - 'a' + 'A');
  check_same(s, "JELLY");
  CHECK(std::string(s.rbegin(), s.rend()) == "YLLEJ");
  s.data()[0] = 'B';
  check_same(s, "BELLY");
  CHECK(std::string(std::as_const(s).data()) == "BELLY");
  s.reserve(100);
  CHECK(s.capacity() >= 100);
  check_same(s, "BELLY");
  s.shrink_to_fit();
  CHECK(s.capacity() == 5);
  s.clear();
  check_same(s, "");
  dstd::string empty;
  CHECK(empty.c_str() != nullptr);
  CHECK(*empty.c_str() == '\0');
  CHECK(*empty.data() == '\0');
  CHECK(empty.begin() == empty.end());
}

TEST_CASE("modifiers agree with std::string") {
  dstd::string s;
  std::string model;
  s += "abc";
  model += "abc";
  s += 'd';
  model += 'd';
  s += std::string("ef");
  model += std::string("ef");
  s += "gh"sv;
  model += "gh"sv;
  s += dstd::string("ij");
  model += std::string("ij");
  s.push_back('k');
  model.push_back('k');
  s.append(3, '!').append("xy", 1).append(dstd::string("0123"), 1, 2);
  model.append(3, '!').append("xy", 1).append(std::string("0123"), 1, 2);
  check_same(s, model);
  s.insert(0, "<<");
  model.insert(0, "<<");
  s.insert(3, 2, '-');
  model.insert(3, 2, '-');
  s.insert(s.size(), dstd::string(">>"));
  model.insert(model.size(), ">>");
  s.insert(s.begin() + 1, '*');
  model.insert(model.begin() + 1, '*');
  CHECK_THROWS_AS(s.insert(s.size() + 1, "x"), std::out_of_range);
  check_same(s, model);
  s.erase(2, 3);
  model.erase(2, 3);
  s.erase(s.begin());
  model.erase(model.begin());
  s.erase(s.begin() + 1, s.begin() + 3);
  model.erase(model.begin() + 1, model.begin() + 3);
  s.erase(10);
  model.erase(10);
  check_same(s, model);
  s.replace(1, 2, "REPLACED");
  model.replace(1, 2, "REPLACED");
  s.replace(0, 100, dstd::string("all"));
  model.replace(0, 100, "all");
  check_same(s, model);
  s.resize(6, '.');
  model.resize(6, '.');
  s.resize(2);
  model.resize(2);
  s.pop_back();
  model.pop_back();
  check_same(s, model);
  // Appending itself (the text must be read before anything moves).
  s = "abc";
  for (int i = 0; i < 10; ++i) s.append(s);
  CHECK(s.size() == 3 * 1024);
  CHECK(s.substr(3 * 1023) == "abc");
  s = "xyz";
  for (int i = 0; i < 5; ++i) s += std::string_view(s).substr(1);
  CHECK(s.size() == 3 + 2 + 4 + 8 + 16 + 32);
}

TEST_CASE("random operation sequences agree with std::string") {
  std::mt19937_64 random(31);
  for (int run = 0; run < 20; ++run) {
    dstd::string s;
    std::string model;
    for (int step = 0; step < 300; ++step) {
      const std::string text(static_cast<std::size_t>(random() % 12),
                             static_cast<char>('a' + random() % 26));
      const std::size_t at = random() % (model.size() + 1);
      switch (random() % 8) {
        case 0:
          s += text;
          model += text;
          break;
        case 1:
          s.insert(at, text);
          model.insert(at, text);
          break;
        case 2: {
          const std::size_t count = random() % 10;
          s.erase(at, count);
          model.erase(at, count);
          break;
        }
        case 3: {
          const std::size_t count = random() % 10;
          s.replace(at, count, text);
          model.replace(at, count, text);
          break;
        }
        case 4:
          s = s.substr(at / 2) + text;
          model = model.substr(at / 2) + text;
          break;
        case 5:
          s.resize(at + text.size(), 'r');
          model.resize(at + text.size(), 'r');
          break;
        case 6:
          if (!model.empty()) {
            s[at % model.size()] = 'Q';
            model[at % model.size()] = 'Q';
          }
          break;
        default:
          s.push_back('p');
          model.push_back('p');
          break;
      }
      REQUIRE(std::string_view(s) == model);
    }
    check_same(s, model);
    for (const char* needle : {"a", "Q", "pp", "rr", "zz", "", "ab"}) {
      CAPTURE(needle);
      CHECK(s.find(needle) == model.find(needle));
      CHECK(s.rfind(needle) == model.rfind(needle));
      CHECK(s.find(needle, 5) == model.find(needle, 5));
      CHECK(s.find_first_of(needle) == model.find_first_of(needle));
      CHECK(s.find_last_of(needle) == model.find_last_of(needle));
      CHECK(s.find_first_not_of(needle) == model.find_first_not_of(needle));
      CHECK(s.find_last_not_of(needle) == model.find_last_not_of(needle));
      CHECK(s.starts_with(needle) == model.starts_with(needle));
      CHECK(s.ends_with(needle) == model.ends_with(needle));
      CHECK(s.contains(needle) == (model.find(needle) != std::string::npos));
      CHECK((s.compare(needle) < 0) == (model.compare(needle) < 0));
    }
    CHECK(s.find('p') == model.find('p'));
    CHECK(s.rfind('p') == model.rfind('p'));
  }
}

TEST_CASE("operations: substr, find, compare, starts_with, ends_with") {
  const dstd::string s = "the quick brown fox";
  CHECK(s.substr(4, 5) == "quick");
  CHECK(s.substr(16) == "fox");
  CHECK(s.substr() == s);
  CHECK(s.substr(19).empty());
  CHECK_THROWS_AS((void)s.substr(20), std::out_of_range);
  CHECK(s.find("quick") == 4);
  CHECK(s.find('o') == 12);
  CHECK(s.rfind('o') == 17);
  CHECK(s.find("cat") == dstd::string::npos);
  CHECK(s.find_first_of("aeiou") == 2);
  CHECK(s.find_last_not_of("xof") == 15);
  CHECK(s.starts_with("the"));
  CHECK(s.starts_with('t'));
  CHECK(s.ends_with("fox"sv));
  CHECK_FALSE(s.ends_with('t'));
  CHECK(s.contains("brown"));
  CHECK(s.compare("the") > 0);
  CHECK(s.compare(4, 5, "quick") == 0);
  char buffer[8] = {};
  CHECK(s.copy(buffer, 5, 4) == 5);
  CHECK(std::string(buffer) == "quick");
}

TEST_CASE("comparisons with strings, C strings, std::strings and string views, both ways") {
  const dstd::string abc = "abc";
  const dstd::string abd = "abd";
  const std::string std_abc = "abc";
  CHECK(abc == dstd::string("abc"));
  CHECK(abc != abd);
  CHECK(abc < abd);
  CHECK(abd > abc);
  CHECK(abc <= abc);
  CHECK((abc <=> abd) == std::strong_ordering::less);
  CHECK(abc == "abc");
  CHECK("abc" == abc);
  CHECK(abc != "abcd");
  CHECK("abb" < abc);
  CHECK(abc < "abd");
  CHECK(abc == "abc"sv);
  CHECK("abc"sv == abc);
  CHECK("abd"sv > abc);
  CHECK(abc == std_abc);
  CHECK(std_abc == abc);
  CHECK(std_abc < abd);
  CHECK(abd > std_abc);
  CHECK((std_abc <=> abc) == std::strong_ordering::equal);
  CHECK(dstd::string() == "");
  CHECK(dstd::string() < "a");
  // A NUL inside is an ordinary character.
  const dstd::string with_nul("a\0b", 3);
  CHECK(with_nul.size() == 3);
  CHECK(with_nul != "a");
  CHECK(with_nul == std::string_view("a\0b", 3));
}

TEST_CASE("concatenation, hashing, streams and numbers") {
  const dstd::string a = "left";
  CHECK(a + "-" + a == "left-left");
  CHECK("<" + a == "<left");
  CHECK(a + '!' == "left!");
  CHECK('!' + a == "!left");
  CHECK(a + std::string("+") == "left+");
  CHECK(std::string("+") + a == "+left");
  CHECK(a + "sv"sv == "leftsv");
  CHECK(dstd::string("x") + dstd::string("y") + 'z' + "w" == "xyzw");

  CHECK(std::hash<dstd::string>{}(a) == std::hash<std::string_view>{}("left"));
  std::unordered_map<dstd::string, int> counts;
  ++counts["one"];
  ++counts[dstd::string("one")];
  ++counts["two"];
  CHECK(counts.at("one") == 2);
  CHECK(counts.size() == 2);

  std::ostringstream out;
  out << a << ' ' << dstd::string("right");
  CHECK(out.str() == "left right");
  std::istringstream in("first second\nthird line\n");
  dstd::string word;
  in >> word;
  CHECK(word == "first");
  dstd::string line;
  getline(in, line);
  CHECK(line == " second");
  getline(in, line);
  CHECK(line == "third line");

  CHECK(dstd::to_string(42) == "42");
  CHECK(dstd::to_string(-7L) == "-7");
  CHECK(dstd::stoi(dstd::string("123")) == 123);
  CHECK(dstd::stoll(dstd::string("-9000000000")) == -9000000000LL);
  CHECK(dstd::stod(dstd::string("2.5")) == 2.5);
  const std::string converted(a);
  CHECK(converted == "left");
}

TEST_CASE("views, shipping and recolouring") {
  dstd::string s(1000, 'a');
  s[500] = 'b';
  const drust::slice_ref<char> part = s.view(495, 10);
  CHECK(std::string_view(part) == "aaaaabaaaa");
  CHECK(part.word() == s.word() + 495);
  CHECK_THROWS_AS((void)s.view(995, 6), std::out_of_range);
  CHECK(std::string_view(s.view()) == std::string_view(s));

  using traits = drust::detail::wire_traits<dstd::string>;
  const auto word = s.word();
  auto wire = traits::to_wire(std::move(s));
  CHECK(s.empty());  // NOLINT: moved-from
  CHECK(*s.c_str() == '\0');
  dstd::string received = traits::from_wire(wire);
  CHECK(received.size() == 1000);
  CHECK(received[500] == 'b');  // a write: the received storage recolours
  CHECK(received.word() != word);
  CHECK(drust::detail::address_of(received.word()) == drust::detail::address_of(word));

  // A string on the stack that was never viewed keeps its colour through writes.
  dstd::string quiet = "quiet";
  const auto quiet_word = quiet.word();
  for (int i = 0; i < 1000; ++i) quiet[0] = static_cast<char>('a' + i % 26);
  CHECK(quiet.word() == quiet_word);

  // Strings in a vector live in the global heap: their writes recolour.
  dstd::vector<dstd::string> names{"x", "y"};
  const auto name_word = std::as_const(names)[0].word();
  names[0] += "z";
  CHECK(std::as_const(names)[0].word() != name_word);
  CHECK(std::as_const(names)[0] == "xz");
}

TEST_CASE("every block is freed") {
  const std::uint64_t before = drust::stats().live_objects;
  {
    dstd::string s = "some text that is long enough";
    dstd::string t = s + s;
    t += t;
    dstd::vector<dstd::string> v(20, t);
    v.erase(v.begin(), v.begin() + 5);
    dstd::string moved = std::move(s);
    moved.clear();
    moved.shrink_to_fit();
    CHECK(moved.word() == 0);
  }
  CHECK(drust::stats().live_objects == before);
}
