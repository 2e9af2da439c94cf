// drust::std::vector and drust::std::string across real node processes, on 2 and 4 nodes, over shm
// and tcp;ofi_rxm (tests/cluster/apps/vector_app.cpp does the work and checks every value; a wrong
// value ends its job with a message).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster_app.hpp"

using namespace std::chrono_literals;

namespace {

drust_test::process_result run_vector_app(int nodes, const std::string& provider,
                                          const std::string& scenario) {
  return drust_test::run_cluster_app("VECTOR_APP", "vector_app", nodes, provider, {scenario});
}

using drust_test::check_ok;
using drust_test::count_of;

void check_chunks(int nodes, const std::string& provider) {
  auto result = run_vector_app(nodes, provider, "chunks");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  // Generation 0: every other node read its chunk from node 0. Generations 1 and 2: every node
  // read its chunk from the writer's node (or in place there).
  CHECK(count_of(result.out, R"(chunk node=\d+ chunk=\d+ generation=0 )") == nodes - 1);
  CHECK(count_of(result.out, R"(chunk node=\d+ chunk=\d+ generation=1 )") == nodes);
  CHECK(count_of(result.out, R"(chunk node=\d+ chunk=\d+ generation=2 )") == nodes);
  // Each remote reader read about one chunk (524288 bytes), never the whole vector (4 MiB).
  const std::string reads = R"(chunk node=\d+ chunk=\d+ generation=\d read_bytes=(\d+) chunk_bytes=(\d+))";
  int remote_readers = 0;
  for (const auto& match : drust_test::search_all(result.out, reads)) {
    const std::uint64_t bytes = std::stoull(match[1]);
    const std::uint64_t chunk = std::stoull(match[2]);
    CHECK((bytes == 0 || (bytes >= chunk && bytes < 2 * chunk)));
    if (bytes != 0) ++remote_readers;
  }
  CHECK(remote_readers == 3 * (nodes - 1));
  CHECK(count_of(result.out, R"(whole node=\d+ read_bytes=([4-9]\d{6}|\d{8,}) )") == 1);
  CHECK(count_of(result.out, R"(writer node=\d+ moves=1 move_bytes=4194304 size=524289)") == 1);
}

void check_strings(int nodes, const std::string& provider) {
  auto result = run_vector_app(nodes, provider, "strings");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(count_of(result.out, R"(names node=\d+ first=\d+ count=\d+ generation=0 )") == nodes);
  CHECK(count_of(result.out, R"(names node=\d+ first=\d+ count=\d+ generation=1 )") == nodes);
  CHECK(count_of(result.out, R"(text node=\d+ substr_read_bytes=5 size=200001)") == 1);
}

}  // namespace

TEST_CASE("chunks of a large vector read where they are needed (2 nodes, shm)") {
  check_chunks(2, "shm");
}
TEST_CASE("chunks of a large vector read where they are needed (4 nodes, shm)") {
  check_chunks(4, "shm");
}
TEST_CASE("chunks of a large vector read where they are needed (2 nodes, tcp)") {
  check_chunks(2, "tcp;ofi_rxm");
}
TEST_CASE("chunks of a large vector read where they are needed (4 nodes, tcp)") {
  check_chunks(4, "tcp;ofi_rxm");
}

TEST_CASE("a vector of strings read, copied, moved and edited across nodes (2 nodes, shm)") {
  check_strings(2, "shm");
}
TEST_CASE("a vector of strings read, copied, moved and edited across nodes (4 nodes, shm)") {
  check_strings(4, "shm");
}
TEST_CASE("a vector of strings read, copied, moved and edited across nodes (2 nodes, tcp)") {
  check_strings(2, "tcp;ofi_rxm");
}
TEST_CASE("a vector of strings read, copied, moved and edited across nodes (4 nodes, tcp)") {
  check_strings(4, "tcp;ofi_rxm");
}
