// drust::std::vector and drust::std::string read and written from every node, checked value by
// value. Usage: vector_app <scenario>
//   chunks   node 0 builds a 4 MiB vector of int64; a thread on each other node reads its own chunk
//            through view() and checks that it read about the chunk's bytes, not the vector's; a
//            heap-resident copy is read whole through a drust::ref; then the vector moves to the
//            last node, is written there (push_back, element writes), and every node reads its
//            chunk again, twice (the second time after an in-place write: no stale copy)
//   strings  a vector<drust::std::string> built on node 0 is read (and copied) on every node, moved
//            to the last node and edited there, then read again everywhere; a string is shipped
//            and read remotely (c_str, substr of a range, find, comparisons)
// A thread that sees a wrong value throws, which ends the job with a message (so the test fails);
// main prints "result ok" when everything held.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/string>
#include <drust/std/thread>
#include <drust/std/vector>

namespace {

void require(bool condition, const char* what) {
  if (!condition)
    throw std::runtime_error(std::string("check failed on node ") +
                             std::to_string(drust::node_id()) + ": " + what);
}

// ---------------------------------------------------------------------------------------------
// chunks

constexpr std::size_t element_count = 512 * 1024;  // 4 MiB of int64
constexpr std::size_t chunk_count = 8;
constexpr std::size_t chunk_size = element_count / chunk_count;
constexpr std::size_t chunk_bytes = chunk_size * sizeof(std::int64_t);

std::int64_t value_at(std::size_t i, int generation) {
  return static_cast<std::int64_t>(i) * 7 + 3 + generation * 1000003;
}

// remote_read_bytes of this node when the last baseline was taken (each node process has its own).
std::uint64_t read_baseline = 0;

void take_baseline() { read_baseline = drust::stats().remote_read_bytes; }

// Reads chunk `chunk` through a guard made by the owner. The guard was filled (from the storage's
// node) before this function started: the node's reads since the baseline are that fill.
void read_chunk(drust::slice_ref<std::int64_t> part, int chunk, int generation, bool storage_here) {
  const std::size_t first = static_cast<std::size_t>(chunk) * chunk_size;
  require(part.size() == chunk_size, "the chunk's size");
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != value_at(first + i, generation)) {
      throw std::runtime_error("node " + std::to_string(drust::node_id()) + ": element " +
                               std::to_string(first + i) + " is " + std::to_string(part[i]) +
                               ", expected " + std::to_string(value_at(first + i, generation)));
    }
  }
  const std::uint64_t bytes = drust::stats().remote_read_bytes - read_baseline;
  std::printf("chunk node=%d chunk=%d generation=%d read_bytes=%" PRIu64
              " chunk_bytes=%zu vector_bytes=%zu\n",
              drust::node_id(), chunk, generation, bytes, chunk_bytes,
              element_count * sizeof(std::int64_t));
  std::fflush(stdout);
  if (storage_here) {
    require(bytes == 0, "a chunk stored on this node is read in place");
  } else {
    require(bytes >= chunk_bytes, "the chunk was read from its node");
    require(bytes < 2 * chunk_bytes, "only the chunk was read, not the whole vector");
  }
  // The same range again: served by this node's cache, nothing read.
  drust::slice_ref<std::int64_t> again(part.word(), part.size());
  require(again[chunk_size - 1] == value_at(first + chunk_size - 1, generation),
          "the chunk read again");
  require(drust::stats().remote_read_bytes - read_baseline == bytes,
          "a second read of the chunk hits the cache");
}

// The node whose partition holds `word` (partition i is [base + i*P, base + (i+1)*P)).
int home_of(drust::detail::global_word word) {
  const drust::runtime_stats here = drust::stats();
  const std::uint64_t base =
      here.heap_begin - static_cast<std::uint64_t>(drust::node_id()) * here.heap_bytes;
  return static_cast<int>((drust::detail::address_of(word) - base) / here.heap_bytes);
}

