// The example in <drust/std/future>'s banner compiles.
#include <drust/runtime>
#include <drust/std/future>
#include <string>
std::string greet(int n) { return "hello " + std::to_string(n); }
int main() {
  auto f = drust::std::async(drust::on(drust::num_nodes() - 1), greet, 3);
  drust::std::promise<int> p;
  auto answer = p.get_future();
  drust::std::thread t([](drust::std::promise<int> q) { q.set_value(42); }, std::move(p));
  t.join();
  return f.get() == "hello 3" && answer.get() == 42 ? 0 : 1;
}
