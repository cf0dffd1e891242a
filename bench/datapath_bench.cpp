// ndtk_bench_datapath: ndtk's BTT data path and PMDK's libpmemblk side by side in one process,
// on the same kind of pool file, alternating, plus the physical limits (raw persisted copy,
// raw read) of the same medium. One JSON line per measured run; a median/ratio table at the end.
//
// Both libraries run on PMDK pmemblk pools created by pmemblk_create(): the same header, the
// same PMDK-flavour BTT geometry, the same lazily written layout. ndtk opens its pool through
// open_btt_image() (read-write, libpmem mapping). Every block carries a stamp derived from its
// LBA in its first and last 8 bytes; reads check it, so nothing can be optimised away and a
// misdirected read is caught.
//
// Persistence follows the medium, exactly as libpmem decides it: with PMEM_IS_PMEM_FORCE=1
// (how /dev/shm models real pmem) non-temporal copies, cache-line flushes and sfence; without
// it (a disk file) msync per persist for both libraries (ndtk Durability::kStrict). Filling a
// 1 GiB pool through msync per block would take minutes, so on such a medium the fill runs in a
// child process of this program with PMEM_IS_PMEM_FORCE=1, followed by fsync.
#include <fcntl.h>
#include <libpmem.h>
#include <libpmemblk.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ndtk/btt/btt_image.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Stamps and access patterns

std::uint64_t stamp_of(std::uint64_t lba) { return (lba + 1) * 0x9E3779B97F4A7C15ull ^ 0x5A17ull; }

void put_stamp(std::uint8_t* block, std::size_t bsize, std::uint64_t lba) {
  const std::uint64_t s = stamp_of(lba);
  std::memcpy(block, &s, 8);
  std::memcpy(block + bsize - 8, &s, 8);
}

bool stamp_ok(const std::uint8_t* block, std::size_t bsize, std::uint64_t lba) {
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, block, 8);
  std::memcpy(&b, block + bsize - 8, 8);
  return a == stamp_of(lba) && b == stamp_of(lba);
}

/// splitmix64: the same seed gives every implementation the same LBA sequence.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
};

enum class Pattern { SeqWrite, RandWrite, RandRead };
const char* pattern_name(Pattern p) {
  switch (p) {
    case Pattern::SeqWrite: return "seqwrite";
    case Pattern::RandWrite: return "randwrite";
    case Pattern::RandRead: return "randread";
  }
  return "?";
}
bool is_write(Pattern p) { return p != Pattern::RandRead; }

// ---------------------------------------------------------------------------------------------
// The implementations under test: one block in or out per call, thread-safe.

class Target {
 public:
  virtual ~Target() = default;
  virtual std::uint64_t nblocks() const = 0;
  /// False (with a message on stderr, once) on failure.
  virtual bool write(const std::uint8_t* buf, std::uint64_t lba) = 0;
  virtual bool read(std::uint8_t* buf, std::uint64_t lba) = 0;
  /// The mapped file, for prefaulting.
  virtual std::pair<void*, std::size_t> mapping() const = 0;
  /// Map every page before timing (all libraries alike): the steady state of a long-running
  /// user, not the first-touch page faults of a fresh mapping. Write-populate on pmem; on a
  /// page-cache file read-populate (a write fault there is part of every msync cycle anyway).
  void prefault(bool writable) const {
    auto [p, n] = mapping();
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto a = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
    const auto end = reinterpret_cast<std::uintptr_t>(p) + n;
    if (::madvise(reinterpret_cast<void*>(a), end - a,
                  writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0)
      std::perror("madvise(MADV_POPULATE)");
  }
};

class PmemblkTarget final : public Target {
 public:
  static std::unique_ptr<PmemblkTarget> open(const std::string& path, std::size_t bsize) {
    PMEMblkpool* p = pmemblk_open(path.c_str(), bsize);
    if (!p) {
      std::cerr << "pmemblk_open " << path << ": " << pmemblk_errormsg() << "\n";
      return nullptr;
    }
    auto t = std::unique_ptr<PmemblkTarget>(new PmemblkTarget(p));
    t->size_ = std::filesystem::file_size(path);
    return t;
  }
  ~PmemblkTarget() override { pmemblk_close(pool_); }
  std::uint64_t nblocks() const override { return pmemblk_nblock(pool_); }
  bool write(const std::uint8_t* buf, std::uint64_t lba) override {
    return pmemblk_write(pool_, buf, static_cast<long long>(lba)) == 0 || report("write");
  }
  bool read(std::uint8_t* buf, std::uint64_t lba) override {
    return pmemblk_read(pool_, buf, static_cast<long long>(lba)) == 0 || report("read");
  }
  /// libpmemblk's handle is the base of its mapping of the whole pool file.
  std::pair<void*, std::size_t> mapping() const override { return {pool_, size_}; }

