// Refused: a class drust does not know how to copy (not trivially copyable, no drust::codec<T>).
#include <drust/std/thread>
#include <string>
class person {
 public:
  explicit person(std::string name) : name_(std::move(name)) {}
 private:
  std::string name_;
};
void greet(person p) { static_cast<void>(p); }
void refused() { drust::std::thread(greet, person("ada")).join(); }
