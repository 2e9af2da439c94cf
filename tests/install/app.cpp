// tests/install/app.cpp — a user's first drust program, built outside the tree against an installed
// drust (tests/install/check.sh):
//
//   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs drust) -o app
//   ./app              # one node:  num_nodes=1, the thread runs on node 0
//   drun -n 2 ./app    # two nodes: num_nodes=2, the thread runs on node 1
#include <cstdio>

#include <drust/runtime>
#include <drust/std/thread>

int main() {
  const int nodes = drust::num_nodes();
  std::printf("install-app: node %d, num_nodes=%d\n", drust::node_id(), nodes);
  std::fflush(stdout);

  drust::std::thread t(drust::on(nodes - 1), [] {
    std::printf("install-app: thread ran on node %d\n", drust::node_id());
    std::fflush(stdout);
  });
  t.join();

  std::printf("install-app: joined\n");
  return 0;
}