 private:
  explicit PmemblkTarget(PMEMblkpool* p) : pool_(p) {}
  bool report(const char* what) {
    if (!reported_.exchange(true)) std::cerr << "pmemblk_" << what << ": " << pmemblk_errormsg() << "\n";
    return false;
  }
  PMEMblkpool* pool_;
  std::size_t size_ = 0;
  std::atomic<bool> reported_{false};
};

class NdtkTarget final : public Target {
 public:
  static std::unique_ptr<NdtkTarget> open(const std::string& path, ndtk::Durability d) {
    ndtk::BttImageOptions o;
    o.writable = true;
    o.durability = d;
    auto img = ndtk::open_btt_image(path, o);
    if (!img) {
      std::cerr << "ndtk open " << path << ": " << img.error().message() << "\n";
      return nullptr;
    }
    return std::unique_ptr<NdtkTarget>(new NdtkTarget(std::move(img->device)));
  }
  ~NdtkTarget() override { (void)dev_.flush(); }
  std::uint64_t nblocks() const override { return dev_.sector_count(); }
  bool write(const std::uint8_t* buf, std::uint64_t lba) override {
    auto r = dev_.write(lba, ndtk::Bytes(buf, dev_.external_lbasize()));
    return r || report(r.error().message());
  }
  bool read(std::uint8_t* buf, std::uint64_t lba) override {
    auto r = dev_.read(lba, ndtk::MutBytes(buf, dev_.external_lbasize()));
    return r || report(r.error().message());
  }
  bool flush() { return static_cast<bool>(dev_.flush()); }
  std::pair<void*, std::size_t> mapping() const override {
    return {dev_.region().data(), static_cast<std::size_t>(dev_.region().size())};
  }

 private:
  explicit NdtkTarget(ndtk::BttDevice d) : dev_(std::move(d)) {}
  bool report(const std::string& m) {
    if (!reported_.exchange(true)) std::cerr << "ndtk: " << m << "\n";
    return false;
  }
  ndtk::BttDevice dev_;
  std::atomic<bool> reported_{false};
};

/// The physical limit: a plain file of the same size on the same medium, blocks at
/// lba * bsize. Writes are pmem_memcpy_persist on pmem, memcpy + msync of the block otherwise.
class RawTarget final : public Target {
 public:
  static std::unique_ptr<RawTarget> create(const std::string& path, std::uint64_t size,
                                           std::size_t bsize) {
    std::size_t len = 0;
    int is_pmem = 0;
    // Behind the data blocks: a 4-byte "map entry" per block and 256 64-byte "log lanes" for
    // BttFloorTarget.
    const std::uint64_t n = size / bsize;
    const std::uint64_t total = n * bsize + align_up(n * 4, 4096) + 256 * 64;
    void* base = pmem_map_file(path.c_str(), total, PMEM_FILE_CREATE | PMEM_FILE_EXCL, 0600, &len,
                               &is_pmem);
    if (!base) {
      std::cerr << "pmem_map_file " << path << ": " << pmem_errormsg() << "\n";
      return nullptr;
    }
    auto t = std::unique_ptr<RawTarget>(
        new RawTarget(static_cast<std::uint8_t*>(base), len, bsize, is_pmem != 0));
    t->nblocks_ = n;
    return t;
  }
  ~RawTarget() override { pmem_unmap(base_, len_); }
  std::uint64_t nblocks() const override { return nblocks_; }
  std::uint8_t* base() const { return base_; }
  std::uint8_t* map_area() const { return base_ + nblocks_ * bsize_; }
  std::uint8_t* log_area() const { return map_area() + align_up(nblocks_ * 4, 4096); }
  /// Make [p, p+n) durable the way this medium needs (cache flush + sfence, or msync).
  bool persist(void* p, std::size_t n) const {
    if (is_pmem_) {
      pmem_persist(p, n);
      return true;
    }
    return pmem_msync(p, n) == 0;
  }
  bool write(const std::uint8_t* buf, std::uint64_t lba) override {
    std::uint8_t* dst = base_ + lba * bsize_;
    if (is_pmem_) {
      pmem_memcpy_persist(dst, buf, bsize_);
      return true;
    }
    std::memcpy(dst, buf, bsize_);
    return pmem_msync(dst, bsize_) == 0;
  }
  bool read(std::uint8_t* buf, std::uint64_t lba) override {
    std::memcpy(buf, base_ + lba * bsize_, bsize_);
    return true;
  }
  bool is_pmem() const { return is_pmem_; }
  std::pair<void*, std::size_t> mapping() const override { return {base_, len_}; }
  /// Fill every block with its stamp (no per-block persistence: one msync/drain at the end).
  void fill() {
    std::vector<std::uint8_t> block(bsize_, 0xA5);
    for (std::uint64_t lba = 0; lba < nblocks(); ++lba) {
      put_stamp(block.data(), bsize_, lba);
      std::memcpy(base_ + lba * bsize_, block.data(), bsize_);
    }
    if (is_pmem_) pmem_persist(base_, len_);
    else (void)pmem_msync(base_, len_);
  }

