// gemm_std: a tiled parallel matrix multiply, C = A x B of n x n doubles, on one machine with std
// threading. This is the original program of the GEMM sample; gemm_drust.cpp is its port to drust
// (the same text with the includes and std:: swapped on drust's names: README.md).
//
// The matrices are cut in t x t tiles, stored tile by tile. C's block-rows (a row of tiles) are
// dealt round-robin to the worker threads; a worker owns its block-rows of C and of A (it made
// them, it alone reads and writes them) and reads every tile of B, which all workers share
// read-only. Each C tile is a sum of t x t products computed by OpenBLAS (cblas_dgemm), in the
// same order whatever the number of workers, so the checksum is bit-identical between runs.
//
//   gemm-std [--n N] [--tile T] [--threads W] [--seed S] [--check | --no-check]
//
// Prints the checksum (the sum of C's elements, in a fixed order) and the throughput. Up to
// n = 512 (or with --check) it also compares C with one cblas_dgemm of the whole matrices and
// exits with status 1 when they differ beyond rounding.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct options {
  int n = 512;
  int tile = 64;
  int threads = 0;  // 0: std::thread::hardware_concurrency()
  std::uint64_t seed = 1;
  int check = -1;  // -1: when n <= 512
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "gemm: %s\n"
      "usage: gemm [--n N] [--tile T] [--threads W] [--seed S] [--check | --no-check]\n"
      "  C = A x B of N x N doubles in T x T tiles (T divides N; defaults 512 and 64), on W "
      "worker\n"
      "  threads (default: the hardware's); --check compares with one dgemm of the whole matrices\n"
      "  (the default up to N = 512)\n",
      why);
  std::exit(2);
}

long parse_number(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0)
    usage((flag + " needs a non-negative integer").c_str());
  return value;
}

options parse_options(int argc, char** argv) {
  options parsed;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    if (const auto equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
    } else if (flag == "--n" || flag == "--tile" || flag == "--threads" || flag == "--seed") {
      if (i + 1 == argc) usage((flag + " needs a value").c_str());
      value = argv[++i];
    }
    if (flag == "--n") {
      parsed.n = static_cast<int>(parse_number(flag, value.c_str()));
    } else if (flag == "--tile") {
      parsed.tile = static_cast<int>(parse_number(flag, value.c_str()));
    } else if (flag == "--threads") {
      parsed.threads = static_cast<int>(parse_number(flag, value.c_str()));
    } else if (flag == "--seed") {
      parsed.seed = static_cast<std::uint64_t>(parse_number(flag, value.c_str()));
    } else if (flag == "--check") {
      parsed.check = 1;
    } else if (flag == "--no-check") {
      parsed.check = 0;
    } else if (flag == "--help") {
      usage("help");
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if (parsed.n <= 0 || parsed.tile <= 0 || parsed.n % parsed.tile != 0)
    usage("the tile size must divide n");
  return parsed;
}

// OpenBLAS runs single-threaded: the parallelism is ours, one tile product per worker at a time.
// (Once per process.)
void use_one_blas_thread() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

// Element (row, col) of matrix `which` (0: A, 1: B): a hash of the seed and the position, in
// [-1, 1). The same whatever the tiling, so that the check can make the whole matrices.
double element(std::uint64_t seed, int which, int row, int col) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + (static_cast<std::uint64_t>(which) << 62) +
                    (static_cast<std::uint64_t>(row) << 31) + static_cast<std::uint64_t>(col);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-52 - 1.0;
}

// Block-rows part, part + parts, ... of a matrix: for each, its n / t tiles left to right, each
// t x t row-major. Tile (r, k) of the part, r its r-th block-row, starts at tile_offset(r, k).
struct layout {
  int n;
  int t;
  int parts;
  int tiles_per_row() const { return n / t; }
  int block_rows_of(int part) const { return (tiles_per_row() - part + parts - 1) / parts; }
  std::size_t tile_offset(int local_row, int col) const {
    return (static_cast<std::size_t>(local_row) * tiles_per_row() + col) * t * t;
  }
};

std::vector<double> make_block_rows(std::uint64_t seed, int which, int part, layout shape) {
  std::vector<double> rows(static_cast<std::size_t>(shape.block_rows_of(part)) * shape.n * shape.t);
  for (int r = 0; r < shape.block_rows_of(part); ++r) {
    const int row0 = (part + r * shape.parts) * shape.t;
    for (int k = 0; k < shape.tiles_per_row(); ++k) {
      double* tile = rows.data() + shape.tile_offset(r, k);
      for (int i = 0; i < shape.t; ++i) {
        for (int j = 0; j < shape.t; ++j)
          tile[i * shape.t + j] = element(seed, which, row0 + i, k * shape.t + j);
      }
    }
  }
  return rows;
}

