// Accepted: sendable values of every serialized kind, drust handles and a promise, as arguments.
#include <drust/std/future>
#include <drust/std/memory>
#include <drust/std/thread>
#include <array>
#include <optional>
#include <string>
#include <tuple>
#include <vector>
struct plain { int a; double b; };
void use(std::string, std::vector<std::string>, std::tuple<int, plain>, std::array<int, 2>, std::optional<std::string>,
         drust::std::unique_ptr<int>, drust::std::promise<int> p) { p.set_value(1); }
int main() {
  drust::std::promise<int> p;
  auto f = p.get_future();
  drust::std::thread(use, std::string("a"), std::vector<std::string>{"b"}, std::make_tuple(1, plain{2, 3.0}),
                     std::array<int, 2>{4, 5}, std::optional<std::string>(), drust::std::make_unique<int>(6),
                     std::move(p)).join();
  return f.get() == 1 ? 0 : 1;
}