 private:
  static std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
  RawTarget(std::uint8_t* b, std::size_t l, std::size_t bs, bool p)
      : base_(b), len_(l), bsize_(bs), is_pmem_(p) {}
  std::uint64_t nblocks_ = 0;
  std::uint8_t* base_;
  std::size_t len_;
  std::size_t bsize_;
  bool is_pmem_;
};

/// The persistence floor of a BTT write protocol on this medium: the same durable stores a BTT
/// write makes, with no translation, locking or bookkeeping. Four ordering points (`points`
/// 4, the kernel's and libpmemblk's protocol): the data block persisted, then the two 8-byte
/// halves of a log entry each persisted, then a 4-byte map entry persisted. Two (ndtk's): the
/// data and the first log half (a non-temporal store) persisted together, then the commit half
/// (non-temporal); the map entry stored and left for a later write-back. Reads are raw reads.
class BttFloorTarget final : public Target {
 public:
  BttFloorTarget(RawTarget& raw, std::size_t bsize, int points)
      : raw_(raw), bsize_(bsize), points_(points) {}
  std::uint64_t nblocks() const override { return raw_.nblocks(); }
  bool write(const std::uint8_t* buf, std::uint64_t lba) override {
    static std::atomic<unsigned> next_lane{0};
    thread_local unsigned lane = next_lane.fetch_add(1) % 256;
    std::uint8_t* dst = raw_.base() + lba * bsize_;
    if (points_ == 2 && raw_.is_pmem()) {
      pmem_memcpy_nodrain(dst, buf, bsize_);
      auto* log = reinterpret_cast<std::uint64_t*>(raw_.log_area() + std::size_t{lane} * 64);
      // Log halves as non-temporal stores (no read for ownership, no write-back), as the
      // kernel and ndtk write them.
      __builtin_ia32_movnti64(reinterpret_cast<long long*>(&log[0]), static_cast<long long>(lba));
      pmem_drain();
      __builtin_ia32_movnti64(reinterpret_cast<long long*>(&log[1]),
                              static_cast<long long>(lba + 1));
      pmem_drain();
      reinterpret_cast<std::uint32_t*>(raw_.map_area())[lba] = static_cast<std::uint32_t>(lba);
      return true;
    }
    bool ok = true;
    if (raw_.is_pmem()) pmem_memcpy_persist(dst, buf, bsize_);
    else ok = (std::memcpy(dst, buf, bsize_), raw_.persist(dst, bsize_));
    auto* log = reinterpret_cast<std::uint64_t*>(raw_.log_area() + std::size_t{lane} * 64);
    log[0] = lba;
    ok = raw_.persist(&log[0], 8) && ok;
    log[1] = lba + 1;
    ok = raw_.persist(&log[1], 8) && ok;
    auto* map = reinterpret_cast<std::uint32_t*>(raw_.map_area() + lba * 4);
    *map = static_cast<std::uint32_t>(lba);
    return raw_.persist(map, 4) && ok;
  }
  bool read(std::uint8_t* buf, std::uint64_t lba) override { return raw_.read(buf, lba); }
  std::pair<void*, std::size_t> mapping() const override { return raw_.mapping(); }

