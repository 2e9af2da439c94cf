// What a node reads from drun through DRUST_* variables (runtime/node_config.cpp): the values it
// takes, and an error naming the variable for each value it refuses.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "runtime/node_config.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <string>

using drust::runtime::node_config;

namespace {

// Sets `name` to `value` for one check, then unsets it.
struct scoped_variable {
  scoped_variable(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_variable() { ::unsetenv(name_); }
  const char* name_;
};

std::string error_of(const absl::StatusOr<node_config>& config) {
  REQUIRE_FALSE(config.ok());
  return std::string(config.status().message());
}

}  // namespace

TEST_CASE("without drun: a one-node cluster with the defaults; the read mirror on") {
  auto config = node_config::from_environment();
  REQUIRE(config.ok());
  CHECK_FALSE(config->in_job);
  CHECK(config->nodes == 1);
  CHECK(config->cache_size == config->heap_size / 4);
  CHECK(config->read_mirror);
}

TEST_CASE("DRUST_MIRROR takes on or off, and any other value is an error that names it") {
  {
    scoped_variable off("DRUST_MIRROR", "off");
    CHECK_FALSE(node_config::from_environment()->read_mirror);
  }
  {
    scoped_variable on("DRUST_MIRROR", "on");
    CHECK(node_config::from_environment()->read_mirror);
  }
  scoped_variable bad("DRUST_MIRROR", "yes");
  CHECK(error_of(node_config::from_environment()) ==
        "DRUST_MIRROR='yes' is neither 'on' nor 'off' (the read mirror; docs/design/coherence.md)");
}

TEST_CASE("sizes and percentages: a value that is not one names the variable") {
  {
    scoped_variable bad("DRUST_CACHE_SIZE", "12MB");
    CHECK(error_of(node_config::from_environment()) == "DRUST_CACHE_SIZE='12MB' is not a number");
  }
  scoped_variable bad("DRUST_HEAP_PRESSURE", "101");
  CHECK(error_of(node_config::from_environment()) == "DRUST_HEAP_PRESSURE=101 is not a percentage from 1 to 100");
}

TEST_CASE("DRUST_MUTEX_LEASES takes on or off (on by default), and any other value is an error that names it") {
  CHECK(node_config::from_environment()->mutex_leases);
  {
    scoped_variable off("DRUST_MUTEX_LEASES", "off");
    CHECK_FALSE(node_config::from_environment()->mutex_leases);
  }
  scoped_variable bad("DRUST_MUTEX_LEASES", "1");
  CHECK(error_of(node_config::from_environment()) ==
        "DRUST_MUTEX_LEASES='1' is neither 'on' nor 'off' (mutex leases; docs/design/sync.md)");
}

TEST_CASE("DRUST_HUGE_PAGES takes on or off (on by default), and any other value is an error that names it") {
  CHECK(node_config::from_environment()->huge_pages);
  {
    scoped_variable off("DRUST_HUGE_PAGES", "off");
    CHECK_FALSE(node_config::from_environment()->huge_pages);
  }
  scoped_variable bad("DRUST_HUGE_PAGES", "2M");
  CHECK(error_of(node_config::from_environment()) ==
        "DRUST_HUGE_PAGES='2M' is neither 'on' nor 'off' (huge pages for the heap; docs/design/heap.md)");
}
