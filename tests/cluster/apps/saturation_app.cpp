// Colour saturation (docs/design/coherence.md, "Colour saturation"): an object or a container's
// storage whose colours ran out stays where it is, written in place at the last colour, and no
// reader keeps a copy of it. Usage: saturation_app <scenario>
//   lower_bound  (1 node) the KV store's pattern that crashed: a sync::mutex<vector<entry>>, locked
//                300 000 times to run std::lower_bound(g->begin(), g->end(), key) (GCC evaluates
//                end() first) and, every 16th time, to write an entry by index
//   references   (1 node) across colour exhaustion: end() before begin() on a heap-resident vector
//                and string, a sort through reverse iterators, a range-for, two non-const
//                references to a unique_ptr's object and to a unique_ptr<T[]>'s element; then the
//                operations that may renew the storage (shrink_to_fit, clear, growth) do
//   readers      (2+ nodes) an object and a vector at the last colour, written in place on node 0
//                and read after every write by one long-lived thread on the last node, through
//                drust::ref guards and bare const element access: every read sees the latest write
// A wrong value throws, which ends the job with a message (so the test fails); main prints
// "result ok" when everything held.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/string>
#include <drust/std/sync>
#include <drust/std/thread>
#include <drust/std/vector>

namespace dstd = drust::std;

