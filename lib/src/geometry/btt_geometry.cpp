// BTT arena split and per-arena layout, kernel and PMDK flavours; info block synthesis.
#include "ndtk/geometry/btt_geometry.h"

#include <fmt/format.h>

#include <algorithm>

#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"

namespace ndtk {

namespace {

constexpr std::uint64_t kPage = 4096;

/// Map entries hold a 30-bit block number.
constexpr std::uint64_t kMaxInternalNlba = std::uint64_t{1} << 30;

Unexpected invalid(std::string what) { return fail(Errc::kInvalidArgument, std::move(what)); }

std::uint64_t log_bytes(std::uint32_t nfree) {
  return align_up(std::uint64_t{nfree} * kBttLogGroupSize, kPage);
}

/// Kernel alloc_arena: work from the 4 KiB-aligned size forwards.
Result<ArenaLayout> kernel_arena(std::uint64_t arena_size, std::uint32_t ilbasize,
                                 const BttGeometryParams& p) {
  ArenaLayout a;
  const std::uint64_t aligned = align_down(arena_size, kPage);
  const std::uint64_t logsize = log_bytes(p.nfree);
  // Two info blocks, the log and the 4 KiB kept for rounding the map up.
  const std::uint64_t fixed = 2 * kPage + logsize + kPage;
  if (aligned <= fixed)
    return invalid(fmt::format("a {}-byte arena cannot hold the info blocks and a {}-lane log",
                               arena_size, p.nfree));
  const std::uint64_t available = aligned - 2 * kPage - logsize;
  const std::uint64_t internal_nlba = (available - kPage) / (std::uint64_t{ilbasize} + 4);
  if (internal_nlba <= p.nfree)
    return invalid(fmt::format("a {}-byte arena holds {} blocks, not more than nfree {}",
                               arena_size, internal_nlba, p.nfree));
  if (internal_nlba > kMaxInternalNlba)
    return fail(Errc::kUnsupported,
                fmt::format("{} internal blocks exceed the 30-bit map entry", internal_nlba));
  a.internal_nlba = static_cast<std::uint32_t>(internal_nlba);
  a.external_nlba = a.internal_nlba - p.nfree;
  a.mapsize = align_up(std::uint64_t{a.external_nlba} * kBttMapEntrySize, kPage);
  a.logsize = logsize;
  a.datasize = available - a.mapsize;
  a.dataoff = kPage;
  a.mapoff = a.dataoff + a.datasize;
  a.logoff = a.mapoff + a.mapsize;
  a.info2off = a.logoff + a.logsize;
  return a;
}

/// PMDK btt_info_set_params/btt_info_set_offs: counts from the unaligned size, regions placed
/// backwards from its end.
Result<ArenaLayout> pmdk_arena(std::uint64_t arena_size, std::uint32_t ilbasize,
                               const BttGeometryParams& p) {
  ArenaLayout a;
  const std::uint64_t flogsize = log_bytes(p.nfree);
  const std::uint64_t fixed = 2 * kBttInfoSize + flogsize + kPage;
  if (arena_size <= fixed)
    return invalid(fmt::format("a {}-byte arena cannot hold the info blocks and a {}-lane flog",
                               arena_size, p.nfree));
  const std::uint64_t data_size = arena_size - 2 * kBttInfoSize - flogsize;
  const std::uint64_t internal_nlba = (data_size - kPage) / (std::uint64_t{ilbasize} + 4);
  if (internal_nlba < 2 * std::uint64_t{p.nfree})
    return invalid(
        fmt::format("a {}-byte arena holds {} blocks, PMDK needs at least 2 x nfree "
                    "= {}",
                    arena_size, internal_nlba, 2 * std::uint64_t{p.nfree}));
  if (internal_nlba > kMaxInternalNlba)
    return fail(Errc::kUnsupported,
                fmt::format("{} internal blocks exceed the 30-bit map entry", internal_nlba));
  a.internal_nlba = static_cast<std::uint32_t>(internal_nlba);
  a.external_nlba = a.internal_nlba - p.nfree;
  a.mapsize = align_up(std::uint64_t{a.external_nlba} * kBttMapEntrySize, kPage);
  a.logsize = flogsize;
  a.dataoff = kBttInfoSize;
  a.info2off = arena_size - kBttInfoSize;
  a.logoff = a.info2off - a.logsize;
  a.mapoff = a.logoff - a.mapsize;
  a.datasize = a.mapoff - a.dataoff;
  return a;
}

Result<ArenaLayout> one_arena(std::uint64_t arena_size, const BttGeometryParams& p) {
  if (p.nfree == 0) return invalid("nfree is 0: a BTT needs at least one free block per lane");
  NDTK_TRY(ilbasize, btt_internal_lbasize(p.external_lbasize, p.flavor));
  auto a = p.flavor == BttFlavor::Kernel ? kernel_arena(arena_size, ilbasize, p)
                                         : pmdk_arena(arena_size, ilbasize, p);
  if (!a) return a;
  a->size = arena_size;
  a->version = p.version;
  a->flavor = p.flavor;
  a->external_lbasize = p.external_lbasize;
  a->internal_lbasize = ilbasize;
  a->nfree = p.nfree;
  return a;
}

void add_diff(std::vector<BttFieldDiff>& out, const char* field, std::size_t off,
              std::uint64_t on_media, std::uint64_t expected) {
  if (on_media != expected) out.push_back(BttFieldDiff{field, off, on_media, expected});
}

}  // namespace

Result<std::uint32_t> btt_internal_lbasize(std::uint32_t external_lbasize, BttFlavor flavor) {
  if (external_lbasize == 0) return invalid("external lbasize 0");
  if (flavor == BttFlavor::Kernel) {
    if (!btt_kernel_lbasize_supported(external_lbasize))
      return fail(Errc::kUnsupported,
                  fmt::format("lbasize {} is not one the kernel BTT supports (512, 520, 528, "
                              "4096, 4104, 4160, 4224)",
                              external_lbasize));
    return static_cast<std::uint32_t>(align_up(external_lbasize, kBttKernelInternalAlign));
  }
  const std::uint64_t aligned = align_up(
      std::max<std::uint64_t>(external_lbasize, kBttPmdkMinLbaSize), kBttPmdkInternalAlign);
  if (aligned > UINT32_MAX)
    return invalid(fmt::format("lbasize {} overflows after alignment to {}", external_lbasize,
                               kBttPmdkInternalAlign));
  return static_cast<std::uint32_t>(aligned);
}

std::uint64_t btt_layout_initial_offset(const BttGeometryParams& p) {
  return p.flavor == BttFlavor::Kernel ? btt_initial_offset(p.version) : 0;
}

Result<ArenaLayout> compute_arena_layout(std::uint64_t arena_size, const BttGeometryParams& p) {
  return one_arena(arena_size, p);
}

Result<std::vector<ArenaLayout>> compute_btt_layout(const BttGeometryParams& p) {
  if (p.namespace_size > kBttMaxNamespaceSize)
    return fail(Errc::kUnsupported, fmt::format("namespace size {} exceeds {} bytes (2^52)",
                                                p.namespace_size, kBttMaxNamespaceSize));
  const std::uint64_t initial = btt_layout_initial_offset(p);
  if (p.namespace_size < initial || p.namespace_size - initial < kBttArenaMinSize)
    return invalid(
        fmt::format("namespace of {} bytes leaves {} bytes after the initial offset "
                    "{}; a BTT needs at least 16 MiB ({})",
                    p.namespace_size, p.namespace_size < initial ? 0 : p.namespace_size - initial,
                    initial, kBttArenaMinSize));
  // Validate the lbasize once up front so the error does not name an arena.
  NDTK_TRY(ilbasize, btt_internal_lbasize(p.external_lbasize, p.flavor));
  (void)ilbasize;

  std::vector<ArenaLayout> arenas;
  std::uint64_t remaining = p.namespace_size - initial;
  std::uint64_t cur = 0;
  std::uint64_t first_lba = 0;
  // Both writers: 512 GiB pieces while they last, a final piece only if it is >= 16 MiB.
  while (remaining >= kBttArenaMinSize) {
    const std::uint64_t arena_size = std::min(kBttArenaMaxSize, remaining);
    remaining -= arena_size;
    auto a = one_arena(arena_size, p);
    if (!a) {
      a.error().prefix(fmt::format("arena {}", arenas.size()));
      return fail(std::move(a).error());
    }
    a->index = static_cast<std::uint32_t>(arenas.size());
    a->offset = initial + cur;
    a->nextoff = remaining >= kBttArenaMinSize ? arena_size : 0;
    a->first_external_lba = first_lba;
    first_lba += a->external_nlba;
    cur += arena_size;
    arenas.push_back(*a);
  }
  return arenas;
}

Result<std::vector<ArenaLayout>> kernel_btt_layout(std::uint64_t namespace_size,
                                                   std::uint32_t external_lbasize,
                                                   BttVersion version, std::uint32_t nfree) {
  return compute_btt_layout(
      BttGeometryParams{namespace_size, external_lbasize, version, BttFlavor::Kernel, nfree});
}

Result<std::vector<ArenaLayout>> pmdk_btt_layout(std::uint64_t rawsize,
                                                 std::uint32_t external_lbasize,
                                                 std::uint32_t nfree) {
  return compute_btt_layout(
      BttGeometryParams{rawsize, external_lbasize, BttVersion::V1_1, BttFlavor::Pmdk, nfree});
}

std::uint64_t btt_total_external_lbas(std::span<const ArenaLayout> arenas) {
  std::uint64_t n = 0;
  for (const auto& a : arenas) n += a.external_nlba;
  return n;
}

BttInfo make_arena_info(const ArenaLayout& arena, const Uuid& uuid, const Uuid& parent_uuid,
                        BttVersion version) {
  BttInfo info;
  info.signature = kBttInfoSignature;
  info.uuid = uuid;
  info.parent_uuid = parent_uuid;
  info.flags = 0;
  info.set_version(version);
  info.external_lbasize = arena.external_lbasize;
  info.external_nlba = arena.external_nlba;
  info.internal_lbasize = arena.internal_lbasize;
  info.internal_nlba = arena.internal_nlba;
  info.nfree = arena.nfree;
  info.infosize = static_cast<std::uint32_t>(kBttInfoSize);
  info.nextoff = arena.nextoff;
  info.dataoff = arena.dataoff;
  info.mapoff = arena.mapoff;
  info.logoff = arena.logoff;
  info.info2off = arena.info2off;
  return info.with_checksum();
}

std::vector<BttFieldDiff> compare_info_to_layout(const BttInfo& info, const ArenaLayout& a) {
  std::vector<BttFieldDiff> out;
#define NDTK_CMP(field, expected) \
  add_diff(out, #field, offsetof(BttInfoRaw, field), info.field, expected)
  NDTK_CMP(version_major, btt_version_major(a.version));
  NDTK_CMP(version_minor, btt_version_minor(a.version));
  NDTK_CMP(external_lbasize, a.external_lbasize);
  NDTK_CMP(external_nlba, a.external_nlba);
  NDTK_CMP(internal_lbasize, a.internal_lbasize);
  NDTK_CMP(internal_nlba, a.internal_nlba);
  NDTK_CMP(nfree, a.nfree);
  NDTK_CMP(infosize, kBttInfoSize);
  NDTK_CMP(nextoff, a.nextoff);
  NDTK_CMP(dataoff, a.dataoff);
  NDTK_CMP(mapoff, a.mapoff);
  NDTK_CMP(logoff, a.logoff);
  NDTK_CMP(info2off, a.info2off);
#undef NDTK_CMP
  return out;
}

Findings geometry_mismatch_findings(const BttInfo& info, const ArenaLayout& arena,
                                    const std::string& where,
                                    std::optional<std::uint64_t> info_offset) {
  Findings out;
  for (const auto& d : compare_info_to_layout(info, arena)) {
    std::optional<std::uint64_t> off;
    if (info_offset) off = checked_add(*info_offset, d.offset);
    out.push_back(
        Finding{Problem::BTT_INFO_GEOMETRY_MISMATCH, where,
                fmt::format("{}: on media {} ({}), {} layout for a {}-byte arena "
                            "gives {} ({})",
                            d.field, d.on_media, hex(d.on_media), btt_flavor_name(arena.flavor),
                            arena.size, d.expected, hex(d.expected)),
                off});
  }
  return out;
}

}  // namespace ndtk
