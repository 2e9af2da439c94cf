// The example in the banner of <drust/std/vector>, word for word: it must compile.
#include <cstdlib>
#include <utility>

#include <drust/std/thread>
#include <drust/std/vector>
void check(drust::slice_ref<long> half) {
  if (half.size() != 500 || half[0] != 1) std::abort();
}
int main() {
  drust::std::vector<long> v(1000, 1);
  v.push_back(5);                                 // a write: the storage is on this node
  drust::std::thread t(check, v.view(500, 500));  // a thread (anywhere) reads half of it
  t.join();
  return std::as_const(v).back() == 5 ? 0 : 1;
}