 private:
  RawTarget& raw_;
  std::size_t bsize_;
  int points_;
};

// ---------------------------------------------------------------------------------------------
// One timed run

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct RunResult {
  std::uint64_t ops = 0;
  double seconds = 0;
  /// Sum over the workers of ops / own CPU seconds: the rate had every thread owned a core
  /// (robust against other load on the machine; blocking waits are not counted).
  double ops_per_cpu_s = 0;
  double cpu_seconds = 0;
  bool ok = true;
};

RunResult timed_run(Target& t, Pattern pat, std::size_t bsize, unsigned threads, double seconds,
                    std::uint64_t seed) {
  const std::uint64_t n = t.nblocks();
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false}, stop{false}, failed{false};
  std::vector<std::uint64_t> ops(threads, 0);
  std::vector<double> cpu(threads, 0);
  std::vector<std::thread> pool;
  for (unsigned k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      // Page-aligned, as block-layer I/O buffers are, and the same for every implementation
      // (a malloc'ed buffer's offset within a cache line varies from run to run).
      std::vector<std::uint8_t> store(bsize + 4096);
      const auto skew = reinterpret_cast<std::uintptr_t>(store.data()) % 4096;
      std::span<std::uint8_t> buf(store.data() + (skew ? 4096 - skew : 0), bsize);
      std::fill(buf.begin(), buf.end(), static_cast<std::uint8_t>(0x3C + k));
      Rng rng{seed * 1000003 + k};
      // Sequential writers each own a contiguous slice and wrap inside it.
      const std::uint64_t slice = n / threads;
      const std::uint64_t first = slice * k;
      std::uint64_t seq = 0;
      std::uint64_t done = 0;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const double c0 = thread_cpu_seconds();
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 64; ++i) {
          std::uint64_t lba;
          if (pat == Pattern::SeqWrite) {
            lba = first + seq;
            if (++seq == slice) seq = 0;
          } else {
            lba = rng.below(n);
          }
          bool good;
          if (is_write(pat)) {
            put_stamp(buf.data(), bsize, lba);
            good = t.write(buf.data(), lba);
          } else {
            good = t.read(buf.data(), lba) && stamp_ok(buf.data(), bsize, lba);
            if (!good && !failed.load())
              std::cerr << "stamp mismatch at lba " << lba << "\n";
          }
          if (!good) {
            failed.store(true);
            stop.store(true);
            break;
          }
        }
        done += 64;
      }
      cpu[k] = thread_cpu_seconds() - c0;
      ops[k] = done;
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& th : pool) th.join();
  const auto t1 = Clock::now();
  RunResult r;
  for (unsigned k = 0; k < threads; ++k) {
    r.ops += ops[k];
    r.cpu_seconds += cpu[k];
    if (cpu[k] > 0) r.ops_per_cpu_s += static_cast<double>(ops[k]) / cpu[k];
  }
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.ok = !failed.load();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Pools and filling

bool pmem_forced() {
  const char* v = std::getenv("PMEM_IS_PMEM_FORCE");
  return v && std::string(v) == "1";
}

bool create_pool(const std::string& path, std::uint64_t size, std::size_t bsize) {
  std::filesystem::remove(path);
  PMEMblkpool* p = pmemblk_create(path.c_str(), bsize, size, 0600);
  if (!p) {
    std::cerr << "pmemblk_create " << path << ": " << pmemblk_errormsg() << "\n";
    return false;
  }
  pmemblk_close(p);
  return true;
}

bool fill_target(Target& t, std::size_t bsize) {
  std::vector<std::uint8_t> buf(bsize, 0x77);
  for (std::uint64_t lba = 0; lba < t.nblocks(); ++lba) {
    put_stamp(buf.data(), bsize, lba);
    if (!t.write(buf.data(), lba)) return false;
  }
  return true;
}

bool fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

