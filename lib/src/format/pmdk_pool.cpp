// PMDK pool header and pmemblk descriptor: decode/serialize via PoolHdrRaw, PMDK's checksum
// rules, pmempool-style validation, and locating the BTT inside a pmemblk pool file.
#include "ndtk/format/pmdk_pool.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

#define HDR_OFF(f) offsetof(PoolHdrRaw, f)
#define HDR_SIZE(f) sizeof(PoolHdrRaw::f)
#define BLK_OFF(f) offsetof(PmemBlkDescRaw, f)
#define BLK_SIZE(f) sizeof(PmemBlkDescRaw::f)

constexpr FieldDesc kHdrFields[] = {
    {"signature", HDR_OFF(signature), HDR_SIZE(signature)},
    {"major", HDR_OFF(major), HDR_SIZE(major)},
    {"compat_features", HDR_OFF(compat_features), HDR_SIZE(compat_features)},
    {"incompat_features", HDR_OFF(incompat_features), HDR_SIZE(incompat_features)},
    {"ro_compat_features", HDR_OFF(ro_compat_features), HDR_SIZE(ro_compat_features)},
    {"poolset_uuid", HDR_OFF(poolset_uuid), HDR_SIZE(poolset_uuid)},
    {"uuid", HDR_OFF(uuid), HDR_SIZE(uuid)},
    {"prev_part_uuid", HDR_OFF(prev_part_uuid), HDR_SIZE(prev_part_uuid)},
    {"next_part_uuid", HDR_OFF(next_part_uuid), HDR_SIZE(next_part_uuid)},
    {"prev_repl_uuid", HDR_OFF(prev_repl_uuid), HDR_SIZE(prev_repl_uuid)},
    {"next_repl_uuid", HDR_OFF(next_repl_uuid), HDR_SIZE(next_repl_uuid)},
    {"crtime", HDR_OFF(crtime), HDR_SIZE(crtime)},
    {"arch_flags.alignment_desc", HDR_OFF(alignment_desc), HDR_SIZE(alignment_desc)},
    {"arch_flags.machine_class", HDR_OFF(machine_class), HDR_SIZE(machine_class)},
    {"arch_flags.data", HDR_OFF(data), HDR_SIZE(data)},
    {"arch_flags.reserved", HDR_OFF(arch_reserved), HDR_SIZE(arch_reserved)},
    {"arch_flags.machine", HDR_OFF(machine), HDR_SIZE(machine)},
    {"unused", HDR_OFF(unused), HDR_SIZE(unused)},
    {"unused2", HDR_OFF(unused2), HDR_SIZE(unused2)},
    {"sds.usc", HDR_OFF(sds_usc), HDR_SIZE(sds_usc)},
    {"sds.uuid", HDR_OFF(sds_uuid), HDR_SIZE(sds_uuid)},
    {"sds.dirty", HDR_OFF(sds_dirty), HDR_SIZE(sds_dirty)},
    {"sds.reserved", HDR_OFF(sds_reserved), HDR_SIZE(sds_reserved)},
    {"sds.checksum", HDR_OFF(sds_checksum), HDR_SIZE(sds_checksum)},
    {"checksum", HDR_OFF(checksum), HDR_SIZE(checksum)},
};

constexpr FieldDesc kBlkFields[] = {
    {"bsize", BLK_OFF(bsize), BLK_SIZE(bsize)},
    {"is_zeroed", BLK_OFF(is_zeroed), BLK_SIZE(is_zeroed)},
};

constexpr std::size_t kSdsOff = HDR_OFF(sds_usc);
constexpr std::size_t kSdsSize = HDR_OFF(checksum) - kSdsOff;
static_assert(kSdsSize == 64);


Uuid uuid_at(Bytes s, std::size_t off) { return Uuid::from_bytes(s.subspan(off, 16)); }

void put_uuid(ByteVec& out, std::size_t off, const Uuid& u) {
  std::copy(u.bytes.begin(), u.bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(off));
}

