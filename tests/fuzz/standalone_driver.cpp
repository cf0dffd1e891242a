// Runs a libFuzzer-style target without libFuzzer (g++ builds, CI): every file given on the
// command line (or in given directories), then N seeded random mutations of them.
//   fuzz_x [--iterations N] [--seed S] [--write-seeds DIR] PATH...
// Seeds come from the target's fuzz_seeds() (cut out of the golden images) plus any PATHs.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
std::vector<std::vector<std::uint8_t>> fuzz_seeds();

namespace {
std::vector<std::uint8_t> slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
}  // namespace

int main(int argc, char** argv) {
  long iterations = 2000;
  unsigned seed = 1;
  std::vector<std::vector<std::uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = std::stol(argv[++i]);
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = static_cast<unsigned>(std::stoul(argv[++i]));
    } else if (!std::strcmp(argv[i], "--write-seeds") && i + 1 < argc) {
      const std::filesystem::path dir = argv[++i];
      std::filesystem::create_directories(dir);
      int n = 0;
      for (const auto& s : fuzz_seeds()) {
        std::ofstream f(dir / ("seed-" + std::to_string(n++)), std::ios::binary);
        f.write(reinterpret_cast<const char*>(s.data()), static_cast<std::streamsize>(s.size()));
      }
      return 0;
    } else if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file()) corpus.push_back(slurp(e.path()));
    } else {
      corpus.push_back(slurp(argv[i]));
    }
  }
  for (auto& s : fuzz_seeds())
    if (!s.empty()) corpus.push_back(std::move(s));
  corpus.push_back({});
  for (const auto& c : corpus) LLVMFuzzerTestOneInput(c.data(), c.size());
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> buf;
  for (long it = 0; it < iterations; ++it) {
    buf = corpus[rng() % corpus.size()];
    if (buf.empty()) buf.resize(rng() % 8192);
    const int edits = 1 + static_cast<int>(rng() % 16);
    for (int e = 0; e < edits && !buf.empty(); ++e) {
      switch (rng() % 4) {
        case 0: buf[rng() % buf.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 1: buf[rng() % buf.size()] = static_cast<std::uint8_t>(rng()); break;
        case 2: buf.resize(rng() % (buf.size() + 1)); break;
        default: {  // interesting values at a random aligned offset
          static const std::uint64_t kVals[] = {0, 1, 0xffffffffull, 0x7fffffff, UINT64_MAX,
                                                4096, 0x8000000000ull};
          const std::uint64_t v = kVals[rng() % std::size(kVals)];
          if (buf.size() >= 8) {
            const std::size_t off = (rng() % (buf.size() - 7)) & ~std::size_t{3};
            std::memcpy(buf.data() + off, &v, 8);
          }
        }
      }
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("%s: %zu corpus inputs + %ld mutations ok\n", argv[0], corpus.size(), iterations);
  return 0;
}
