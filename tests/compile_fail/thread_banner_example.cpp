// The example in <drust/std/thread>'s banner compiles.
#include <drust/runtime>
#include <drust/std/thread>
#include <string>
void work(std::string name, int part) { static_cast<void>(name), static_cast<void>(part); }
int main() {
  drust::std::thread t(drust::on(drust::num_nodes() - 1), work, std::string("left"), 7);
  drust::std::jthread j([](std::stop_token stop) { while (!stop.stop_requested()) {} });
  t.join();
}   // j: request_stop(), then join()