template <class Array>
std::optional<std::size_t> first_nonzero(const Array& a) {
  const auto it = std::find_if(a.begin(), a.end(), [](auto b) { return b != 0; });
  if (it == a.end()) return std::nullopt;
  return static_cast<std::size_t>(it - a.begin());
}

bool known_machine(std::uint16_t m) {
  return m == kPmdkMachineX86_64 || m == kPmdkMachineAarch64 || m == kPmdkMachinePpc64 ||
         m == kPmdkMachineRiscv64 || m == kPmdkMachineLoongarch64;
}

std::string feature_list(PoolFeatureSet set, std::uint32_t mask) {
  const auto names = pool_feature_names(set, mask);
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

const char* pmdk_pool_type_name(PmdkPoolType t) {
  switch (t) {
    case PmdkPoolType::Blk: return "blk";
    case PmdkPoolType::Log: return "log";
    case PmdkPoolType::Obj: return "obj";
    case PmdkPoolType::Unknown: break;
  }
  return "unknown";
}

const std::array<std::uint8_t, 8>& pmdk_pool_signature(PmdkPoolType t) {
  switch (t) {
    case PmdkPoolType::Log: return kPmemLogSignature;
    case PmdkPoolType::Obj: return kPmemObjSignature;
    case PmdkPoolType::Blk:
    case PmdkPoolType::Unknown: break;
  }
  return kPmemBlkSignature;
}

std::uint32_t pmdk_format_major(PmdkPoolType t) {
  switch (t) {
    case PmdkPoolType::Blk: return kPmemBlkFormatMajor;
    case PmdkPoolType::Log: return kPmemLogFormatMajor;
    case PmdkPoolType::Obj: return kPmemObjFormatMajor;
    case PmdkPoolType::Unknown: break;
  }
  return 0;
}

std::vector<std::string> pool_feature_names(PoolFeatureSet set, std::uint32_t mask) {
  std::vector<std::string> out;
  for (std::uint32_t bit = 1; bit != 0; bit <<= 1) {
    if ((mask & bit) == 0) continue;
    const char* name = nullptr;
    if (set == PoolFeatureSet::Compat && bit == kPoolFeatCheckBadBlocks) name = "CHECK_BAD_BLOCKS";
    if (set == PoolFeatureSet::Incompat) {
      if (bit == kPoolFeatSingleHdr) name = "SINGLEHDR";
      if (bit == kPoolFeatCksum2K) name = "CKSUM_2K";
      if (bit == kPoolFeatSds) name = "SHUTDOWN_STATE";
    }
    out.push_back(name ? std::string(name) : hex(bit));
  }
  return out;
}

std::string pmdk_machine_name(std::uint16_t machine) {
  switch (machine) {
    case kPmdkMachineX86_64: return "x86-64";
    case kPmdkMachineAarch64: return "aarch64";
    case kPmdkMachinePpc64: return "ppc64";
    case kPmdkMachineRiscv64: return "riscv64";
    case kPmdkMachineLoongarch64: return "loongarch64";
    default: return fmt::format("unknown ({})", machine);
  }
}

std::string pmdk_uuid_string(const Uuid& u) { return u.to_guid_string(); }

Result<PoolHeader> PoolHeader::decode(Bytes b) {
  if (b.size() < kPoolHdrSize)
    return fail(field_error(Errc::kTruncated, "pool header", "", 0,
                            fmt::format("{} bytes", kPoolHdrSize), fmt::format("{} bytes", b.size())));
  const Bytes s = b.first(kPoolHdrSize);
  PoolHeader h;
  std::copy_n(s.begin() + HDR_OFF(signature), h.signature.size(), h.signature.begin());
  h.major = le32(s, HDR_OFF(major));
  h.compat_features = le32(s, HDR_OFF(compat_features));
  h.incompat_features = le32(s, HDR_OFF(incompat_features));
  h.ro_compat_features = le32(s, HDR_OFF(ro_compat_features));
  h.poolset_uuid = uuid_at(s, HDR_OFF(poolset_uuid));
  h.uuid = uuid_at(s, HDR_OFF(uuid));
  h.prev_part_uuid = uuid_at(s, HDR_OFF(prev_part_uuid));
  h.next_part_uuid = uuid_at(s, HDR_OFF(next_part_uuid));
  h.prev_repl_uuid = uuid_at(s, HDR_OFF(prev_repl_uuid));
  h.next_repl_uuid = uuid_at(s, HDR_OFF(next_repl_uuid));
  h.crtime = le64(s, HDR_OFF(crtime));
  h.alignment_desc = le64(s, HDR_OFF(alignment_desc));
  h.machine_class = s[HDR_OFF(machine_class)];
  h.data = s[HDR_OFF(data)];
  std::copy_n(s.begin() + HDR_OFF(arch_reserved), h.arch_reserved.size(), h.arch_reserved.begin());
  h.machine = le16(s, HDR_OFF(machine));
  std::copy_n(s.begin() + HDR_OFF(unused), h.unused.size(), h.unused.begin());
  std::copy_n(s.begin() + HDR_OFF(unused2), h.unused2.size(), h.unused2.begin());
  h.sds_usc = le64(s, HDR_OFF(sds_usc));
  h.sds_uuid = le64(s, HDR_OFF(sds_uuid));
  h.sds_dirty = s[HDR_OFF(sds_dirty)];
  std::copy_n(s.begin() + HDR_OFF(sds_reserved), h.sds_reserved.size(), h.sds_reserved.begin());
  h.sds_checksum = le64(s, HDR_OFF(sds_checksum));
  h.checksum = le64(s, HDR_OFF(checksum));
  return h;
}

Result<PoolHeader> PoolHeader::parse(Bytes b, PmdkPoolType expected) {
  NDTK_TRY(h, decode(b));
  const bool sig_ok = expected == PmdkPoolType::Unknown
                          ? h.type() != PmdkPoolType::Unknown
                          : h.signature == pmdk_pool_signature(expected);
  if (!sig_ok) {
    const std::string want =
        expected == PmdkPoolType::Unknown
            ? std::string("\"PMEMBLK\", \"PMEMLOG\" or \"PMEMOBJ\"")
            : quoted_printable(pmdk_pool_signature(expected));
    return fail(field_error(Errc::kBadSignature, "pool header", "signature", HDR_OFF(signature),
                            want, quoted_printable(h.signature)));
  }
  const std::uint64_t computed = h.computed_checksum();
  if (computed != h.checksum)
    return fail(field_error(Errc::kBadChecksum, "pool header", "checksum", HDR_OFF(checksum),
                            hex(computed), hex(h.checksum)));
  return h;
}

ByteVec PoolHeader::serialize() const {
  ByteVec out(kPoolHdrSize, 0);
  std::copy(signature.begin(), signature.end(), out.begin() + HDR_OFF(signature));
  put_le32(out, HDR_OFF(major), major);
  put_le32(out, HDR_OFF(compat_features), compat_features);
  put_le32(out, HDR_OFF(incompat_features), incompat_features);
  put_le32(out, HDR_OFF(ro_compat_features), ro_compat_features);
  put_uuid(out, HDR_OFF(poolset_uuid), poolset_uuid);
  put_uuid(out, HDR_OFF(uuid), uuid);
  put_uuid(out, HDR_OFF(prev_part_uuid), prev_part_uuid);
  put_uuid(out, HDR_OFF(next_part_uuid), next_part_uuid);
  put_uuid(out, HDR_OFF(prev_repl_uuid), prev_repl_uuid);
  put_uuid(out, HDR_OFF(next_repl_uuid), next_repl_uuid);
  put_le64(out, HDR_OFF(crtime), crtime);
  put_le64(out, HDR_OFF(alignment_desc), alignment_desc);
  out[HDR_OFF(machine_class)] = machine_class;
  out[HDR_OFF(data)] = data;
  std::copy(arch_reserved.begin(), arch_reserved.end(), out.begin() + HDR_OFF(arch_reserved));
  put_le16(out, HDR_OFF(machine), machine);
  std::copy(unused.begin(), unused.end(), out.begin() + HDR_OFF(unused));
  std::copy(unused2.begin(), unused2.end(), out.begin() + HDR_OFF(unused2));
  put_le64(out, HDR_OFF(sds_usc), sds_usc);
  put_le64(out, HDR_OFF(sds_uuid), sds_uuid);
  out[HDR_OFF(sds_dirty)] = sds_dirty;
  std::copy(sds_reserved.begin(), sds_reserved.end(), out.begin() + HDR_OFF(sds_reserved));
  put_le64(out, HDR_OFF(sds_checksum), sds_checksum);
  put_le64(out, HDR_OFF(checksum), checksum);
  return out;
}

std::uint64_t PoolHeader::computed_checksum() const {
  ByteVec b = serialize();
  // PMDK skips every word from the first not-checksummed offset on, and the checksum itself.
  const std::size_t end = cksum_2k() ? kPoolHdrChecksum2kEnd : HDR_OFF(checksum);
  std::fill(b.begin() + static_cast<std::ptrdiff_t>(end), b.end(), std::uint8_t{0});
  return fletcher64(b);
}

PoolHeader PoolHeader::with_checksum() const {
  PoolHeader h = *this;
  h.checksum = computed_checksum();
  return h;
}

PoolHeader PoolHeader::with_unused_cleared() const {
  PoolHeader h = *this;
  h.unused.fill(0);
  h.unused2.fill(0);
  return h;
}

std::uint64_t PoolHeader::computed_sds_checksum() const {
  const ByteVec b = serialize();
  return fletcher64_skip(Bytes(b).subspan(kSdsOff, kSdsSize), HDR_OFF(sds_checksum) - kSdsOff);
}

PoolHeader PoolHeader::with_sds_checksum() const {
  PoolHeader h = *this;
  h.sds_checksum = computed_sds_checksum();
  return h;
}

PmdkPoolType PoolHeader::type() const {
  if (signature == kPmemBlkSignature) return PmdkPoolType::Blk;
  if (signature == kPmemLogSignature) return PmdkPoolType::Log;
  if (signature == kPmemObjSignature) return PmdkPoolType::Obj;
  return PmdkPoolType::Unknown;
}

bool PoolHeader::is_zero() const { return all_zero(serialize()); }

Findings PoolHeader::validate(const PoolValidateOptions& opt) const {
  Findings out;
  const std::string where = "pool header";
  auto at = [&](std::size_t off) -> std::optional<std::uint64_t> {
    return checked_add(opt.offset, off);
  };
  auto add = [&](Problem p, std::size_t off, std::string detail) {
    out.push_back({p, where, std::move(detail), at(off)});
  };

  if (is_zero()) {
    add(Problem::POOL_EMPTY_HEADER, 0, "all 4096 bytes are zero");
    return out;
  }

  const PmdkPoolType found = type();
  const bool sig_ok = opt.expected_type == PmdkPoolType::Unknown
                          ? found != PmdkPoolType::Unknown
                          : signature == pmdk_pool_signature(opt.expected_type);
  if (!sig_ok)
    add(Problem::POOL_BAD_SIGNATURE, HDR_OFF(signature),
        fmt::format("signature {}, expected {}", quoted_printable(signature),
                    opt.expected_type == PmdkPoolType::Unknown
                        ? std::string("a PMDK pool signature")
                        : quoted_printable(pmdk_pool_signature(opt.expected_type))));

  const std::uint64_t computed = computed_checksum();
  if (computed != checksum)
    add(Problem::POOL_BAD_CHECKSUM, HDR_OFF(checksum),
        fmt::format("stored {}, computed {} over {}", hex(checksum), hex(computed),
                    cksum_2k() ? "bytes 0..2047 (CKSUM_2K)" : "all 4096 bytes"));

  const PmdkPoolType t = found != PmdkPoolType::Unknown ? found : opt.expected_type;
  if (t != PmdkPoolType::Unknown && major != pmdk_format_major(t))
    add(Problem::POOL_BAD_MAJOR, HDR_OFF(major),
        fmt::format("major {}, {} pools are format {}", major, pmdk_pool_type_name(t),
                    pmdk_format_major(t)));

  if (const std::uint32_t u = incompat_features & ~kPoolIncompatKnown)
    add(Problem::POOL_INCOMPAT_FEATURES, HDR_OFF(incompat_features),
        fmt::format("incompat {} has unknown bits {}", hex(incompat_features),
                    feature_list(PoolFeatureSet::Incompat, u)));
  if (const std::uint32_t u = ro_compat_features & ~kPoolRoCompatKnown)
    add(Problem::POOL_RO_COMPAT_FEATURES, HDR_OFF(ro_compat_features),
        fmt::format("ro_compat {} has unknown bits {}", hex(ro_compat_features),
                    feature_list(PoolFeatureSet::RoCompat, u)));
  if (const std::uint32_t u = compat_features & ~kPoolCompatKnown)
    add(Problem::POOL_COMPAT_FEATURES, HDR_OFF(compat_features),
        fmt::format("compat {} has unknown bits {}", hex(compat_features),
                    feature_list(PoolFeatureSet::Compat, u)));

  // libpmem refuses a pool whose arch flags differ from the opening machine's; every 64-bit
  // little-endian target PMDK 1.x supports shares the LP64 alignment descriptor.
  if (alignment_desc != kPmdkAlignmentDescLp64)
    add(Problem::POOL_ARCH_FLAGS, HDR_OFF(alignment_desc),
        fmt::format("alignment_desc {}, LP64 targets have {}", hex(alignment_desc),
                    hex(kPmdkAlignmentDescLp64)));
  if (machine_class != kPmdkMachineClass64)
    add(Problem::POOL_ARCH_FLAGS, HDR_OFF(machine_class),
        fmt::format("machine_class {}, expected {} (64-bit)", machine_class, kPmdkMachineClass64));
  if (data != kPmdkDataLe)
    add(Problem::POOL_ARCH_FLAGS, HDR_OFF(data),
        fmt::format("data {}, expected {} (little endian){}", data, kPmdkDataLe,
                    data == kPmdkDataBe ? ": a big-endian pool" : ""));
  if (!all_zero(arch_reserved))
    add(Problem::POOL_ARCH_FLAGS, HDR_OFF(arch_reserved), "arch_flags.reserved is not zero");
  if (!known_machine(machine))
    add(Problem::POOL_ARCH_FLAGS, HDR_OFF(machine),
        fmt::format("machine {}", pmdk_machine_name(machine)));

  if (const auto i = first_nonzero(unused))
    add(Problem::POOL_UNUSED_NONZERO, HDR_OFF(unused) + *i,
        fmt::format("unused area (checksummed) has a non-zero byte at {}", hex(HDR_OFF(unused) + *i)));
  if (const auto i = first_nonzero(unused2))
    add(Problem::POOL_UNUSED_NONZERO, HDR_OFF(unused2) + *i,
        fmt::format("unused2 area has a non-zero byte at {}{}", hex(HDR_OFF(unused2) + *i),
                    cksum_2k() ? " (not covered by the CKSUM_2K checksum)" : ""));

  if (uuid.is_zero()) add(Problem::POOL_UUID_ZERO, HDR_OFF(uuid), "uuid is all zero");
  if (poolset_uuid.is_zero())
    add(Problem::POOL_UUID_ZERO, HDR_OFF(poolset_uuid), "poolset_uuid is all zero");
  if (opt.single_file) {
    // A one-file pool is its own previous/next part and replica.
    const struct {
      const char* name;
      std::size_t off;
      const Uuid& value;
    } links[] = {
        {"prev_part_uuid", HDR_OFF(prev_part_uuid), prev_part_uuid},
        {"next_part_uuid", HDR_OFF(next_part_uuid), next_part_uuid},
        {"prev_repl_uuid", HDR_OFF(prev_repl_uuid), prev_repl_uuid},
        {"next_repl_uuid", HDR_OFF(next_repl_uuid), next_repl_uuid},
    };
    for (const auto& l : links)
      if (l.value != uuid)
        add(Problem::POOL_UUID_LINK, l.off,
            fmt::format("{} {} is not the pool's own uuid {} (single-file pool)", l.name,
                        pmdk_uuid_string(l.value), pmdk_uuid_string(uuid)));
  }

  if (crtime == 0)
    add(Problem::POOL_CRTIME, HDR_OFF(crtime), "crtime is zero");
  else if (opt.file_mtime && crtime > *opt.file_mtime)
    add(Problem::POOL_CRTIME, HDR_OFF(crtime),
        fmt::format("crtime {} is later than the file's mtime {}", crtime, *opt.file_mtime));

  if (sds_enabled()) {
    const std::uint64_t sc = computed_sds_checksum();
    if (sc != sds_checksum)
      add(Problem::POOL_SDS_BAD_CHECKSUM, HDR_OFF(sds_checksum),
          fmt::format("stored {}, computed {}", hex(sds_checksum), hex(sc)));
    if (sds_dirty != 0)
      add(Problem::POOL_SDS_DIRTY, HDR_OFF(sds_dirty),
          fmt::format("dirty {} (usc {})", sds_dirty, sds_usc));
  }
  return out;
}

FieldTable PoolHeader::fields() { return kHdrFields; }

Result<PmemBlkDesc> PmemBlkDesc::decode(Bytes b) {
  if (b.size() < sizeof(PmemBlkDescRaw))
    return fail(field_error(Errc::kTruncated, "pmemblk descriptor", "", 0,
                            fmt::format("{} bytes", sizeof(PmemBlkDescRaw)),
                            fmt::format("{} bytes", b.size())));
  PmemBlkDesc d;
  d.bsize = le32(b, BLK_OFF(bsize));
  d.is_zeroed = le32(b, BLK_OFF(is_zeroed));
  return d;
}

ByteVec PmemBlkDesc::serialize() const {
  ByteVec out(sizeof(PmemBlkDescRaw), 0);
  put_le32(out, BLK_OFF(bsize), bsize);
  put_le32(out, BLK_OFF(is_zeroed), is_zeroed);
  return out;
}

FieldTable PmemBlkDesc::fields() { return kBlkFields; }

Findings PmemBlkPool::cross_check_btt(std::uint32_t btt_external_lbasize,
                                      const Uuid& btt_parent_uuid) const {
  Findings out;
  if (desc.bsize != btt_external_lbasize)
    out.push_back({Problem::POOL_BSIZE_MISMATCH, "pmemblk descriptor",
                   fmt::format("bsize {}, BTT external_lbasize {}", desc.bsize,
                               btt_external_lbasize),
                   std::nullopt});
  if (header.poolset_uuid != btt_parent_uuid)
    out.push_back({Problem::POOL_POOLSET_UUID_MISMATCH, "pool header",
                   fmt::format("poolset_uuid {}, BTT parent_uuid {}",
                               pmdk_uuid_string(header.poolset_uuid),
                               pmdk_uuid_string(btt_parent_uuid)),
                   HDR_OFF(poolset_uuid)});
  return out;
}

Result<PmemBlkPool> read_pmemblk_pool(const BlockDevice& dev, const PmemBlkReadOptions& opt) {
  if (opt.pmem_pagesize < kPoolHdrSize || !std::has_single_bit(opt.pmem_pagesize) ||
      opt.pmem_pagesize > (1ull << 30))
    return fail(Errc::kInvalidArgument,
                fmt::format("PMEM_PAGESIZE {} is not a power of two in 4 KiB .. 1 GiB",
                            opt.pmem_pagesize));
  const std::uint64_t desc_off = pmemblk_desc_offset(opt.pmem_pagesize);
  const std::uint64_t btt_off = pmemblk_btt_offset(opt.pmem_pagesize);
  if (dev.size() < desc_off + sizeof(PmemBlkDescRaw)) {
    Error e = field_error(Errc::kTruncated, "pmemblk pool", "", 0,
                          fmt::format("at least {} bytes", desc_off + sizeof(PmemBlkDescRaw)),
                          fmt::format("{} bytes", dev.size()));
    return fail(std::move(e.prefix(dev.name())));
  }

  NDTK_TRY(hdr_bytes, dev.read_vec(0, kPoolHdrSize));
  NDTK_TRY(header, PoolHeader::decode(hdr_bytes));
  if (header.is_zero() && !opt.damaged_header_ok) {
    Error e = make_error(Errc::kNotPresent, "the pool header is all zero (no PMDK pool)");
    e.structure = "pool header";
    return fail(std::move(e.prefix(dev.name())));
  }
  if (header.signature != kPmemBlkSignature && !opt.damaged_header_ok) {
    Error e = field_error(Errc::kBadSignature, "pool header", "signature", HDR_OFF(signature),
                          quoted_printable(kPmemBlkSignature), quoted_printable(header.signature));
    return fail(std::move(e.prefix(dev.name())));
  }
  NDTK_TRY(desc_bytes, dev.read_vec(desc_off, sizeof(PmemBlkDescRaw)));
  NDTK_TRY(desc, PmemBlkDesc::decode(desc_bytes));

  PmemBlkPool pool;
  pool.header = header;
  pool.desc = desc;
  pool.btt_offset = btt_off;
  pool.btt_size = dev.size() > btt_off ? dev.size() - btt_off : 0;

  PoolValidateOptions vopt;
  vopt.expected_type = PmdkPoolType::Blk;
  vopt.single_file = opt.single_file;
  vopt.file_mtime = opt.file_mtime;
  pool.findings = header.validate(vopt);

  const std::string where = "pmemblk descriptor";
  const std::uint64_t min_pool = (16ull << 20) + btt_off;
  if (dev.size() < min_pool)
    pool.findings.push_back({Problem::POOL_TOO_SMALL, "pmemblk pool",
                             fmt::format("{} bytes, PMEMBLK_MIN_POOL is {}", dev.size(), min_pool),
                             std::nullopt});

  if (pool.btt_size >= kPoolHdrSize) {
    if (dev.known_zero(btt_off, kPoolHdrSize)) {
      pool.layout_written = false;
    } else {
      NDTK_TRY(first, dev.read_vec(btt_off, kPoolHdrSize));
      pool.layout_written = !all_zero(first);
    }
  }
  if (!pool.layout_written)
    pool.findings.push_back({Problem::POOL_BTT_LAYOUT_NOT_WRITTEN, "pmemblk pool",
                             fmt::format("the 4 KiB at the BTT offset {} are zero", hex(btt_off)),
                             btt_off});

  // A BTT arena needs at least 2 x nfree (256) internal blocks next to its info blocks, map
  // and flog; a bsize that cannot fit that many is not one libpmemblk could have laid out.
  constexpr std::uint64_t kMinBlocks = 2 * 256;
  constexpr std::uint64_t kArenaOverhead = 2 * 4096 + 256 * 64;
  const std::uint64_t room = pool.btt_size > kArenaOverhead ? pool.btt_size - kArenaOverhead : 0;
  if (desc.bsize == 0)
    pool.findings.push_back({Problem::POOL_BSIZE_INVALID, where, "bsize is zero",
                             desc_off + BLK_OFF(bsize)});
  else if (std::uint64_t{desc.bsize} > room / kMinBlocks)
    pool.findings.push_back({Problem::POOL_BSIZE_INVALID, where,
                             fmt::format("bsize {}: {} bytes of BTT space cannot hold {} blocks "
                                         "of that size",
                                         desc.bsize, pool.btt_size, kMinBlocks),
                             desc_off + BLK_OFF(bsize)});
  if (desc.is_zeroed > 1)
    pool.findings.push_back({Problem::POOL_IS_ZEROED_INVALID, where,
                             fmt::format("is_zeroed {}", desc.is_zeroed),
                             desc_off + BLK_OFF(is_zeroed)});
  return pool;
}

}  // namespace ndtk
