// Refused: a std::string_view points into memory of this node (trivially copyable, but not sendable).
#include <drust/std/thread>
#include <string_view>
void print(std::string_view text) { static_cast<void>(text); }
void refused() { drust::std::thread(print, std::string_view("text")).join(); }
