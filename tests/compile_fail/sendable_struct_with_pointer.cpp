// Refused: a trivially copyable struct whose member points to memory of this node.
#include <drust/std/thread>
struct view { const char* text; int length; };
void use(view v) { static_cast<void>(v); }
void refused() { drust::std::thread(use, view{"abc", 3}).join(); }
