// The placement decision for threads without drust::on (src/thread/placement.hpp): each rule,
// how ties fall, and how a node estimates another node's load from a stale table.
#include <doctest/doctest.h>

#include <vector>

#include "thread/placement.hpp"

using drust::threads::choose_thread_node;
using drust::threads::data_at;
using drust::threads::data_home;
using drust::threads::estimated_threads;
using drust::threads::node_load;
using drust::threads::placement_inputs;

namespace {

placement_inputs inputs(int node, unsigned cores, unsigned running, const std::vector<node_load>& table,
                        const std::vector<data_at>& data = {}, bool heap_has_room = true) {
  placement_inputs in;
  in.node = node;
  in.cores = cores;
  in.running = running;
  in.heap_has_room = heap_has_room;
  in.table = table;
  in.data = data;
  return in;
}

}  // namespace

TEST_CASE("a node with a free core and heap room keeps its threads") {
  const std::vector<node_load> table = {{0, 4}, {0, 4}, {0, 4}};
  CHECK(choose_thread_node(inputs(0, 4, 0, table)) == 0);
  CHECK(choose_thread_node(inputs(1, 4, 3, table)) == 1);
}

TEST_CASE("a full node sends its thread to the least loaded node") {
  const std::vector<node_load> table = {{9, 2}, {3, 4}, {1, 4}, {2, 4}};
  CHECK(choose_thread_node(inputs(0, 2, 2, table)) == 2);
}

TEST_CASE("least loaded is threads per core, not threads") {
  // Node 1 runs more threads than node 2 but has room for far more.
  const std::vector<node_load> table = {{2, 2}, {4, 16}, {2, 2}};
  CHECK(choose_thread_node(inputs(0, 2, 2, table)) == 1);
}

TEST_CASE("a node out of heap room sends its thread away even with free cores") {
  const std::vector<node_load> table = {{0, 4}, {2, 4}, {1, 4}};
  CHECK(choose_thread_node(inputs(0, 4, 0, table, {}, false)) == 2);
}

TEST_CASE("ties in load go to this node, then to more free cores, then to the lowest id") {
  SUBCASE("this node is as loaded as the best other: it stays here") {
    const std::vector<node_load> table = {{2, 2}, {2, 2}, {2, 2}};
    CHECK(choose_thread_node(inputs(0, 2, 2, table)) == 0);
  }
  SUBCASE("equal load elsewhere: the lowest id") {
    const std::vector<node_load> table = {{5, 2}, {1, 2}, {1, 2}};
    CHECK(choose_thread_node(inputs(0, 2, 4, table)) == 1);
  }
  SUBCASE("equal ratio: the node with more free cores") {
    const std::vector<node_load> table = {{5, 2}, {1, 2}, {2, 4}};
    CHECK(choose_thread_node(inputs(0, 2, 4, table)) == 2);
  }
  SUBCASE("no heap room here: never here while another node is known") {
    const std::vector<node_load> table = {{0, 2}, {8, 2}};
    CHECK(choose_thread_node(inputs(0, 2, 0, table, {}, false)) == 1);
  }
  SUBCASE("no table and no room: here, the only node known") {
    CHECK(choose_thread_node(inputs(0, 2, 5, {}, {}, false)) == 0);
  }
}

TEST_CASE("data affinity: the thread goes to the node holding most of its argument bytes") {
  const std::vector<node_load> table = {{0, 4}, {0, 4}, {0, 4}, {0, 4}};
  SUBCASE("one remote object") { CHECK(choose_thread_node(inputs(0, 4, 0, table, {{2, 64}})) == 2); }
  SUBCASE("most bytes win over most handles") {
    CHECK(choose_thread_node(inputs(0, 4, 0, table, {{1, 8}, {1, 8}, {3, 100}})) == 3);
  }
  SUBCASE("data here keeps it here") { CHECK(choose_thread_node(inputs(0, 4, 0, table, {{0, 64}, {2, 8}})) == 0); }
  SUBCASE("a tie with this node stays here") { CHECK(choose_thread_node(inputs(0, 4, 0, table, {{2, 8}, {0, 8}})) == 0); }
  SUBCASE("a tie between others: the lowest id") { CHECK(choose_thread_node(inputs(0, 4, 0, table, {{3, 8}, {1, 8}})) == 1); }
  SUBCASE("entries without a node are ignored") { CHECK(choose_thread_node(inputs(0, 4, 0, table, {{-1, 999}, {2, 1}})) == 2); }
  SUBCASE("it wins over a free core here") { CHECK(choose_thread_node(inputs(1, 4, 0, table, {{3, 8}})) == 3); }
}

TEST_CASE("data affinity yields when the data's node is full") {
  const std::vector<node_load> table = {{0, 4}, {1, 4}, {4, 4}, {2, 4}};
  CHECK(choose_thread_node(inputs(0, 4, 0, table, {{2, 64}})) == 0);  // here has a free core
  CHECK(choose_thread_node(inputs(0, 4, 4, table, {{2, 64}})) == 1);  // here is full too: least loaded
}

TEST_CASE("when every node is as busy, the data's node wins the tie") {
  // Node 0 (here) and nodes 1, 2 and 3 all run two threads on two cores; the data is on node 3.
  const std::vector<node_load> table = {{2, 2}, {2, 2}, {2, 2}, {2, 2}};
  CHECK(choose_thread_node(inputs(0, 2, 2, table, {{3, 64}})) == 3);
  // A lighter node still wins over the data's node.
  const std::vector<node_load> lighter = {{2, 2}, {2, 2}, {1, 2}, {2, 2}};
  CHECK(choose_thread_node(inputs(0, 2, 2, lighter, {{3, 64}})) == 2);
}

TEST_CASE("data affinity to a node missing from the table is not followed") {
  const std::vector<node_load> table = {{0, 4}, {0, 4}};
  CHECK(choose_thread_node(inputs(0, 4, 0, table, {{5, 64}})) == 0);
}

TEST_CASE("data_home") {
  CHECK(data_home({}, 0) == -1);
  const std::vector<data_at> none = {{-1, 5}};
  CHECK(data_home(none, 0) == -1);
  const std::vector<data_at> split = {{1, 4}, {2, 4}};
  CHECK(data_home(split, 2) == 2);
  CHECK(data_home(split, 0) == 1);
  const std::vector<data_at> empty_object = {{3, 0}};
  CHECK(data_home(empty_object, 0) == 3);
}

TEST_CASE("estimated_threads: this node's own threads counted as they are now, not as reported") {
  // The report counted 2 threads of this node that have ended since (an async's value is back
  // while its thread still destroys its arguments): the node is idle.
  CHECK(estimated_threads(2, 2, 0) == 0);
  // It was taken before this node started 3 threads there.
  CHECK(estimated_threads(0, 0, 3) == 3);
  // 1 thread another node started, beside this node's 2 (one of which has ended since).
  CHECK(estimated_threads(3, 2, 1) == 2);
  // However old the report: 2 of another node's, and this node's 1 (started since) counted once.
  CHECK(estimated_threads(4, 2, 1) == 3);
  // The count of this node's threads read a thread ahead of the total: never below what runs now.
  CHECK(estimated_threads(1, 2, 4) == 4);
}