/// Fill one pool in this process (`lib` = ndtk | pmemblk); returns seconds or -1.
double fill_here(const std::string& lib, const std::string& path, std::size_t bsize) {
  const auto t0 = Clock::now();
  bool ok = false;
  if (lib == "pmemblk") {
    auto t = PmemblkTarget::open(path, bsize);
    ok = t && fill_target(*t, bsize);
  } else {
    auto t = NdtkTarget::open(path, ndtk::Durability::kStrict);
    ok = t && fill_target(*t, bsize) && t->flush();
  }
  ok = ok && fsync_path(path);
  return ok ? std::chrono::duration<double>(Clock::now() - t0).count() : -1;
}

/// Fill through a child with PMEM_IS_PMEM_FORCE=1 (the fill needs no msync per block).
double fill_in_child(const std::string& lib, const std::string& path, std::size_t bsize) {
  const auto t0 = Clock::now();
  std::vector<std::string> args = {"/proc/self/exe", "--fill-only", lib, "--fill-path", path,
                                   "--fill-bsize", std::to_string(bsize)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "PMEM_IS_PMEM_FORCE=", 19) != 0) env_store.emplace_back(*e);
  env_store.emplace_back("PMEM_IS_PMEM_FORCE=1");
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()) != 0)
    return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double load1() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ndtk's BTT data path vs libpmemblk vs the raw medium, alternating in one process.\n"
      "Run with PMEM_IS_PMEM_FORCE=1 for a pmem-modelling directory (/dev/shm), without it for a\n"
      "disk file (msync per persist). Prints one JSON line per run, then a ratio table.",
      "ndtk_bench_datapath"};
  std::string dir = "/dev/shm";
  std::string medium;
  std::uint64_t size = std::uint64_t{1} << 30;
  std::string bsizes_s = "512,4096", threads_s = "1,2", patterns_s = "seqwrite,randwrite,randread";
  std::string impls_s;
  unsigned reps = 3;
  double seconds = 0.5;
  std::string out_path;
  std::string fill_only, fill_path;
  std::size_t fill_bsize = 0;
  app.add_option("--dir", dir, "Directory for the pool files (default /dev/shm)");
  app.add_option("--medium", medium, "Label recorded in the JSON (default: pmem or disk)");
  app.add_option("--size", size, "Pool file size in bytes (default 1 GiB)");
  app.add_option("--bsizes", bsizes_s, "Block sizes (default 512,4096)");
  app.add_option("--threads", threads_s, "Thread counts (default 1,2)");
  app.add_option("--patterns", patterns_s, "seqwrite,randwrite,randread");
  app.add_option("--impls", impls_s,
                 "ndtk,pmemblk,raw,raw-btt,raw-btt2 (+ndtk-deferred on a non-pmem medium; default: all)");
  app.add_option("--reps", reps, "Repetitions (medians over them; default 3)");
  app.add_option("--seconds", seconds, "Seconds per timed run (default 0.5)");
  app.add_option("--out", out_path, "Also append the JSON lines to this file");
  app.add_option("--fill-only", fill_only, "(internal) fill one pool: ndtk or pmemblk");
  app.add_option("--fill-path", fill_path, "(internal)");
  app.add_option("--fill-bsize", fill_bsize, "(internal)");
  CLI11_PARSE(app, argc, argv);

  if (!fill_only.empty()) return fill_here(fill_only, fill_path, fill_bsize) >= 0 ? 0 : 1;

  const bool forced = pmem_forced();
  if (medium.empty()) medium = forced ? "pmem" : "disk";
  std::vector<std::string> impls =
      impls_s.empty() ? std::vector<std::string>{"ndtk", "pmemblk", "raw", "raw-btt", "raw-btt2"}
                      : split(impls_s);
  if (impls_s.empty() && !forced) impls.push_back("ndtk-deferred");
  std::vector<Pattern> patterns;
  for (auto& p : split(patterns_s)) {
    if (p == "seqwrite") patterns.push_back(Pattern::SeqWrite);
    else if (p == "randwrite") patterns.push_back(Pattern::RandWrite);
    else if (p == "randread") patterns.push_back(Pattern::RandRead);
    else return std::cerr << "unknown pattern " << p << "\n", 2;
  }
  std::ofstream out_file;
  if (!out_path.empty()) out_file.open(out_path, std::ios::app);
  auto emit = [&](const nlohmann::json& j) {
    const std::string line = j.dump();
    std::cout << line << "\n" << std::flush;
    if (out_file) out_file << line << "\n" << std::flush;
  };

  std::filesystem::create_directories(dir);
  const std::string tag = fmt::format("ndtk-bench-{}", ::getpid());
  auto has = [&](const std::string& i) { return std::find(impls.begin(), impls.end(), i) != impls.end(); };
  // (pattern, bsize, threads, impl) -> ops/s of each repetition
  std::map<std::tuple<int, std::size_t, unsigned, std::string>, std::vector<double>> results;
  int exit_code = 0;

  for (const std::string& bs_s : split(bsizes_s)) {
    const std::size_t bsize = std::stoul(bs_s);
    const std::string ndtk_path = fmt::format("{}/{}-ndtk-{}.pool", dir, tag, bsize);
    const std::string blk_path = fmt::format("{}/{}-pmemblk-{}.pool", dir, tag, bsize);
    const std::string raw_path = fmt::format("{}/{}-raw-{}.bin", dir, tag, bsize);
    // ndtk-deferred gets a pool of its own: its millions of unsynced random writes would
    // otherwise scatter the strict ndtk pool's blocks (then every later sequential write of
    // ndtk, and only of ndtk, lands on random pages: half the msync rate of libpmemblk).
    const std::string deferred_path = fmt::format("{}/{}-ndtk-deferred-{}.pool", dir, tag, bsize);
    const bool with_deferred = has("ndtk-deferred") && !forced;
    auto cleanup = [&] {
      std::filesystem::remove(ndtk_path);
      std::filesystem::remove(blk_path);
      std::filesystem::remove(raw_path);
      std::filesystem::remove(deferred_path);
    };
    // Create and fill (each library fills its own pool through its own write path).
    bool ok = true;
    struct Pool {
      const char* lib;  // whose write path fills it
      const char* impl;
      std::string path;
    };
    std::vector<Pool> pools = {{"ndtk", "ndtk", ndtk_path}, {"pmemblk", "pmemblk", blk_path}};
    if (with_deferred) pools.push_back({"ndtk", "ndtk-deferred", deferred_path});
    for (const auto& [lib, impl, path] : pools) {
      if (!create_pool(path, size, bsize)) { ok = false; break; }
      const double s = forced ? fill_here(lib, path, bsize) : fill_in_child(lib, path, bsize);
      if (s < 0) {
        std::cerr << lib << ": fill of " << path << " failed\n";
        ok = false;
        break;
      }
      emit({{"kind", "fill"}, {"medium", medium}, {"impl", impl}, {"bsize", bsize},
            {"size", size}, {"seconds", s}, {"pmem_forced_fill", true}});
    }
    std::unique_ptr<RawTarget> raw;
    if (ok && (has("raw") || has("raw-btt") || has("raw-btt2"))) {
      raw = RawTarget::create(raw_path, size, bsize);
      ok = raw != nullptr;
      if (ok) raw->fill();
    }
    std::unique_ptr<BttFloorTarget> floor, floor2;
    if (raw) floor = std::make_unique<BttFloorTarget>(*raw, bsize, 4);
    if (raw && forced) floor2 = std::make_unique<BttFloorTarget>(*raw, bsize, 2);
    std::unique_ptr<PmemblkTarget> blk;
    std::unique_ptr<NdtkTarget> nd, nd_deferred;
    if (ok) {
      blk = PmemblkTarget::open(blk_path, bsize);
      if (blk) blk->prefault(forced);
      if (raw) raw->prefault(forced);
      nd = NdtkTarget::open(ndtk_path, ndtk::Durability::kStrict);
      if (nd) nd->prefault(forced);
      if (with_deferred) {
        nd_deferred = NdtkTarget::open(deferred_path, ndtk::Durability::kDeferred);
        if (nd_deferred) nd_deferred->prefault(forced);
      }
      ok = blk && nd && (!with_deferred || nd_deferred);
    }
    if (!ok) {
      cleanup();
      return 1;
    }
    if (nd->nblocks() != blk->nblocks())
      std::cerr << "note: ndtk sees " << nd->nblocks() << " blocks, libpmemblk "
                << blk->nblocks() << "\n";

    for (unsigned rep = 0; rep < reps; ++rep) {
      for (Pattern pat : patterns) {
        for (const std::string& th_s : split(threads_s)) {
          const unsigned threads = static_cast<unsigned>(std::stoul(th_s));
          // Alternate the order of the two libraries between repetitions.
          std::vector<std::string> order = {"ndtk", "pmemblk"};
          if (rep % 2) std::swap(order[0], order[1]);
          if (with_deferred) order.push_back("ndtk-deferred");
          if (has("raw")) order.push_back("raw");
          if (has("raw-btt") && is_write(pat)) order.push_back("raw-btt");
          if (has("raw-btt2") && floor2 && is_write(pat)) order.push_back("raw-btt2");
          for (const std::string& impl : order) {
            if (!has(impl)) continue;
            Target* t = impl == "ndtk" ? static_cast<Target*>(nd.get())
                        : impl == "pmemblk" ? static_cast<Target*>(blk.get())
                        : impl == "raw" ? static_cast<Target*>(raw.get())
                        : impl == "raw-btt" ? static_cast<Target*>(floor.get())
                        : impl == "raw-btt2" ? static_cast<Target*>(floor2.get())
                                        : static_cast<Target*>(nd_deferred.get());
            if (!t) {
              cleanup();
              return 1;
            }
            const double l = load1();
            const std::uint64_t seed = 1 + rep * 7919 + static_cast<std::uint64_t>(pat) * 131 + threads;
            RunResult r = timed_run(*t, pat, bsize, threads, seconds, seed);
            if (impl == "ndtk-deferred") (void)nd_deferred->flush();
            const double rate = r.seconds > 0 ? r.ops / r.seconds : 0;
            if (r.ok) results[{static_cast<int>(pat), bsize, threads, impl}].push_back(rate);
            else exit_code = 1;
            emit({{"kind", "run"},     {"medium", medium},
                  {"impl", impl},      {"pattern", pattern_name(pat)},
                  {"bsize", bsize},    {"threads", threads},
                  {"rep", rep},        {"ops", r.ops},
                  {"seconds", r.seconds}, {"ops_per_s", rate},
                  {"cpu_seconds", r.cpu_seconds}, {"ops_per_cpu_s", r.ops_per_cpu_s},
                  {"mb_per_s", rate * bsize / 1e6},
                  {"nblocks", t->nblocks()}, {"ok", r.ok},
                  {"pmem", forced}, {"load1", l}});
          }
        }
      }
    }
    nd.reset();
    blk.reset();
    floor.reset();
    floor2.reset();
    raw.reset();
    cleanup();
  }

  // Medians and ratios.
  std::cerr << fmt::format("\n{} ({}), medians of {} runs of {:.2f} s, ops/s:\n", medium, dir,
                           reps, seconds);
  std::cerr << fmt::format("{:<10} {:>5} {:>3} {:>12} {:>12} {:>12} {:>9} {:>9}\n", "pattern",
                           "bsize", "thr", "ndtk", "pmemblk", "raw", "ndtk/blk", "ndtk/raw");
  for (Pattern pat : patterns)
    for (const std::string& bs_s : split(bsizes_s))
      for (const std::string& th_s : split(threads_s)) {
        const std::size_t bsize = std::stoul(bs_s);
        const unsigned threads = static_cast<unsigned>(std::stoul(th_s));
        auto med = [&](const std::string& impl) {
          return median(results[{static_cast<int>(pat), bsize, threads, impl}]);
        };
        const double a = med("ndtk"), b = med("pmemblk"), r = med("raw");
        emit({{"kind", "median"}, {"medium", medium}, {"pattern", pattern_name(pat)},
              {"bsize", bsize}, {"threads", threads}, {"ndtk", a}, {"pmemblk", b}, {"raw", r},
              {"ndtk_deferred", med("ndtk-deferred")}, {"raw_btt", med("raw-btt")}, {"raw_btt2", med("raw-btt2")},
              {"reps", reps}, {"seconds", seconds}});
        std::cerr << fmt::format("{:<10} {:>5} {:>3} {:>12.0f} {:>12.0f} {:>12.0f} {:>9.2f} {:>9.2f}\n",
                                 pattern_name(pat), bsize, threads, a, b, r, b > 0 ? a / b : 0,
                                 r > 0 ? a / r : 0);
      }
  return exit_code;
}
