// --netns and --net-delay: every node of a job in its own network namespace, the nodes joined by
// veth pairs to a bridge in drun's namespace, so that tcp traffic between nodes crosses network
// devices (and, with --net-delay, a netem qdisc on each node's link).
//
//   drun's namespace                          node i's namespace (drust-<job>-n<i>)
//   bridge d<job8>br  10.B.C.1/19   <-veth->  eth0  10.B.C.(i+2)/19   [netem delay D on eth0]
//                     d<job8>n<i>                   lo
//
// The /19 comes from 10.200.0.0 - 10.254.255.255, the first one that overlaps no address or route
// of this machine. The controller listens on the bridge's address; each node binds its fabric
// endpoint to its eth0 address, the only non-loopback address in its namespace. docs/simulation.md
// says what this models and what it does not.
//
//   auto network = simulated_network::create({job_id, nodes, delay});   // ip and tc commands
//   ... fork; in the child: setns(network->namespace_fd(node), CLONE_NEWNET); exec ...
//   network->remove();                                                  // namespaces, veths,
//   bridge
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "job_lock.hpp"

namespace drust::launcher {

// "20ms" -> 20000 us; units us, ms and s, a fraction allowed ("0.5ms"). The error is ready to
// print after "drun: --net-delay ".
absl::StatusOr<::std::chrono::microseconds> parse_net_delay(::std::string_view text);

// "20ms", "150us": how tc is given the delay, and how messages show it.
::std::string format_net_delay(::std::chrono::microseconds delay);

// Nodes in separate namespaces reach each other only through network devices: the provider must
// be tcp (tcp;ofi_rxm). `provider` is a full name or "auto"; `chosen_by` says where it came from
// ("--provider"). Returns the provider to use, or an error that says to use tcp.
absl::StatusOr<::std::string> provider_across_namespaces(const ::std::string& provider,
                                                         const ::std::string& chosen_by);

class simulated_network {
 public:
  struct settings {
    ::std::string job_id;
    int nodes = 1;
    ::std::optional<::std::chrono::microseconds> delay;  // netem on each node's eth0
  };

  // Builds the bridge, the namespaces and the veth pairs (and the netem qdiscs). On an error, what
  // was built is removed again; the error names the command that failed and what it said, and for
  // a kernel without netem, the missing module (sch_netem).
  static absl::StatusOr<::std::unique_ptr<simulated_network>> create(const settings& wanted);

  simulated_network(const simulated_network&) = delete;
  simulated_network& operator=(const simulated_network&) = delete;
  ~simulated_network();  // closes the namespace files; remove() removes the network

  const ::std::string& bridge_address() const { return bridge_address_; }
  const ::std::string& node_address(int node) const {
    return node_addresses_[static_cast<::std::size_t>(node)];
  }
  // An open /run/netns/<name> (close-on-exec), for setns(fd, CLONE_NEWNET) in a node's child.
  int namespace_fd(int node) const { return namespace_fds_[static_cast<::std::size_t>(node)]; }
  const ::std::string& namespace_name(int node) const {
    return namespaces_[static_cast<::std::size_t>(node)];
  }
  const ::std::string& bridge_name() const { return bridge_; }
  const ::std::string& link_name(int node) const {
    return links_[static_cast<::std::size_t>(node)];
  }

  // SIGKILLs what still runs in the namespaces, then deletes the veth pairs, the namespaces and the
  // bridge. The error names what could not be removed.
  absl::Status remove();

 private:
  simulated_network() = default;
  absl::Status build(const settings& wanted);

  ::std::string bridge_;
  ::std::string bridge_address_;
  bool bridge_created_ = false;
  ::std::vector<::std::string> namespaces_;  // created ones, by node
  ::std::vector<::std::string> links_;       // the veth ends on the bridge, by node
  ::std::vector<::std::string> node_addresses_;
  ::std::vector<int> namespace_fds_;
};

// Removes the namespaces and bridges of dead jobs (job_lock.hpp), killing what runs in those
// namespaces. Best effort. Returns what it removed, for --verbose.
::std::vector<removed_leftover> remove_stale_networks();

}  // namespace drust::launcher
