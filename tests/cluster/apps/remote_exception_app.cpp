// A thread on node 1 throws and nobody catches it: like std::thread, the program ends, here the
// whole job, with a message naming the node and the exception.
#include <cstdio>
#include <stdexcept>

#include <drust/runtime>
#include <drust/std/thread>

namespace {
void fail(int code) {
  if (code != 0) throw std::runtime_error("thrown on purpose by the test");
}
}  // namespace

int main() {
  drust::std::thread t(drust::on(1), fail, 1);
  t.join();
  std::puts("main went on after the exception");
  return 0;
}