// Every other node (every node when `all`) reads its own chunk of `v`, through views.
void read_chunks_everywhere(const drust::std::vector<std::int64_t>& v, int generation, bool all) {
  const int storage_node = home_of(v.word());
  for (int node = all ? 0 : 1; node < drust::num_nodes(); ++node) {
    drust::std::thread(drust::on(node), take_baseline).join();
    const int chunk = node % static_cast<int>(chunk_count);
    drust::std::thread reader(drust::on(node), read_chunk,
                              v.view(static_cast<std::size_t>(chunk) * chunk_size, chunk_size),
                              chunk, generation, node == storage_node);
    reader.join();
  }
}

// The whole vector, read through its owner's handle (a drust::ref to a heap-resident vector).
void read_whole(drust::ref<drust::std::vector<std::int64_t>> v) {
  const std::uint64_t before = drust::stats().remote_read_bytes;
  const drust::std::vector<std::int64_t>& whole = *v;
  std::int64_t checked = 0;
  for (std::size_t i = 0; i < whole.size(); i += 997) {
    require(whole[i] == value_at(i, 0), "an element of the whole vector");
    ++checked;
  }
  const std::uint64_t bytes = drust::stats().remote_read_bytes - before;
  std::printf("whole node=%d read_bytes=%" PRIu64 " checked=%" PRId64 "\n", drust::node_id(), bytes,
              checked);
  std::fflush(stdout);
  require(bytes >= element_count * sizeof(std::int64_t), "const access reads the whole live range");
}

void write_then_read_everywhere(drust::std::vector<std::int64_t> v) {
  require(v.size() == element_count, "the moved vector's size");
  require(drust::num_nodes() == 1 || !v.is_local(),
          "the moved vector's storage is still on node 0");
  const drust::runtime_stats before = drust::stats();
  // Writes: the storage moves here (its live elements, once), then grows here.
  v.push_back(value_at(element_count, 1));
  for (std::size_t i = 0; i < element_count; ++i) v[i] = value_at(i, 1);
  const drust::runtime_stats after = drust::stats();
  std::printf("writer node=%d moves=%" PRIu64 " move_bytes=%" PRIu64 " size=%zu\n",
              drust::node_id(), after.moves - before.moves, after.move_bytes - before.move_bytes,
              v.size());
  std::fflush(stdout);
  require(v.is_local(), "a written vector's storage is on its writer's node");
  require(std::as_const(v).back() == value_at(element_count, 1), "push_back");
  if (drust::num_nodes() > 1)
    require(after.moves - before.moves == 1, "one move brought the storage here");

  read_chunks_everywhere(v, 1, true);

  // Written in place after the views: the storage recolours once, so no node's cached chunk of
  // generation 1 is served for generation 2.
  const auto word = v.word();
  for (std::size_t i = 0; i < element_count; ++i) v[i] = value_at(i, 2);
  require(drust::detail::address_of(v.word()) == drust::detail::address_of(word),
          "an in-place write keeps the address");
  require(drust::detail::colour_of(v.word()) == drust::detail::colour_of(word) + 1,
          "an exposed vector recolours once");
  read_chunks_everywhere(v, 2, true);
}