namespace {

void require(bool condition, const char* what) {
  if (!condition)
    throw std::runtime_error(std::string("check failed on node ") +
                             std::to_string(drust::node_id()) + ": " + what);
}

// More non-const accesses than there are colours.
constexpr int past_exhaustion = 70000;

bool saturated(drust::detail::global_word word) {
  return drust::detail::colour_of(word) == drust::detail::last_colour;
}

// ---------------------------------------------------------------------------------------------
// lower_bound

struct entry {
  std::uint64_t key;
  std::uint64_t value;
};

int run_lower_bound() {
  constexpr std::uint64_t count = 1000;
  constexpr int rounds = 300000;
  auto table = dstd::make_shared<dstd::sync::mutex<dstd::vector<entry>>>();
  std::uint64_t storage = 0;
  {
    auto g = table->lock();
    for (std::uint64_t i = 0; i < count; ++i) g->push_back(entry{2 * i, 0});
    storage = drust::detail::address_of(g->word());
  }
  const auto by_key = [](const entry& e, std::uint64_t key) { return e.key < key; };
  std::vector<std::uint64_t> expected(count, 0);  // the values, kept aside
  for (int round = 0; round < rounds; ++round) {
    auto g = table->lock();
    const std::uint64_t key = 2 * ((static_cast<std::uint64_t>(round) * 7919) % count);
    auto found = std::lower_bound(g->begin(), g->end(), key, by_key);
    require(found != g->end() && found->key == key, "lower_bound finds every key");
    require(found->value == expected[key / 2], "the entry holds its last write");
    if (round % 16 == 0) {
      (*g)[key / 2].value = static_cast<std::uint64_t>(round);
      expected[key / 2] = static_cast<std::uint64_t>(round);
    }
  }
  auto g = table->lock();
  require(drust::detail::address_of(g->word()) == storage,
          "element accesses never move the storage");
  require(saturated(g->word()), "the storage ran out of colours");
  std::printf("lower_bound rounds=%d saturated=1 moves=%llu\n", rounds,
              static_cast<unsigned long long>(drust::stats().moves));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// references

struct counter {
  long value;
  long other;
};

void vector_references() {
  auto boxed = dstd::make_unique<dstd::vector<int>>();
  for (int i = 0; i < 64; ++i) boxed->push_back(i);
  dstd::vector<int>& inside = *boxed;
  const int* first_element = &inside[0];
  for (int i = 0; i < past_exhaustion; ++i) inside[static_cast<std::size_t>(i % 64)] = i % 64;
  require(saturated(inside.word()), "the vector's storage ran out of colours");
  require(&inside[0] == first_element, "element writes never move the storage");

  // end() first, then begin(): the order GCC uses for std::sort(v.begin(), v.end()).
  int* last = inside.end();
  int* first = inside.begin();
  require(last - first == 64, "end() and begin() point into one block");
  // Reverse iterators call end() for rbegin().
  std::sort(inside.rbegin(), inside.rend());
  require(std::as_const(inside).front() == 63 && std::as_const(inside).back() == 0,
          "sorted through reverse iterators");
  for (int& x : inside) x = 7;
  require(std::ranges::all_of(std::as_const(inside), [](int x) { return x == 7; }),
          "a range-for wrote every element");
  require(&inside[0] == first_element, "still the same block");

  // The operations that may invalidate references renew the storage: a fresh block and colour.
  inside.shrink_to_fit();
  require(!saturated(inside.word()), "shrink_to_fit renews saturated storage");
  require(inside == dstd::vector<int>(64, 7), "the contents survive the renewal");
  for (int i = 0; i < past_exhaustion; ++i) inside[0] = 7;
  require(saturated(inside.word()), "saturated again");
  inside.clear();
  require(!saturated(inside.word()), "clear renews saturated storage");
  for (int i = 0; i < past_exhaustion; ++i) inside.data();
  inside.push_back(1);  // within the capacity: saturated still, and nothing moved
  require(saturated(inside.word()), "a push_back within the capacity keeps the block");
  const std::size_t capacity = inside.capacity();
  for (std::size_t i = inside.size(); i <= capacity; ++i) inside.push_back(2);
  require(!saturated(inside.word()), "growth takes a fresh block");
}

void string_references() {
  auto text = dstd::make_unique<dstd::string>("the quick brown fox");
  for (int i = 0; i < past_exhaustion; ++i) (*text)[0] = 't';
  require(saturated(text->word()), "the string's characters ran out of colours");
  char* last = text->end();
  char* first = text->begin();
  require(last - first == 19, "end() and begin() point into one block");
  std::sort(text->rbegin(), text->rend());
  require(std::as_const(*text).front() == 'x', "sorted through reverse iterators");
}

void unique_ptr_references() {
  auto p = dstd::make_unique<counter>(counter{0, 0});
  counter& a = *p;
  for (int i = 0; i < past_exhaustion; ++i) p->value += 1;
  counter& b = *p;
  require(saturated(p.word()), "the object ran out of colours");
  require(&a == &b, "two non-const references name one object");
  a.other = 5;
  require(std::as_const(p)->other == 5 && b.value == past_exhaustion,
          "writes through either are seen");

  auto array = dstd::make_unique<long[]>(8);
  long& x = array[0];
  for (int i = 0; i < past_exhaustion; ++i) array[1] += 1;
  long& y = array[0];
  require(saturated(array.word()), "the array ran out of colours");
  require(&x == &y, "two non-const references name one element");
}

int run_references() {
  vector_references();
  string_references();
  unique_ptr_references();
  std::printf("references moves=%llu\n", static_cast<unsigned long long>(drust::stats().moves));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// readers

struct sample {
  std::int64_t round;
  std::int64_t check;
};

struct reading {
  std::int64_t round;
  std::int64_t check;
  std::int64_t first;
  std::int64_t last;
  std::int64_t found;  // index of lower_bound(round + 100)
  std::int64_t span;   // end() - begin()
};

constexpr std::size_t element_count = 256;

void read_each(dstd::sync::receiver<drust::ref<sample>> samples,
               dstd::sync::receiver<drust::ref<dstd::vector<std::int64_t>>> vectors,
               dstd::sync::sender<reading> replies) {
  for (;;) {
    auto object = samples.recv();
    auto numbers = vectors.recv();
    if (!object || !numbers) return;
    const dstd::vector<std::int64_t>& v = **numbers;
    // Bare const access: through this thread's borrow table, never its index.
    const std::int64_t first = v[0];
    const std::int64_t last = v[element_count - 1];
    const std::int64_t* begin = v.begin();
    const std::int64_t* end = v.end();
    const std::int64_t* found = std::lower_bound(begin, end, (**object).round + 100);
    replies.send(
        reading{(**object).round, (**object).check, first, last, found - begin, end - begin});
  }
}

int run_readers() {
  auto object = dstd::make_unique<sample>(sample{0, 0});
  auto numbers = dstd::make_unique<dstd::vector<std::int64_t>>(element_count, 0);
  for (int i = 0; i < past_exhaustion; ++i) {
    object->round = 0;
    (*numbers)[0] = 0;
  }
  const auto object_word = object.word();
  const auto storage_word = std::as_const(*numbers).word();
  require(saturated(object_word) && saturated(storage_word), "both ran out of colours");

  auto [sample_out, sample_in] = dstd::sync::channel<drust::ref<sample>>();
  auto [vector_out, vector_in] = dstd::sync::channel<drust::ref<dstd::vector<std::int64_t>>>();
  auto [reply_out, reply_in] = dstd::sync::channel<reading>();
  dstd::thread reader(drust::on(drust::num_nodes() - 1), read_each, std::move(sample_in),
                      std::move(vector_in), std::move(reply_out));
  constexpr int rounds = 200;
  for (int round = 1; round <= rounds; ++round) {
    // Written in place: the words stay as they are, so only never caching them keeps readers right.
    object->round = round;
    object->check = 3 * round;
    for (std::size_t i = 0; i < element_count; ++i)
      (*numbers)[i] = round + static_cast<std::int64_t>(i);
    require(object.word() == object_word && std::as_const(*numbers).word() == storage_word,
            "saturated words do not change");
    sample_out.send(object.borrow());
    vector_out.send(numbers.borrow());
    const auto seen = reply_in.recv();
    require(seen.has_value(), "the reader replied");
    require(seen->round == round && seen->check == 3 * round,
            "the reader saw the object's latest write");
    require(
        seen->first == round && seen->last == round + static_cast<std::int64_t>(element_count) - 1,
        "the reader saw the vector's latest writes");
    require(seen->span == static_cast<std::int64_t>(element_count),
            "begin() and end() point into one copy");
    require(seen->found == 100, "lower_bound on the remote copy");
  }
  sample_out = {};
  vector_out = {};
  reader.join();
  std::printf("readers rounds=%d node=%d\n", rounds, drust::num_nodes() - 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  int status = 2;
  if (scenario == "lower_bound") {
    status = run_lower_bound();
  } else if (scenario == "references") {
    status = run_references();
  } else if (scenario == "readers") {
    status = run_readers();
  } else {
    std::fprintf(stderr, "usage: %s lower_bound | references | readers\n", argv[0]);
    return 2;
  }
  if (status == 0) std::printf("result ok\n");
  return status;
}
