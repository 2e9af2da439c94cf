// first-touch: what this machine charges for memory a process touches for the first time.
//
// A copy that a node makes of a remote object lands in memory the node process never used, and the
// kernel must give it a zeroed page first. On bare metal that is a clear at memory bandwidth. In a
// virtual machine whose free memory goes back to the host (virtio-balloon free page reporting), a
// page that the host took back costs a host fault too, and a 4 KiB fault costs a trap. This tool
// measures the three cases side by side, so that a benchmark report can say which kind of machine
// it ran on (docs/PERFORMANCE.md, "First touch of memory"; samples/bench/README.md):
//
//   huge pages, fresh     MADV_HUGEPAGE memory this process never had, touched once per 4 KiB
//   huge pages, reused    the same again at once, after unmapping the first: the kernel hands back
//                         the pages it just freed, before any reporting gives them to the host
//   4 KiB pages           MADV_NOHUGEPAGE memory, one fault per page
//
//   first-touch [--mib N] [--touch-only]     (N: 256 by default)
//
// Prints one line per case: GB/s and the time per 2 MiB (huge pages) or per 4 KiB fault.
// --touch-only touches N MiB of huge pages once and exits, printing nothing: it leaves that much
// memory just freed, and so still backed for a while, for whatever starts next (the A/B runs of
// docs/PERFORMANCE.md, "First touch of memory").
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::size_t page = 4096;

// Seconds to map `bytes`, advise them, write one byte per 4 KiB page, then unmap.
double touch(std::size_t bytes, int advice) {
  const auto started = std::chrono::steady_clock::now();
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    std::perror("first-touch: mmap");
    std::exit(1);
  }
  (void)::madvise(mapped, bytes, advice);
  auto* bytes_of = static_cast<volatile char*>(mapped);
  for (std::size_t offset = 0; offset < bytes; offset += page) bytes_of[offset] = 1;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ::munmap(mapped, bytes);
  return seconds;
}

void print(const char* what, std::size_t bytes, double seconds, std::size_t unit, const char* unit_name) {
  const double units = static_cast<double>(bytes) / static_cast<double>(unit);
  std::printf("first-touch: %-20s %7.2f GB/s  %9.1f us per %s\n", what,
              static_cast<double>(bytes) / seconds / 1e9, seconds / units * 1e6, unit_name);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 256;
  bool touch_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--touch-only") == 0) {
      touch_only = true;
    } else if (std::strcmp(argv[i], "--mib") == 0 && i + 1 < argc) {
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || value < 2 || value > (1 << 20)) {
        std::fprintf(stderr, "first-touch: --mib needs a number of MiB from 2 up\n");
        return 2;
      }
      mib = static_cast<std::size_t>(value);
    } else {
      std::fprintf(stderr, "usage: first-touch [--mib N] [--touch-only]\n");
      return 2;
    }
  }
  const std::size_t bytes = mib << 20;
  const std::size_t huge = std::size_t{2} << 20;
  if (touch_only) {
    (void)touch(bytes, MADV_HUGEPAGE);
    return 0;
  }
  print("huge pages, fresh", bytes, touch(bytes, MADV_HUGEPAGE), huge, "2 MiB");
  print("huge pages, reused", bytes, touch(bytes, MADV_HUGEPAGE), huge, "2 MiB");
  // A quarter of the size: 4 KiB faults are slow where they trap.
  print("4 KiB pages", bytes / 4, touch(bytes / 4, MADV_NOHUGEPAGE), page, "4 KiB");
  return 0;
}