int run_chunks() {
  drust::std::vector<std::int64_t> v;
  v.reserve(element_count);
  for (std::size_t i = 0; i < element_count; ++i) v.push_back(value_at(i, 0));
  read_chunks_everywhere(v, 0, false);

  // A heap-resident copy, read whole from the last node through a ref.
  auto boxed = drust::std::make_unique<drust::std::vector<std::int64_t>>(std::as_const(v));
  if (drust::num_nodes() > 1) {
    drust::std::thread(drust::on(drust::num_nodes() - 1), read_whole, std::as_const(boxed).borrow())
        .join();
  }

  drust::std::thread writer(drust::on(drust::num_nodes() - 1), write_then_read_everywhere,
                            std::move(v));
  writer.join();
  require(v.empty() && v.word() == 0, "the moved-from vector is empty");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// strings

constexpr std::size_t name_count = 2000;

std::string name_at(std::size_t i, int generation) {
  std::string text =
      "name-" + std::to_string(i) + "-" + std::string(i % 50, static_cast<char>('a' + i % 26));
  if (generation > 0 && i % 7 == 0) text += "!";
  return text;
}

drust::std::vector<drust::std::string> expected_names(std::size_t first, std::size_t count,
                                                      int generation) {
  drust::std::vector<drust::std::string> names;
  for (std::size_t i = first; i < first + count; ++i) names.push_back(name_at(i, generation));
  return names;
}

void read_names(drust::slice_ref<drust::std::string> part, std::uint64_t first, int generation) {
  const std::uint64_t before = drust::stats().remote_read_bytes;
  for (std::size_t j = 0; j < part.size(); ++j) {
    if (std::string_view(part[j]) != name_at(first + j, generation)) {
      throw std::runtime_error("node " + std::to_string(drust::node_id()) + ": name " +
                               std::to_string(first + j) + " is '" + std::string(part[j]) +
                               "', expected '" + name_at(first + j, generation) + "'");
    }
  }
  // A copy made here: its own storage, equal to one built here.
  const drust::std::vector<drust::std::string> copy(part.begin(), part.end());
  require(copy == expected_names(first, part.size(), generation),
          "a copy of the names equals the expected names");
  require(copy.is_local() && std::as_const(copy)[0].is_local(), "a copy is stored here");
  const std::uint64_t bytes = drust::stats().remote_read_bytes - before;
  std::printf("names node=%d first=%" PRIu64 " count=%zu generation=%d read_bytes=%" PRIu64 "\n",
              drust::node_id(), first, part.size(), generation, bytes);
  std::fflush(stdout);
}

void read_names_everywhere(const drust::std::vector<drust::std::string>& names, int generation) {
  const std::size_t part = name_count / static_cast<std::size_t>(drust::num_nodes());
  std::vector<drust::std::thread> readers;
  for (int node = 0; node < drust::num_nodes(); ++node) {
    const std::size_t first = static_cast<std::size_t>(node) * part;
    readers.emplace_back(drust::on(node), read_names, names.view(first, part), first, generation);
  }
  for (auto& reader : readers) reader.join();
}

void edit_names(drust::std::vector<drust::std::string> names) {
  for (std::size_t i = 0; i < names.size(); i += 7) names[i] += "!";
  names.push_back("appended here");
  require(names.is_local(), "edited names are stored here");
  require(std::as_const(names)[7].is_local(), "an edited name is stored here");
  require(std::as_const(names).back() == "appended here", "push_back of a string");
  names.pop_back();
  read_names_everywhere(names, 1);
}

void read_text(drust::std::string text, std::uint64_t expected_size) {
  require(text.size() == expected_size, "the shipped string's size");
  require(drust::num_nodes() == 1 || !text.is_local(),
          "the shipped string's characters are still on node 0");
  const std::uint64_t before = drust::stats().remote_read_bytes;
  const drust::std::string part = text.substr(100000, 5);  // reads only those characters
  const std::uint64_t range_bytes = drust::stats().remote_read_bytes - before;
  require(part == "xyzzy", "substr of a remote string");
  require(drust::num_nodes() == 1 || range_bytes < 4096, "substr read only its range");
  require(std::as_const(text).find("xyzzy") == 100000, "find in a remote string");
  require(std::string_view(text.c_str()).size() == expected_size,
          "c_str of a remote string is NUL-terminated");
  require(text.starts_with("....") && text > "...." && "...." < text,
          "comparisons with a remote string");
  text += "!";  // a write: the characters move here
  require(text.is_local() && text.ends_with(".....!"), "a written string is stored here");
  std::printf("text node=%d substr_read_bytes=%" PRIu64 " size=%zu\n", drust::node_id(),
              range_bytes, text.size());
  std::fflush(stdout);
}

int run_strings() {
  drust::std::vector<drust::std::string> names;
  for (std::size_t i = 0; i < name_count; ++i) names.emplace_back(name_at(i, 0));
  read_names_everywhere(names, 0);
  drust::std::thread editor(drust::on(drust::num_nodes() - 1), edit_names, std::move(names));
  editor.join();

  drust::std::string text(200000, '.');
  text.replace(100000, 5, "xyzzy");
  drust::std::thread reader(drust::on(drust::num_nodes() - 1), read_text, std::move(text),
                            std::uint64_t{200000});
  reader.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  int status = 2;
  if (scenario == "chunks") {
    status = run_chunks();
  } else if (scenario == "strings") {
    status = run_strings();
  } else {
    std::fprintf(stderr, "usage: %s chunks | strings\n", argv[0]);
    return 2;
  }
  if (status == 0) std::printf("result ok\n");
  return status;
}