// The worker for `part`: its block-rows of C = its block-rows of A times all of B. B's block-row
// k is in (*b)[k % parts]. Tile C(i, j) sums A(i, k) B(k, j) over k in increasing order.
std::vector<double> multiply_block_rows(const std::vector<double>& a_rows,
                                        std::shared_ptr<const std::vector<std::vector<double>>> b,
                                        int part, layout shape) {
  use_one_blas_thread();
  const int nt = shape.tiles_per_row();
  const int t = shape.t;
  std::vector<double> c_rows(a_rows.size(), 0.0);
  double* c = c_rows.data();
  for (int r = 0; r < shape.block_rows_of(part); ++r) {
    for (int j = 0; j < nt; ++j) {
      for (int k = 0; k < nt; ++k) {
        const double* a_tile = a_rows.data() + shape.tile_offset(r, k);
        const double* b_tile = (*b)[k % shape.parts].data() + shape.tile_offset(k / shape.parts, j);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, t, t, 1.0, a_tile, t, b_tile, t,
                    1.0, c + shape.tile_offset(r, j), t);
      }
    }
  }
  return c_rows;
}

// Tile (i, j) of C, from the workers' parts.
const double* tile_of(const std::vector<std::vector<double>>& c_parts, layout shape, int i, int j) {
  return c_parts[i % shape.parts].data() + shape.tile_offset(i / shape.parts, j);
}

// One cblas_dgemm of the whole matrices, compared with C: the largest difference, relative to the
// largest element of the reference.
double check_against_one_dgemm(const std::vector<std::vector<double>>& c_parts, std::uint64_t seed,
                               layout shape) {
  const int n = shape.n;
  std::vector<double> a(static_cast<std::size_t>(n) * n), b(a.size()), reference(a.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      a[static_cast<std::size_t>(i) * n + j] = element(seed, 0, i, j);
      b[static_cast<std::size_t>(i) * n + j] = element(seed, 1, i, j);
    }
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(), n,
              0.0, reference.data(), n);
  double largest = 0, worst = 0;
  for (int i = 0; i < shape.tiles_per_row(); ++i) {
    for (int j = 0; j < shape.tiles_per_row(); ++j) {
      const double* tile = tile_of(c_parts, shape, i, j);
      for (int k = 0; k < shape.t * shape.t; ++k) {
        const int row = i * shape.t + k / shape.t, col = j * shape.t + k % shape.t;
        const double expected = reference[static_cast<std::size_t>(row) * n + col];
        largest = std::max(largest, std::fabs(expected));
        worst = std::max(worst, std::fabs(tile[k] - expected));
      }
    }
  }
  return largest > 0 ? worst / largest : worst;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const options opts = parse_options(argc, argv);
  use_one_blas_thread();
  const int threads = opts.threads > 0
                          ? opts.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int nt = opts.n / opts.tile;
  const layout shape{opts.n, opts.tile, std::min(threads, nt)};

  // The inputs: every worker's block-rows of A and of B, made in parallel.
  const auto made = std::chrono::steady_clock::now();
  std::vector<std::future<std::vector<double>>> a_made, b_made;
  for (int part = 0; part < shape.parts; ++part) {
    a_made.push_back(std::async(std::launch::async, make_block_rows, opts.seed, 0, part, shape));
    b_made.push_back(std::async(std::launch::async, make_block_rows, opts.seed, 1, part, shape));
  }
  std::vector<std::vector<double>> a_parts, b_parts;
  for (auto& part : a_made) a_parts.push_back(part.get());
  for (auto& part : b_made) b_parts.push_back(part.get());
  const auto b = std::make_shared<const std::vector<std::vector<double>>>(std::move(b_parts));
  const double make_seconds = seconds_since(made);

  // The product: each worker takes its block-rows of A, reads B, and hands back its block-rows of
  // C.
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::future<std::vector<double>>> c_made;
  for (int part = 0; part < shape.parts; ++part) {
    c_made.push_back(std::async(std::launch::async, multiply_block_rows, std::move(a_parts[part]),
                                b, part, shape));
  }
  std::vector<std::vector<double>> c_parts;
  for (auto& part : c_made) c_parts.push_back(part.get());
  const double multiply_seconds = seconds_since(started);

  // The checksum: C's elements summed tile by tile, each row-major: the same order on every run.
  double checksum = 0;
  for (int i = 0; i < nt; ++i) {
    for (int j = 0; j < nt; ++j) {
      const double* tile = tile_of(c_parts, shape, i, j);
      for (int k = 0; k < opts.tile * opts.tile; ++k) checksum += tile[k];
    }
  }
  const double flops = 2.0 * opts.n * static_cast<double>(opts.n) * opts.n;
  std::printf("checksum %.17g\n", checksum);
  std::printf("gemm: n=%d tile=%d workers=%d: multiply %.4f s (inputs made in %.4f s)\n", opts.n,
              opts.tile, shape.parts, multiply_seconds, make_seconds);
  std::printf("throughput %.4f GFLOP/s\n", flops / multiply_seconds * 1e-9);

  if (opts.check == 1 || (opts.check == -1 && opts.n <= 512)) {
    const double difference = check_against_one_dgemm(c_parts, opts.seed, shape);
    const bool passed = difference <= 1e-12 * opts.n;
    std::printf("gemm check against one dgemm: %s (largest relative difference %.3g)\n",
                passed ? "passed" : "FAILED", difference);
    if (!passed) return 1;
  }
  return 0;
}
