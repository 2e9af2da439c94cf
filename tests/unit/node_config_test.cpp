// What a node reads from drun through DRUST_* variables (runtime/node_config.cpp): the values it
// takes, and an error naming the variable for each value it refuses.
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

TEST_CASE("sizes and percentages: a value that is not one names the variable") {
  {
    scoped_variable bad("DRUST_CACHE_SIZE", "12MB");
    CHECK(error_of(node_config::from_environment()) == "DRUST_CACHE_SIZE='12MB' is not a number");
  }
  scoped_variable bad("DRUST_HEAP_PRESSURE", "101");
  CHECK(error_of(node_config::from_environment()) == "DRUST_HEAP_PRESSURE=101 is not a percentage from 1 to 100");
}

// The on/off switches: each is on by default, takes "on" and "off", and refuses anything else with
// a message that names the variable and what it switches.
TEST_CASE("DRUST_MIRROR, DRUST_MUTEX_LEASES and DRUST_HUGE_PAGES take on or off (on by default)") {
  struct on_off_switch {
    const char* name;
    bool node_config::*field;
    const char* what;
  };
  const on_off_switch switches[] = {
      {"DRUST_MIRROR", &node_config::read_mirror, "the read mirror; docs/design/coherence.md"},
      {"DRUST_MUTEX_LEASES", &node_config::mutex_leases, "mutex leases; docs/design/sync.md"},
      {"DRUST_HUGE_PAGES", &node_config::huge_pages, "huge pages for the heap; docs/design/heap.md"},
  };
  for (const on_off_switch& setting : switches) {
    CAPTURE(setting.name);
    CHECK((*node_config::from_environment()).*setting.field);
    {
      scoped_variable off(setting.name, "off");
      CHECK_FALSE((*node_config::from_environment()).*setting.field);
    }
    {
      scoped_variable on(setting.name, "on");
      CHECK((*node_config::from_environment()).*setting.field);
    }
    scoped_variable bad(setting.name, "yes");
    CHECK(error_of(node_config::from_environment()) ==
          std::string(setting.name) + "='yes' is neither 'on' nor 'off' (" + setting.what + ")");
  }
}
