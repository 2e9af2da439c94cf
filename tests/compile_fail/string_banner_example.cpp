// The example in the banner of <drust/std/string>, word for word: it must compile.
#include <cstdio>

#include <drust/std/string>
int main() {
  drust::std::string name = "drust";
  name += "::std::string";
  std::string_view text = name;  // a read
  std::printf("%s has %zu characters\n", name.c_str(), text.size());
  return name.starts_with("drust") && name.find("std") == 7 ? 0 : 1;
}
