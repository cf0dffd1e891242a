// BTT info block: decode/serialize through the BttInfoRaw offsets, identity checks, validate().
#include "ndtk/format/btt_info.h"

#include <fmt/format.h>

#include <algorithm>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

// Arena size bounds (kernel ARENA_MIN_SIZE/ARENA_MAX_SIZE); geometry/ has the same values but
// sits below this layer.
constexpr std::uint64_t kArenaMin = std::uint64_t{1} << 24;
constexpr std::uint64_t kArenaMax = std::uint64_t{1} << 39;
constexpr std::uint64_t kLogGroupSize = 64;  // one lane's log group

#define NDTK_BTT_FIELD(name) \
  FieldDesc { #name, offsetof(BttInfoRaw, name), sizeof(BttInfoRaw::name) }
constexpr FieldDesc kFields[] = {
    NDTK_BTT_FIELD(signature),
    NDTK_BTT_FIELD(uuid),
    NDTK_BTT_FIELD(parent_uuid),
    NDTK_BTT_FIELD(flags),
    NDTK_BTT_FIELD(version_major),
    NDTK_BTT_FIELD(version_minor),
    NDTK_BTT_FIELD(external_lbasize),
    NDTK_BTT_FIELD(external_nlba),
    NDTK_BTT_FIELD(internal_lbasize),
    NDTK_BTT_FIELD(internal_nlba),
    NDTK_BTT_FIELD(nfree),
    NDTK_BTT_FIELD(infosize),
    NDTK_BTT_FIELD(nextoff),
    NDTK_BTT_FIELD(dataoff),
    NDTK_BTT_FIELD(mapoff),
    NDTK_BTT_FIELD(logoff),
    NDTK_BTT_FIELD(info2off),
    NDTK_BTT_FIELD(padding),
    NDTK_BTT_FIELD(checksum),
};
#undef NDTK_BTT_FIELD

/// kTruncated naming the structure and both sizes (no offset: the span itself is too short).
Error truncated(std::string structure, std::string need, std::size_t have) {
  Error e = make_error(Errc::kTruncated, "too few bytes");
  e.structure = std::move(structure);
  e.expected = std::move(need);
  e.found = fmt::format("{} bytes", have);
  return e;
}

/// Printable rendering of a 16-byte signature field: printable ASCII as is, others as \xNN.
std::string render_signature(const std::array<std::uint8_t, 16>& s) {
  std::string out = "\"";
  for (std::uint8_t c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out + "\"";
}

/// Collects findings with the block's location filled in.
class Reporter {
 public:
  Reporter(const BttInfoContext& ctx, Findings& out)
      : where_(ctx.where.empty() ? fmt::format("arena {} info", ctx.arena_index) : ctx.where),
        base_(ctx.offset),
        out_(out) {}

  void add(Problem p, std::size_t field_off, std::string detail) {
    // An absurd caller offset near UINT64_MAX yields no location rather than a wrapped one.
    std::optional<std::uint64_t> off;
    if (base_) off = checked_add(*base_, field_off);
    out_.push_back(Finding{p, where_, std::move(detail), off});
  }

 private:
  std::string where_;
  std::optional<std::uint64_t> base_;
  Findings& out_;
};

void check_lbasizes(const BttInfo& info, const BttInfoContext& ctx, Reporter& r) {
  const auto ext = info.external_lbasize;
  const auto in = info.internal_lbasize;
  const std::size_t ext_off = offsetof(BttInfoRaw, external_lbasize);
  const std::size_t in_off = offsetof(BttInfoRaw, internal_lbasize);
  if (ext == 0) {
    r.add(Problem::BTT_INFO_LBASIZE, ext_off, "external_lbasize is 0");
  } else if (ctx.flavor == BttFlavor::Kernel && !btt_kernel_lbasize_supported(ext)) {
    r.add(Problem::BTT_INFO_LBASIZE, ext_off,
          fmt::format("external_lbasize {} is not one the kernel supports "
                      "(512, 520, 528, 4096, 4104, 4160, 4224)",
                      ext));
  }
  const std::uint32_t align = ctx.flavor == BttFlavor::Kernel ? 64 : 256;
  if (in < ext) {
    r.add(Problem::BTT_INFO_LBASIZE, in_off,
          fmt::format("internal_lbasize {} is smaller than external_lbasize {}", in, ext));
  } else if (in == 0 || in % align != 0) {
    r.add(Problem::BTT_INFO_LBASIZE, in_off,
          fmt::format("internal_lbasize {} is not a non-zero multiple of {} ({} alignment)", in,
                      align, btt_flavor_name(ctx.flavor)));
  } else if (ctx.flavor == BttFlavor::Pmdk && in < 512) {
    r.add(Problem::BTT_INFO_LBASIZE, in_off,
          fmt::format("internal_lbasize {} is below PMDK's minimum 512", in));
  }
}

void check_counts(const BttInfo& info, Reporter& r) {
  if (info.nfree == 0)
    r.add(Problem::BTT_INFO_NFREE, offsetof(BttInfoRaw, nfree), "nfree is 0 (no free blocks)");
  else if (info.nfree >= info.internal_nlba)
    r.add(Problem::BTT_INFO_NFREE, offsetof(BttInfoRaw, nfree),
          fmt::format("nfree {} is not below internal_nlba {}", info.nfree, info.internal_nlba));
  // Compared in 64 bits: an external_nlba above internal_nlba must not wrap into a match.
  if (std::uint64_t{info.internal_nlba} != std::uint64_t{info.external_nlba} + info.nfree)
    r.add(Problem::BTT_INFO_NLBA_MISMATCH, offsetof(BttInfoRaw, external_nlba),
          fmt::format("internal_nlba {} - external_nlba {} != nfree {}", info.internal_nlba,
                      info.external_nlba, info.nfree));
  if (info.external_nlba == 0)
    r.add(Problem::BTT_INFO_NLBA_MISMATCH, offsetof(BttInfoRaw, external_nlba),
          "external_nlba is 0 (PMDK refuses such an arena)");
  // Map entries hold 30-bit post-map block numbers.
  if (info.internal_nlba > (std::uint32_t{1} << 30))
    r.add(Problem::BTT_INFO_NLBA_MISMATCH, offsetof(BttInfoRaw, internal_nlba),
          fmt::format("internal_nlba {} exceeds the 30-bit map entry range", info.internal_nlba));
}

/// dataoff < map < log < info2, each region large enough for its contents; kernel layouts
/// are page-aligned throughout (PMDK places regions back from an arbitrary arena end).
void check_region_order(const BttInfo& info, const BttInfoContext& ctx, Reporter& r) {
  if (ctx.flavor == BttFlavor::Kernel) {
    const struct {
      const char* name;
      std::size_t off;
      std::uint64_t value;
    } regions[] = {{"mapoff", offsetof(BttInfoRaw, mapoff), info.mapoff},
                   {"logoff", offsetof(BttInfoRaw, logoff), info.logoff},
                   {"info2off", offsetof(BttInfoRaw, info2off), info.info2off}};
    for (const auto& reg : regions)
      if (reg.value % kBttInfoSize != 0)
        r.add(Problem::BTT_INFO_OFFSETS, reg.off,
              fmt::format("{} {} is not 4 KiB aligned (the kernel aligns every region)", reg.name,
                          hex(reg.value)));
  }
  const std::size_t data_off = offsetof(BttInfoRaw, dataoff);
  if (info.dataoff != kBttInfoSize)
    r.add(Problem::BTT_INFO_OFFSETS, data_off,
          fmt::format("dataoff {} is not 4096 (the data area follows the info block)",
                      hex(info.dataoff)));
  auto data_bytes = checked_mul(info.internal_nlba, info.internal_lbasize);
  auto data_end = data_bytes ? checked_add(info.dataoff, *data_bytes) : std::nullopt;
  if (!data_end || *data_end > info.mapoff)
    r.add(
        Problem::BTT_INFO_OFFSETS, offsetof(BttInfoRaw, mapoff),
        fmt::format("data area dataoff {} + {} blocks x {} ends past mapoff {}", hex(info.dataoff),
                    info.internal_nlba, info.internal_lbasize, hex(info.mapoff)));
  auto map_end = checked_add(info.mapoff, std::uint64_t{4} * info.external_nlba);
  if (!map_end || *map_end > info.logoff)
    r.add(Problem::BTT_INFO_OFFSETS, offsetof(BttInfoRaw, logoff),
          fmt::format("map mapoff {} + 4 x {} entries ends past logoff {}", hex(info.mapoff),
                      info.external_nlba, hex(info.logoff)));
  auto log_end = checked_add(info.logoff, kLogGroupSize * info.nfree);
  if (!log_end || *log_end > info.info2off)
    r.add(Problem::BTT_INFO_OFFSETS, offsetof(BttInfoRaw, info2off),
          fmt::format("log logoff {} + 64 x {} lanes ends past info2off {}", hex(info.logoff),
                      info.nfree, hex(info.info2off)));
}

/// info2off/nextoff against the space the arena may occupy.
void check_extent(const BttInfo& info, const BttInfoContext& ctx, Reporter& r) {
  const std::size_t info2_off = offsetof(BttInfoRaw, info2off);
  const std::size_t next_off = offsetof(BttInfoRaw, nextoff);
  auto info2_end = checked_add(info.info2off, kBttInfoSize);
  if (!info2_end) {
    r.add(Problem::BTT_INFO_OFFSETS, info2_off,
          fmt::format("info2off {} overflows", hex(info.info2off)));
    return;
  }
  if (info.nextoff != 0) {
    if (*info2_end != info.nextoff)
      r.add(Problem::BTT_INFO_INFO2OFF, info2_off,
            fmt::format("info2off {} + 4096 != nextoff {}", hex(info.info2off), hex(info.nextoff)));
    if (info.nextoff != kArenaMax)
      r.add(Problem::BTT_INFO_NEXTOFF, next_off,
            fmt::format("nextoff {} is not 512 GiB (every arena but the last is exactly 512 GiB)",
                        hex(info.nextoff)));
  }
  if (!ctx.remaining) return;
  const std::uint64_t remaining = *ctx.remaining;
  if (*info2_end > remaining) {
    r.add(Problem::BTT_INFO_OFFSETS, info2_off,
          fmt::format("info2 block ends at arena offset {}, past the {} bytes left in the "
                      "namespace",
                      hex(*info2_end), hex(remaining)));
  }
  if (info.nextoff != 0) {
    if (info.nextoff > remaining || remaining - info.nextoff < kArenaMin)
      r.add(Problem::BTT_INFO_NEXTOFF, next_off,
            fmt::format("nextoff {} leaves no room for a next arena of at least 16 MiB in the "
                        "{} bytes left",
                        hex(info.nextoff), hex(remaining)));
    return;
  }
  // Last arena: it spans min(512 GiB, remaining); the kernel rounds that down to 4 KiB, PMDK
  // uses it as is.
  std::uint64_t span = std::min(remaining, kArenaMax);
  if (ctx.flavor == BttFlavor::Kernel) span = align_down(span, kBttInfoSize);
  if (*info2_end != span)
    r.add(Problem::BTT_INFO_INFO2OFF, info2_off,
          fmt::format("info2off {} + 4096 != arena end {} (last arena, {} bytes left)",
                      hex(info.info2off), hex(span), hex(remaining)));
}

void check_parent(const BttInfo& info, const BttInfoContext& ctx, Reporter& r) {
  if (!ctx.namespace_uuid) return;
  const bool zero_matches = ctx.flavor == BttFlavor::Kernel;
  if (zero_matches && info.parent_uuid.is_zero()) return;
  if (info.parent_uuid != *ctx.namespace_uuid)
    r.add(Problem::BTT_INFO_PARENT_UUID, offsetof(BttInfoRaw, parent_uuid),
          fmt::format("parent_uuid {} != {} {}", info.parent_uuid.to_string(),
                      ctx.flavor == BttFlavor::Kernel ? "namespace uuid" : "pool poolset_uuid",
                      ctx.namespace_uuid->to_string()));
}

}  // namespace

const char* btt_version_name(BttVersion v) { return v == BttVersion::V1_1 ? "1.1" : "2.0"; }

const char* btt_flavor_name(BttFlavor f) { return f == BttFlavor::Kernel ? "kernel" : "PMDK"; }

std::optional<BttVersion> btt_version_from(std::uint16_t major, std::uint16_t minor) {
  if (major == 1 && minor == 1) return BttVersion::V1_1;
  if (major == 2 && minor == 0) return BttVersion::V2_0;
  return std::nullopt;
}

bool btt_kernel_lbasize_supported(std::uint32_t lbasize) {
  return std::find(kBttKernelLbaSizes.begin(), kBttKernelLbaSizes.end(), lbasize) !=
         kBttKernelLbaSizes.end();
}

Result<BttInfo> BttInfo::decode(Bytes b) {
  if (b.size() < kBttInfoSize)
    return fail(truncated("btt info", fmt::format("{} bytes", kBttInfoSize), b.size()));
  const Bytes s = b.first(kBttInfoSize);
  BttInfo v;
  std::copy_n(s.begin() + offsetof(BttInfoRaw, signature), 16, v.signature.begin());
  v.uuid = Uuid::from_bytes(s.subspan(offsetof(BttInfoRaw, uuid), 16));
  v.parent_uuid = Uuid::from_bytes(s.subspan(offsetof(BttInfoRaw, parent_uuid), 16));
  v.flags = le32(s, offsetof(BttInfoRaw, flags));
  v.version_major = le16(s, offsetof(BttInfoRaw, version_major));
  v.version_minor = le16(s, offsetof(BttInfoRaw, version_minor));
  v.external_lbasize = le32(s, offsetof(BttInfoRaw, external_lbasize));
  v.external_nlba = le32(s, offsetof(BttInfoRaw, external_nlba));
  v.internal_lbasize = le32(s, offsetof(BttInfoRaw, internal_lbasize));
  v.internal_nlba = le32(s, offsetof(BttInfoRaw, internal_nlba));
  v.nfree = le32(s, offsetof(BttInfoRaw, nfree));
  v.infosize = le32(s, offsetof(BttInfoRaw, infosize));
  v.nextoff = le64(s, offsetof(BttInfoRaw, nextoff));
  v.dataoff = le64(s, offsetof(BttInfoRaw, dataoff));
  v.mapoff = le64(s, offsetof(BttInfoRaw, mapoff));
  v.logoff = le64(s, offsetof(BttInfoRaw, logoff));
  v.info2off = le64(s, offsetof(BttInfoRaw, info2off));
  std::copy_n(s.begin() + offsetof(BttInfoRaw, padding), kBttInfoPaddingSize, v.padding.begin());
  v.checksum = le64(s, offsetof(BttInfoRaw, checksum));
  return v;
}

Result<BttInfo> BttInfo::parse(Bytes b) {
  NDTK_TRY(v, decode(b));
  if (!v.signature_ok())
    return fail(field_error(Errc::kBadSignature, "btt info", "signature",
                            offsetof(BttInfoRaw, signature), render_signature(kBttInfoSignature),
                            render_signature(v.signature)));
  const std::uint64_t computed = v.computed_checksum();
  if (computed != v.checksum)
    return fail(field_error(Errc::kBadChecksum, "btt info", "checksum",
                            offsetof(BttInfoRaw, checksum), hex(computed), hex(v.checksum)));
  return v;
}

ByteVec BttInfo::serialize() const {
  ByteVec out(kBttInfoSize, 0);
  MutBytes m(out);
  std::copy(signature.begin(), signature.end(), out.begin() + offsetof(BttInfoRaw, signature));
  std::copy(uuid.bytes.begin(), uuid.bytes.end(), out.begin() + offsetof(BttInfoRaw, uuid));
  std::copy(parent_uuid.bytes.begin(), parent_uuid.bytes.end(),
            out.begin() + offsetof(BttInfoRaw, parent_uuid));
  put_le32(m, offsetof(BttInfoRaw, flags), flags);
  put_le16(m, offsetof(BttInfoRaw, version_major), version_major);
  put_le16(m, offsetof(BttInfoRaw, version_minor), version_minor);
  put_le32(m, offsetof(BttInfoRaw, external_lbasize), external_lbasize);
  put_le32(m, offsetof(BttInfoRaw, external_nlba), external_nlba);
  put_le32(m, offsetof(BttInfoRaw, internal_lbasize), internal_lbasize);
  put_le32(m, offsetof(BttInfoRaw, internal_nlba), internal_nlba);
  put_le32(m, offsetof(BttInfoRaw, nfree), nfree);
  put_le32(m, offsetof(BttInfoRaw, infosize), infosize);
  put_le64(m, offsetof(BttInfoRaw, nextoff), nextoff);
  put_le64(m, offsetof(BttInfoRaw, dataoff), dataoff);
  put_le64(m, offsetof(BttInfoRaw, mapoff), mapoff);
  put_le64(m, offsetof(BttInfoRaw, logoff), logoff);
  put_le64(m, offsetof(BttInfoRaw, info2off), info2off);
  std::copy(padding.begin(), padding.end(), out.begin() + offsetof(BttInfoRaw, padding));
  put_le64(m, offsetof(BttInfoRaw, checksum), checksum);
  return out;
}

std::uint64_t BttInfo::computed_checksum() const {
  return fletcher64_skip(serialize(), offsetof(BttInfoRaw, checksum));
}

BttInfo BttInfo::with_checksum() const {
  BttInfo v = *this;
  v.checksum = computed_checksum();
  return v;
}

void BttInfo::set_version(BttVersion v) {
  version_major = btt_version_major(v);
  version_minor = btt_version_minor(v);
}

bool BttInfo::padding_zero() const { return all_zero(padding); }

std::optional<std::uint64_t> BttInfo::arena_size() const {
  if (nextoff != 0) return nextoff;
  return checked_add(info2off, kBttInfoSize);
}

Findings BttInfo::validate(const BttInfoContext& ctx) const {
  Findings out;
  Reporter r(ctx, out);
  if (!signature_ok()) {
    // Without the signature nothing else in the block can be trusted to be a BTT field.
    r.add(Problem::BTT_INFO_BAD_SIGNATURE, offsetof(BttInfoRaw, signature),
          fmt::format("found {}{}", render_signature(signature),
                      all_zero(serialize()) ? " (the whole block is zero)" : ""));
    return out;
  }
  const std::uint64_t computed = computed_checksum();
  if (computed != checksum)
    r.add(Problem::BTT_INFO_BAD_CHECKSUM, offsetof(BttInfoRaw, checksum),
          fmt::format("stored {}, computed {}", hex(checksum), hex(computed)));

  const auto v = version();
  if (!v) {
    r.add(Problem::BTT_INFO_VERSION_UNKNOWN, offsetof(BttInfoRaw, version_major),
          fmt::format("version {}.{}", version_major, version_minor));
  } else if (ctx.expected_version && *v != *ctx.expected_version) {
    r.add(Problem::BTT_INFO_VERSION_OFFSET, offsetof(BttInfoRaw, version_major),
          fmt::format("version {} where {} is expected (arena 0 at namespace offset {})",
                      btt_version_name(*v), btt_version_name(*ctx.expected_version),
                      btt_initial_offset(*ctx.expected_version)));
  }
  if (infosize != kBttInfoSize)
    r.add(Problem::BTT_INFO_INFOSIZE, offsetof(BttInfoRaw, infosize),
          fmt::format("infosize {}", infosize));

  check_counts(*this, r);
  check_lbasizes(*this, ctx, r);
  check_region_order(*this, ctx, r);
  check_extent(*this, ctx, r);

  if (!padding_zero()) {
    const auto first = std::find_if(padding.begin(), padding.end(), [](auto c) { return c != 0; });
    const auto count = std::count_if(padding.begin(), padding.end(), [](auto c) { return c != 0; });
    const std::size_t at = static_cast<std::size_t>(first - padding.begin());
    r.add(Problem::BTT_INFO_PADDING_NONZERO, offsetof(BttInfoRaw, padding) + at,
          fmt::format("{} non-zero byte(s), first at block offset {}", count,
                      hex(offsetof(BttInfoRaw, padding) + at)));
  }
  if (error_flag())
    r.add(Problem::BTT_INFO_ERROR_FLAG, offsetof(BttInfoRaw, flags),
          fmt::format("flags {}", hex(flags)));
  if ((flags & ~kBttInfoFlagError) != 0)
    r.add(Problem::BTT_INFO_FLAGS_UNKNOWN, offsetof(BttInfoRaw, flags),
          fmt::format("flags {} (only bit 0 is defined)", hex(flags)));
  check_parent(*this, ctx, r);
  return out;
}

FieldTable BttInfo::fields() { return kFields; }

}  // namespace ndtk
