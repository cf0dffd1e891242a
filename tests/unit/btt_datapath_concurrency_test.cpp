// BttDevice under concurrent readers and writers: every sector carries a stamp in every 8-byte
// word, so a torn read (a mix of two writes, or of a write and a reused free block) is caught;
// per-LBA counters bound which write a read may return. Run under ThreadSanitizer in CI
// (suite names contain "Concurrency"); each test stops after a few seconds at most.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "btt_datapath_helpers.h"

namespace ndtk {
namespace {

using Clock = std::chrono::steady_clock;
using test::read_stamp;
using test::stamped_sector;

constexpr auto kTimeBudget = std::chrono::milliseconds(1500);

/// Collects the first failure seen by any thread (gtest assertions are not thread-safe to
/// short-circuit from workers).
class Failures {
 public:
  void add(const std::string& what) {
    if (count_.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(m_);
      first_ = what;
    }
  }
  bool any() const { return count_.load() != 0; }
  std::string first() const {
    std::lock_guard<std::mutex> lock(m_);
    return first_;
  }

 private:
  std::atomic<int> count_{0};
  mutable std::mutex m_;
  std::string first_;
};

struct Fixture {
  PersistRegionPtr region;
  BttDevice dev;
};

Fixture fresh(std::uint32_t lbasize, BttFlavor f, unsigned lanes = 0,
              unsigned optimistic_reads = BttOpenOptions{}.optimistic_reads) {
  const ByteVec ns = test::formatted_btt(20ull << 20, lbasize, f);
  auto region = test::memory_region(ns);
  BttOpenOptions o;
  o.flavor = f;
  o.writable = true;
  o.lanes = lanes;
  o.optimistic_reads = optimistic_reads;
  BttDevice dev = test::open_or_die(region, o);
  return Fixture{region, std::move(dev)};
}

/// Each writer owns a contiguous range of LBAs and writes them with increasing seqs; readers
/// check that a read returns, untorn, a write that had started and is not older than the last
/// write that had completed before the read began, and never goes backwards.
void owned_lbas_run(BttFlavor flavor, std::uint32_t lbasize, unsigned writers, unsigned readers,
                    std::uint32_t nlbas) {
  Fixture fx = fresh(lbasize, flavor);
  BttDevice& dev = fx.dev;
  std::unique_ptr<std::atomic<std::uint32_t>[]> started(new std::atomic<std::uint32_t>[nlbas]);
  std::unique_ptr<std::atomic<std::uint32_t>[]> completed(new std::atomic<std::uint32_t>[nlbas]);
  for (std::uint32_t i = 0; i < nlbas; ++i) {
    started[i] = 0;
    completed[i] = 0;
  }
  Failures fail;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, writes{0};
  const auto deadline = Clock::now() + kTimeBudget;

  std::vector<std::thread> threads;
  const std::uint32_t per_writer = nlbas / writers;
  auto owner_of = [&](std::uint32_t l) { return l / per_writer; };
  for (unsigned w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      std::mt19937 rng(1000 + w);
      std::vector<std::uint32_t> seq(nlbas, 0);
      const std::uint32_t first = w * per_writer, end = first + per_writer;
      ByteVec buf;
      for (int i = 0; i < 20000 && !stop.load() && Clock::now() < deadline; ++i) {
        // One to three contiguous sectors of this writer's range in one call: each sector is
        // atomic on its own, as in the kernel.
        const std::uint32_t lba = first + rng() % per_writer;
        const std::uint32_t count = std::min<std::uint32_t>(1 + rng() % 3, end - lba);
        buf.clear();
        for (std::uint32_t l = lba; l < lba + count; ++l) {
          started[l].store(++seq[l]);
          const ByteVec s = stamped_sector(lbasize, l, w, seq[l]);
          buf.insert(buf.end(), s.begin(), s.end());
        }
        auto r = dev.write(lba, buf);
        if (!r) {
          fail.add("write: " + r.error().message());
          stop = true;
          return;
        }
        for (std::uint32_t l = lba; l < lba + count; ++l) completed[l].store(seq[l]);
        writes.fetch_add(count);
      }
    });
  for (unsigned r = 0; r < readers; ++r)
    threads.emplace_back([&, r] {
      std::mt19937 rng(2000 + r);
      std::vector<std::uint32_t> last(nlbas, 0);
      ByteVec buf(lbasize * 2);
      for (int i = 0; i < 40000 && !stop.load() && Clock::now() < deadline; ++i) {
        const std::uint32_t lba = rng() % (nlbas - 1);
        const std::uint32_t count = 1 + rng() % 2;
        std::uint32_t lo[2], owner[2];
        for (std::uint32_t k = 0; k < count; ++k) {
          lo[k] = completed[lba + k].load();
          owner[k] = owner_of(lba + k);
        }
        auto res = dev.read(lba, MutBytes(buf.data(), std::size_t{lbasize} * count));
        if (!res) {
          fail.add("read: " + res.error().message());
          stop = true;
          return;
        }
        for (std::uint32_t k = 0; k < count; ++k) {
          const std::uint32_t l = lba + k;
          const std::uint32_t hi = started[l].load();
          const Bytes sector(buf.data() + std::size_t{lbasize} * k, lbasize);
          auto st = read_stamp(sector);
          if (!st) {
            if (lo[k] != 0 || !all_zero(sector)) {
              fail.add("lba " + std::to_string(l) + ": torn or foreign sector read");
              stop = true;
              return;
            }
            continue;  // never written yet: the fresh BTT reads zeros
          }
          if (st->lba != l || st->writer != owner[k] || st->seq < lo[k] || st->seq > hi ||
              st->seq < last[l]) {
            fail.add("lba " + std::to_string(l) + ": read stamp (lba " + std::to_string(st->lba) +
                     ", writer " + std::to_string(st->writer) + ", seq " +
                     std::to_string(st->seq) + ") outside [" + std::to_string(lo[k]) + ", " +
                     std::to_string(hi) + "] or before " + std::to_string(last[l]));
            stop = true;
            return;
          }
          last[l] = st->seq;
        }
        reads.fetch_add(count);
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_FALSE(fail.any()) << fail.first();
  EXPECT_GT(writes.load(), 0u);
  EXPECT_GT(reads.load(), 0u);

  // Quiescent: every LBA holds its last completed write, the bookkeeping is intact, and a
  // reopen (fresh load-time recovery) sees the same.
  auto check_final = [&](BttDevice& d) {
    ByteVec s(lbasize);
    for (std::uint32_t l = 0; l < nlbas; ++l) {
      ASSERT_TRUE(d.read(l, s));
      const std::uint32_t c = completed[l].load();
      if (c == 0) {
        EXPECT_TRUE(all_zero(s));
      } else {
        auto st = read_stamp(s);
        ASSERT_TRUE(st) << "lba " << l;
        EXPECT_EQ(st->seq, c) << "lba " << l;
      }
    }
    EXPECT_TRUE(d.verify_block_references()) << d.verify_block_references().error().message();
  };
  check_final(dev);
  BttOpenOptions o;
  o.flavor = flavor;
  o.writable = true;
  BttDevice again = test::open_or_die(fx.region, o);
  EXPECT_EQ(again.arenas()[0].recovered_map_entries, 0u);
  check_final(again);
}

TEST(BttConcurrency, OwnedLbasReadersSeeCompleteMonotonicWritesKernel) {
  owned_lbas_run(BttFlavor::Kernel, 512, 2, 2, 64);
}

TEST(BttConcurrency, OwnedLbasReadersSeeCompleteMonotonicWritesPmdk4K) {
  owned_lbas_run(BttFlavor::Pmdk, 4096, 2, 1, 32);
}

/// All writers hammer the same 8 LBAs (same map lock, constant free-block recycling), readers
/// read them continuously: lock-free reads race block reuse all the time.
void shared_lbas_run(unsigned optimistic_reads) {
  constexpr std::uint32_t kLbas = 8, kWriters = 3, kReaders = 2, kSize = 520;
  Fixture fx = fresh(kSize, BttFlavor::Kernel, 0, optimistic_reads);
  BttDevice& dev = fx.dev;
  std::atomic<std::uint32_t> started[kWriters][kLbas];
  std::uint32_t last_written[kWriters][kLbas] = {};
  for (auto& row : started)
    for (auto& a : row) a = 0;
  Failures fail;
  std::atomic<bool> stop{false};
  const auto deadline = Clock::now() + kTimeBudget;
  std::vector<std::thread> threads;
  for (std::uint32_t w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      std::mt19937 rng(300 + w);
      for (std::uint32_t i = 1; i <= 15000 && !stop.load() && Clock::now() < deadline; ++i) {
        const std::uint32_t lba = rng() % kLbas;
        started[w][lba].store(i);
        auto r = dev.write(lba, stamped_sector(kSize, lba, w, i));
        if (!r) {
          fail.add("write: " + r.error().message());
          stop = true;
          return;
        }
        last_written[w][lba] = i;
      }
    });
  for (std::uint32_t r = 0; r < kReaders; ++r)
    threads.emplace_back([&, r] {
      std::mt19937 rng(400 + r);
      ByteVec s(kSize);
      for (int i = 0; i < 40000 && !stop.load() && Clock::now() < deadline; ++i) {
        const std::uint32_t lba = rng() % kLbas;
        if (!dev.read(lba, s)) {
          fail.add("read failed");
          stop = true;
          return;
        }
        auto st = read_stamp(s);
        if (!st) {
          if (!all_zero(s)) {
            fail.add("lba " + std::to_string(lba) + ": torn read");
            stop = true;
            return;
          }
          continue;
        }
        if (st->lba != lba || st->writer >= kWriters || st->seq > started[st->writer][lba].load()) {
          fail.add("lba " + std::to_string(lba) + ": impossible stamp");
          stop = true;
          return;
        }
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_FALSE(fail.any()) << fail.first();
  ByteVec s(kSize);
  for (std::uint32_t lba = 0; lba < kLbas; ++lba) {
    ASSERT_TRUE(dev.read(lba, s));
    auto st = read_stamp(s);
    ASSERT_TRUE(st) << "lba " << lba;
    ASSERT_LT(st->writer, kWriters);
    EXPECT_EQ(st->seq, last_written[st->writer][lba]) << "lba " << lba;
  }
  EXPECT_TRUE(dev.verify_block_references()) << dev.verify_block_references().error().message();
}

TEST(BttConcurrency, SharedLbasNeverTearAndEndOnSomeWritersLastWrite) {
  shared_lbas_run(BttOpenOptions{}.optimistic_reads);
}

// One lock-free attempt: readers fall back to the map lock whenever a writer interferes.
TEST(BttConcurrency, SharedLbasOneOptimisticAttemptThenMapLock) { shared_lbas_run(1); }

// Every read under the map lock.
TEST(BttConcurrency, SharedLbasReadsUnderMapLock) { shared_lbas_run(0); }

TEST(BttConcurrency, OneLbaRewrittenOnOneLaneNeverTears) {
  // One lane, one LBA: every write fills the block the previous write freed, so the two
  // blocks alternate and a reader holding the older map entry copies exactly the block being
  // refilled -- and finds the same map entry again afterwards (A-B-A). Only the block's
  // sequence counter tells it the copy is torn.
  constexpr std::uint32_t kSize = 4096;
  Fixture fx = fresh(kSize, BttFlavor::Kernel, /*lanes=*/1);
  Failures fail;
  std::atomic<bool> stop{false};
  std::atomic<std::uint32_t> started{0};
  const auto deadline = Clock::now() + kTimeBudget;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (std::uint32_t i = 1; i <= 200000 && !stop.load() && Clock::now() < deadline; ++i) {
      started.store(i);
      if (!fx.dev.write(0, stamped_sector(kSize, 0, 0, i))) {
        fail.add("write failed");
        break;
      }
    }
    stop = true;
  });
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&] {
      ByteVec s(kSize);
      std::uint32_t last = 0;
      while (!stop.load()) {
        if (!fx.dev.read(0, s)) return fail.add("read failed");
        auto st = read_stamp(s);
        if (!st) {
          if (all_zero(s)) continue;  // before the first write
          stop = true;
          return fail.add("torn read");
        }
        if (st->seq < last || st->seq > started.load()) {
          stop = true;
          return fail.add("stamp " + std::to_string(st->seq) + " out of order");
        }
        last = st->seq;
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_FALSE(fail.any()) << fail.first();
  EXPECT_TRUE(fx.dev.verify_block_references());
}

TEST(BttConcurrency, MoreThreadsThanLanesShareThem) {
  Fixture fx = fresh(512, BttFlavor::Kernel, /*lanes=*/1);
  ASSERT_EQ(fx.dev.lanes(), 1u);
  Failures fail;
  const auto deadline = Clock::now() + kTimeBudget;
  std::atomic<std::uint32_t> done[4];
  for (auto& d : done) d = 0;
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ByteVec s(512);
      for (std::uint32_t i = 1; i <= 3000 && Clock::now() < deadline; ++i) {
        const std::uint32_t lba = t * 16 + i % 16;
        if (!fx.dev.write(lba, stamped_sector(512, lba, t, i))) return fail.add("write failed");
        if (!fx.dev.read(lba, s)) return fail.add("read failed");
        auto st = read_stamp(s);
        if (!st || st->seq != i || st->writer != t) return fail.add("own write not read back");
        done[t] = i;
      }
    });
  for (auto& th : threads) th.join();
  ASSERT_FALSE(fail.any()) << fail.first();
  for (auto& d : done) EXPECT_GT(d.load(), 0u);
  EXPECT_TRUE(fx.dev.verify_block_references());
}

TEST(BttConcurrency, ZeroAndErrorFlagsRaceWithReads) {
  // One thread cycles LBAs through write -> set_zero -> write -> set_error; readers must see
  // a complete stamp, zeros, or a media error, nothing else.
  Fixture fx = fresh(4096, BttFlavor::Pmdk);
  constexpr std::uint32_t kLbas = 16;
  Failures fail;
  std::atomic<bool> stop{false};
  const auto deadline = Clock::now() + kTimeBudget;
  std::thread writer([&] {
    for (std::uint32_t i = 1; i <= 4000 && !stop.load() && Clock::now() < deadline; ++i) {
      const std::uint32_t lba = i % kLbas;
      Result<void> r;
      switch (i / kLbas % 4) {
        case 0: case 2: r = fx.dev.write(lba, stamped_sector(4096, lba, 0, i)); break;
        case 1: r = fx.dev.set_zero(lba); break;
        default: r = fx.dev.set_error(lba); break;
      }
      if (!r) {
        fail.add("update: " + r.error().message());
        stop = true;
      }
    }
    stop = true;
  });
  std::thread reader([&] {
    ByteVec s(4096);
    std::mt19937 rng(5);
    while (!stop.load()) {
      const std::uint32_t lba = rng() % kLbas;
      auto r = fx.dev.read(lba, s);
      if (!r) {
        if (r.error().code != Errc::kMediaError) fail.add("read: " + r.error().message());
        continue;
      }
      auto st = read_stamp(s);
      if (!st ? !all_zero(s) : st->lba != lba) fail.add("lba " + std::to_string(lba) + ": torn");
    }
  });
  writer.join();
  reader.join();
  ASSERT_FALSE(fail.any()) << fail.first();
  EXPECT_TRUE(fx.dev.verify_block_references()) << fx.dev.verify_block_references().error().message();
}

}  // namespace
}  // namespace ndtk
