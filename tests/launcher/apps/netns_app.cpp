// What a node sees of the network under `drun --netns` (tests/launcher/simulation_test.cpp).
//
//   netns_app traffic    node 0 fills a 2 MiB drust vector, a thread on node 1 reads it (one-sided
//                        reads from node 0's partition), and node 0 reports how many bytes its
//                        eth0 sent and received meanwhile; both report their interfaces.
//   netns_app roundtrip  node 0 starts an empty thread on node 1 and joins it, five times, and
//                        reports the fastest round trip.
//
// Prints: interfaces node=<id> <name>=<address>,...   (the node's network namespace)
//         sum node=1 value=<sum>                      (traffic)
//         eth0 tx_bytes=<delta> rx_bytes=<delta>       (traffic, node 0)
//         roundtrip_ms=<fastest>                      (roundtrip)
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <drust/runtime>
#include <drust/std/thread>
#include <drust/std/vector>

namespace {

constexpr long elements = 256 * 1024;  // 2 MiB of longs

void print_interfaces() {
  std::string list;
  ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) == 0) {
    for (ifaddrs* each = addresses; each != nullptr; each = each->ifa_next) {
      if (each->ifa_addr == nullptr || each->ifa_addr->sa_family != AF_INET) continue;
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(each->ifa_addr)->sin_addr, text,
                  sizeof text);
      list += (list.empty() ? "" : ",") + std::string(each->ifa_name) + "=" + text;
    }
    ::freeifaddrs(addresses);
  }
  std::printf("interfaces node=%d %s\n", drust::node_id(), list.c_str());
  std::fflush(stdout);
}

// eth0's byte counters in this process's network namespace (/proc/net/dev is per namespace).
std::pair<long long, long long> eth0_bytes() {
  std::ifstream devices("/proc/net/dev");
  std::string line;
  while (std::getline(devices, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name != "eth0") continue;
    std::istringstream fields(line.substr(colon + 1));
    long long received = 0, ignored = 0, sent = 0;
    fields >> received;
    for (int i = 0; i < 7; ++i) fields >> ignored;
    fields >> sent;
    return {sent, received};
  }
  return {-1, -1};
}

void read_remotely(drust::slice_ref<long> values) {
  print_interfaces();
  long sum = 0;
  for (long value : values) sum += value;
  std::printf("sum node=%d value=%ld\n", drust::node_id(), sum);
  std::fflush(stdout);
}

void nothing() {}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "traffic";
  if (drust::num_nodes() < 2) {
    std::fprintf(stderr, "netns_app needs 2 nodes\n");
    return 2;
  }
  if (mode == "roundtrip") {
    double fastest = 1e9;
    for (int i = 0; i < 5; ++i) {
      auto start = std::chrono::steady_clock::now();
      drust::std::thread t(drust::on(1), nothing);
      t.join();
      fastest = std::min(fastest, std::chrono::duration<double, std::milli>(
                                      std::chrono::steady_clock::now() - start)
                                      .count());
    }
    std::printf("roundtrip_ms=%.3f\n", fastest);
    return 0;
  }
  print_interfaces();
  drust::std::vector<long> values(elements, 3);
  auto [sent_before, received_before] = eth0_bytes();
  drust::std::thread reader(drust::on(1), read_remotely, values.view(0, elements));
  reader.join();
  auto [sent_after, received_after] = eth0_bytes();
  std::printf("eth0 tx_bytes=%lld rx_bytes=%lld\n", sent_after - sent_before,
              received_after - received_before);
  return 0;
}
