// What a node of a real drust program keeps of the job's cookie. Node 0 writes the cookie it was
// started with (from /proc/self/environ, which keeps the environment of exec) to the file named by
// its argument, so that a test can look for it in drun's output without this program printing it,
// then prints whether the cookie is still in its environment and in that of a process it starts.
// Usage: cookie_app FILE
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include <drust/runtime>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cookie_app FILE\n");
    return 2;
  }
  std::ifstream environ_file("/proc/self/environ");
  std::string start_environment((std::istreambuf_iterator<char>(environ_file)), std::istreambuf_iterator<char>());
  const std::string name = "DRUST_COOKIE=";
  std::size_t at = start_environment.find(name);
  std::string cookie =
      at == std::string::npos ? "" : start_environment.substr(at + name.size(), start_environment.find('\0', at) - at - name.size());
  std::ofstream(argv[1]) << cookie;

  std::printf("node %d: started with a cookie: %s\n", drust::node_id(), cookie.empty() ? "no" : "yes");
  std::printf("node %d: DRUST_COOKIE in its environment now: %s\n", drust::node_id(),
              std::getenv("DRUST_COOKIE") != nullptr ? "yes" : "no");
  std::fflush(stdout);
  return std::system("if [ -n \"${DRUST_COOKIE+set}\" ]; then echo 'child: has DRUST_COOKIE'; "
                     "else echo 'child: no DRUST_COOKIE'; fi");
}
