// Refused: a std container drust does not serialize.
#include <drust/std/thread>
#include <map>
void use(std::map<int, int> table) { static_cast<void>(table); }
void refused() { drust::std::thread(use, std::map<int, int>{{1, 2}}).join(); }
