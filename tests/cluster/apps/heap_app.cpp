// Objects of the global heap read and written from every node, checked value by value.
// Usage: heap_app <scenario> [arguments]
//   list           a list of unique_ptrs built on node 0, read by every node (twice: cache hits),
//                  then taken by the last node, written there (moves), and read again by all
//   reuse          an object read remotely, freed, and its address reused: no stale copy is served;
//                  a local write recolours: remote readers see the new value
//   random SEED N  N random operations (create, local write, remote write, remote read) on many
//                  objects of two sizes, against a sequential model
//   exhaust        allocates until the whole cluster is full: objects spill to other nodes past
//                  the pressure threshold, then std::bad_alloc says the heap is full
// A thread that sees a wrong value throws, which ends the job with a message (so the test fails);
// main prints "result ok" when everything held.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/thread>

namespace {

void require(bool condition, const char* what) {
  if (!condition) throw std::runtime_error(std::string("check failed on node ") + std::to_string(drust::node_id()) + ": " + what);
}

// Partition i is [base + i * P, base + (i + 1) * P); this node's is the local heap. (The base is
// not a constant here: the sanitizer builds use another one, src/heap/partition.hpp.)
int home_of(const void* address) {
  const std::uint64_t partition = drust::detail::local_heap_size;
  const std::uint64_t base = drust::detail::local_heap_begin - partition * static_cast<std::uint64_t>(drust::node_id());
  return static_cast<int>((reinterpret_cast<std::uintptr_t>(address) - base) / partition);
}
template <class Handle>
int home_of_handle(const Handle& p) {
  return home_of(reinterpret_cast<const void*>(drust::detail::address_of(p.word())));
}

// ---------------------------------------------------------------------------------------------
// list

struct list_node {
  std::int64_t value;
  drust::std::unique_ptr<list_node> next;
};

constexpr int list_length = 200;

std::int64_t sum_list(const drust::std::unique_ptr<list_node>& head) {
  std::int64_t sum = 0;
  for (const list_node* n = head.get(); n != nullptr; n = n->next.get()) sum += n->value;
  return sum;
}

void read_list(drust::ref<drust::std::unique_ptr<list_node>> head, std::int64_t expected) {
  const drust::runtime_stats before = drust::stats();
  require(sum_list(*head) == expected, "the list's sum (first read)");
  require(sum_list(*head) == expected, "the list's sum (second read)");
  const drust::runtime_stats after = drust::stats();
  std::printf("reader node=%d remote_reads=%" PRIu64 " cache_hits=%" PRIu64 "\n", drust::node_id(),
              after.remote_reads - before.remote_reads, after.cache_hits - before.cache_hits);
  std::fflush(stdout);
  // Where the list is remote, every element was read once, then hit in the cache.
  if (home_of_handle(*head) == drust::node_id()) return;
  require(after.remote_reads - before.remote_reads >= list_length, "remote reads counted");
  require(after.cache_hits - before.cache_hits >= list_length, "cache hits counted");
}

void write_list_then_read_everywhere(drust::std::unique_ptr<drust::std::unique_ptr<list_node>> head) {
  const drust::runtime_stats before = drust::stats();
  // A mutable walk: every element moves here.
  for (list_node* n = head->get(); n != nullptr; n = n->next.get()) n->value *= 2;
  const drust::runtime_stats after = drust::stats();
  std::printf("writer node=%d moves=%" PRIu64 "\n", drust::node_id(), after.moves - before.moves);
  std::fflush(stdout);
  require(after.moves - before.moves >= list_length, "moves counted");
  require(home_of_handle(*std::as_const(head)) == drust::node_id(), "the written head lives on the writer's node");
  std::int64_t expected = 0;
  for (int i = 0; i < list_length; ++i) expected += 2 * i;
  std::vector<drust::std::thread> readers;
  for (int node = 0; node < drust::num_nodes(); ++node) {
    readers.emplace_back(drust::on(node), read_list, std::as_const(head).borrow(), expected);
  }
  for (auto& reader : readers) reader.join();
}

int run_list() {
  auto head = drust::std::make_unique<drust::std::unique_ptr<list_node>>();
  for (int i = list_length - 1; i >= 0; --i) {
    auto n = drust::std::make_unique<list_node>(list_node{i, std::move(*head)});
    *head = std::move(n);
  }
  std::int64_t expected = 0;
  for (int i = 0; i < list_length; ++i) expected += i;
  std::vector<drust::std::thread> readers;
  for (int node = 1; node < drust::num_nodes(); ++node) {
    readers.emplace_back(drust::on(node), read_list, std::as_const(head).borrow(), expected);
  }
  for (auto& reader : readers) reader.join();
  drust::std::thread writer(drust::on(drust::num_nodes() - 1), write_list_then_read_everywhere, std::move(head));
  writer.join();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// reuse

struct payload {
  std::int64_t value;
  char pad[56];
};

void read_expecting(drust::ref<payload> object, std::int64_t expected) {
  require(object->value == expected, "the value read through the cache");
}

std::int64_t read_value_on(int node, drust::ref<payload> object, std::int64_t expected) {
  drust::std::thread reader(drust::on(node), read_expecting, std::move(object), expected);
  reader.join();
  return expected;
}

int run_reuse() {
  const int other = drust::num_nodes() - 1;
  // A local write recolours: the reader's old copy is never found again.
  auto object = drust::std::make_unique<payload>(payload{1, {}});
  read_value_on(other, std::as_const(object).borrow(), 1);
  const auto colour_before = drust::detail::colour_of(object.word());
  object->value = 2;
  require(drust::detail::colour_of(object.word()) != colour_before, "a local write changes the colour");
  read_value_on(other, std::as_const(object).borrow(), 2);

  // Free and reuse the address: the new object gets a colour no old copy carries.
  int reused = 0;
  for (int round = 0; round < 50; ++round) {
    const std::uint64_t address = drust::detail::address_of(object.word());
    const auto old_colour = drust::detail::colour_of(object.word());
    read_value_on(other, std::as_const(object).borrow(), object->value);
    const std::int64_t next = 1000 + round;
    object.reset();
    object = drust::std::make_unique<payload>(payload{next, {}});
    if (drust::detail::address_of(object.word()) == address) {
      ++reused;
      require(drust::detail::colour_of(object.word()) > old_colour, "a reused address gets a higher colour");
    }
    read_value_on(other, std::as_const(object).borrow(), next);
  }
  std::printf("reuse rounds=50 reused=%d\n", reused);
  require(reused > 0, "the allocator reused a freed address at least once");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// random

struct small_item {
  std::int64_t key;
  std::int64_t value;
};
struct large_item {
  std::int64_t key;
  std::int64_t value;
  std::int64_t filler[510];  // 4 KiB in all
};

template <class Item>
Item make_item(std::int64_t key, std::int64_t value) {
  Item item{};
  item.key = key;
  item.value = value;
  if constexpr (sizeof(Item) > sizeof(small_item)) {
    for (std::size_t i = 0; i < std::size(item.filler); ++i) item.filler[i] = value ^ static_cast<std::int64_t>(i);
  }
  return item;
}

template <class Item>
bool item_matches(const Item& item, std::int64_t key, std::int64_t value) {
  if (item.key != key || item.value != value) return false;
  if constexpr (sizeof(Item) > sizeof(small_item)) {
    for (std::size_t i = 0; i < std::size(item.filler); ++i) {
      if (item.filler[i] != (value ^ static_cast<std::int64_t>(i))) return false;
    }
  }
  return true;
}

// The objects, owned by node 0 (a global of node 0's process: remote writers hand them back by
// running a thread there).
constexpr int slot_count = 16;
std::vector<drust::std::unique_ptr<small_item>> small_slots(slot_count);
std::vector<drust::std::unique_ptr<large_item>> large_slots(slot_count);

template <class Item>
std::vector<drust::std::unique_ptr<Item>>& slots() {
  if constexpr (sizeof(Item) > sizeof(small_item)) {
    return large_slots;
  } else {
    return small_slots;
  }
}

template <class Item>
void check_item(drust::ref<Item> item, std::int64_t key, std::int64_t value) {
  require(item_matches(*item, key, value), "a remote read sees the latest write");
}

template <class Item>
void give_back(drust::std::unique_ptr<Item> item, int slot) {
  slots<Item>()[static_cast<std::size_t>(slot)] = std::move(item);
}

template <class Item>
void write_remotely(drust::std::unique_ptr<Item> item, int slot, std::int64_t key, std::int64_t value) {
  *item = make_item<Item>(key, value);  // a mutable borrow: the object moves here
  require(home_of_handle(item) == drust::node_id(), "a written object lives on its writer's node");
  require(item_matches(*std::as_const(item), key, value), "a write reads back");
  drust::std::thread back(drust::on(0), give_back<Item>, std::move(item), slot);
  back.join();
}

template <class Item>
void random_operation(std::mt19937_64& random, std::vector<std::int64_t>& model, std::int64_t& next_value, std::uint64_t counts[4]) {
  auto& items = slots<Item>();
  const int slot = static_cast<int>(random() % slot_count);
  const int node = static_cast<int>(random() % static_cast<std::uint64_t>(drust::num_nodes()));
  const std::int64_t key = slot;
  auto& item = items[static_cast<std::size_t>(slot)];
  const int operation = item ? static_cast<int>(random() % 4) : 0;
  switch (operation) {
    case 0: {  // create or replace: the old object is freed wherever it lives
      const std::int64_t value = next_value++;
      item = drust::std::make_unique<Item>(make_item<Item>(key, value));
      model[static_cast<std::size_t>(slot)] = value;
      break;
    }
    case 1: {  // a write on node 0: in place (recoloured) or moved back here
      const std::int64_t value = next_value++;
      item->value = value;
      if constexpr (sizeof(Item) > sizeof(small_item)) {
        for (std::size_t i = 0; i < std::size(item->filler); ++i) item->filler[i] = value ^ static_cast<std::int64_t>(i);
      }
      model[static_cast<std::size_t>(slot)] = value;
      break;
    }
    case 2: {  // a write on another node: ownership goes there and comes back
      const std::int64_t value = next_value++;
      drust::std::thread writer(drust::on(node), write_remotely<Item>, std::move(item), slot, key, value);
      writer.join();
      require(static_cast<bool>(item), "ownership came back");
      model[static_cast<std::size_t>(slot)] = value;
      break;
    }
    default: {  // reads: here and on a node
      require(item_matches(*std::as_const(item), key, model[static_cast<std::size_t>(slot)]), "a read on node 0");
      drust::std::thread reader(drust::on(node), check_item<Item>, std::as_const(item).borrow(), key,
                                model[static_cast<std::size_t>(slot)]);
      reader.join();
      break;
    }
  }
  ++counts[operation];
}

int run_random(unsigned seed, int operations) {
  std::mt19937_64 random(seed);
  std::vector<std::int64_t> small_model(slot_count), large_model(slot_count);
  std::int64_t next_value = 1;
  std::uint64_t counts[4] = {};
  for (int i = 0; i < operations; ++i) {
    if (random() % 4 == 0) {
      random_operation<large_item>(random, large_model, next_value, counts);
    } else {
      random_operation<small_item>(random, small_model, next_value, counts);
    }
  }
  // Every object, compared with the model once more, from every node.
  for (int slot = 0; slot < slot_count; ++slot) {
    for (int node = 0; node < drust::num_nodes(); ++node) {
      if (small_slots[static_cast<std::size_t>(slot)]) {
        drust::std::thread(drust::on(node), check_item<small_item>, std::as_const(small_slots[static_cast<std::size_t>(slot)]).borrow(),
                           slot, small_model[static_cast<std::size_t>(slot)]).join();
      }
      if (large_slots[static_cast<std::size_t>(slot)]) {
        drust::std::thread(drust::on(node), check_item<large_item>, std::as_const(large_slots[static_cast<std::size_t>(slot)]).borrow(),
                           slot, large_model[static_cast<std::size_t>(slot)]).join();
      }
    }
  }
  std::printf("random operations=%d creates=%" PRIu64 " local_writes=%" PRIu64 " remote_writes=%" PRIu64 " reads=%" PRIu64 "\n",
              operations, counts[0], counts[1], counts[2], counts[3]);
  small_slots.clear();
  large_slots.clear();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// exhaust

struct block {
  char bytes[64 * 1024];
};

int run_exhaust() {
  std::vector<drust::std::unique_ptr<block>> blocks;
  std::string message;
  try {
    while (true) blocks.push_back(drust::std::make_unique<block>());
  } catch (const std::bad_alloc& error) {
    message = error.what();
  }
  const drust::runtime_stats here = drust::stats();
  std::printf("exhaust blocks=%zu message=%s\n", blocks.size(), message.c_str());
  std::printf("allocations_by_node");
  std::uint64_t elsewhere = 0;
  for (std::size_t node = 0; node < here.allocations_by_node.size(); ++node) {
    std::printf(" %" PRIu64, here.allocations_by_node[node]);
    if (node != 0) elsewhere += here.allocations_by_node[node];
  }
  std::printf("\n");
  require(message.find("global heap is full") != std::string::npos, "bad_alloc says the heap is full");
  require(drust::num_nodes() == 1 || elsewhere > 0, "objects went to other nodes past the threshold");
  // Everything is still usable: free it all, and allocate again.
  blocks.clear();
  auto again = drust::std::make_unique<block>();
  require(static_cast<bool>(again), "allocation works again after frees");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  int status = 2;
  if (scenario == "list") {
    status = run_list();
  } else if (scenario == "reuse") {
    status = run_reuse();
  } else if (scenario == "random" && argc > 3) {
    status = run_random(static_cast<unsigned>(std::stoul(argv[2])), std::stoi(argv[3]));
  } else if (scenario == "exhaust") {
    status = run_exhaust();
  } else {
    std::fprintf(stderr, "usage: %s list | reuse | random SEED N | exhaust\n", argv[0]);
    return 2;
  }
  const drust::runtime_stats here = drust::stats();
  std::printf("node0 remote_reads=%" PRIu64 " cache_hits=%" PRIu64 " moves=%" PRIu64 " remote_frees=%" PRIu64 "\n",
              here.remote_reads, here.cache_hits, here.moves, here.remote_frees);
  if (status == 0) std::printf("result ok\n");
  return status;
}
