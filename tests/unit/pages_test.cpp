// drust::back_pages (src/common/pages.hpp): the whole pages of a range are backed, the partial
// pages at its ends are not.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <vector>

#include "common/pages.hpp"

namespace {

// Which pages of [base, base + pages * page size) are resident.
std::vector<bool> resident(void* base, std::size_t pages) {
  std::vector<unsigned char> bits(pages);
  REQUIRE(::mincore(base, pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), bits.data()) == 0);
  std::vector<bool> result;
  for (unsigned char bit : bits) result.push_back((bit & 1) != 0);
  return result;
}

}  // namespace

TEST_CASE("back_pages backs the whole pages inside the range and nothing else") {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  constexpr std::size_t pages = 12;
  void* base = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(base != MAP_FAILED);
  auto* bytes = static_cast<char*>(base);
  REQUIRE(resident(base, pages) == std::vector<bool>(pages, false));

  // From 100 bytes into page 2 to 100 bytes into page 9: pages 3 to 8 are whole.
  if (!drust::back_pages(bytes + 2 * page + 100, 7 * page)) {
    MESSAGE("this kernel has no MADV_POPULATE_WRITE (Linux 5.14): nothing to check");
    ::munmap(base, pages * page);
    return;
  }
  std::vector<bool> expected(pages, false);
  for (std::size_t i = 3; i <= 8; ++i) expected[i] = true;
  CHECK(resident(base, pages) == expected);

  // A range inside one page backs nothing; an empty range neither.
  CHECK(drust::back_pages(bytes + 10 * page + 1, page - 2));
  CHECK(drust::back_pages(bytes + 11 * page, 0));
  CHECK(resident(base, pages) == expected);
  ::munmap(base, pages * page);
}
