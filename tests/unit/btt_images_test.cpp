// BTT structures in the golden images: kernel-written arenas (a, i: BTT 1.1 at 4096; f btt-one:
// BTT 2.0 at 0) and PMDK pmemblk pools (arena at 8192). Every info block, log group and map
// entry round-trips bit-exactly, fields equal the manifests (ndctl read-infoblock / PMDK
// layout), the writers' layout formulas reproduce the on-media blocks byte for byte, the data
// blocks the map points at hold what the manifests say was written, and the corrupted pools
// behave as their READMEs describe.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"
#include "ndtk/geometry/btt_geometry.h"
#include "ndtk/io/block_device.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using json = nlohmann::json;
constexpr std::uint64_t kMiB = 1ull << 20;

json load_json(const std::string& rel) {
  std::ifstream f(test::image_path(rel));
  if (!f) throw std::runtime_error("cannot open manifest " + rel);
  return json::parse(f);
}

ByteVec must_read(const BlockDevice& dev, std::uint64_t off, std::size_t len) {
  auto v = dev.read_vec(off, len);
  if (!v) throw std::runtime_error(v.error().message());
  return std::move(*v);
}

DevicePtr must_open(const std::string& rel) {
  auto d = open_image(test::image_path(rel));
  if (!d) throw std::runtime_error(d.error().message());
  return *d;
}

std::string dump(const Findings& f) {
  std::string s;
  for (const auto& x : f) s += x.to_string() + "\n";
  return s;
}

std::set<Problem> codes(const Findings& f) {
  std::set<Problem> s;
  for (const auto& x : f) s.insert(x.code);
  return s;
}

/// Everything decoded from one arena, checked for bit-exact round trips on the way.
struct Arena {
  std::uint64_t file_offset = 0;
  ByteVec info_raw, info2_raw, log_raw, map_raw;
  BttInfo info, info2;
  std::vector<BttLogGroup> groups;
  std::vector<BttMapEntry> map;
};

/// Reads arena structures at `file_offset`; region offsets come from `geometry_from` (the
/// primary unless it is the corrupted one).
Arena read_arena(const BlockDevice& dev, std::uint64_t file_offset,
                 const BttInfo* geometry_from = nullptr) {
  Arena a;
  a.file_offset = file_offset;
  a.info_raw = must_read(dev, file_offset, kBttInfoSize);
  auto info = BttInfo::decode(a.info_raw);
  EXPECT_TRUE(info);
  a.info = *info;
  EXPECT_EQ(a.info.serialize(), a.info_raw);
  const BttInfo& g = geometry_from ? *geometry_from : a.info;

  a.info2_raw = must_read(dev, file_offset + g.info2off, kBttInfoSize);
  auto info2 = BttInfo::decode(a.info2_raw);
  EXPECT_TRUE(info2);
  a.info2 = *info2;
  EXPECT_EQ(a.info2.serialize(), a.info2_raw);

  a.log_raw = must_read(dev, file_offset + g.logoff, std::size_t{g.nfree} * kBttLogGroupSize);
  auto groups = decode_log_groups(a.log_raw, g.nfree);
  EXPECT_TRUE(groups);
  a.groups = *groups;
  ByteVec relog;
  for (const auto& grp : a.groups) {
    const ByteVec b = grp.serialize();
    relog.insert(relog.end(), b.begin(), b.end());
  }
  EXPECT_EQ(relog, a.log_raw);

  a.map_raw = must_read(dev, file_offset + g.mapoff, std::size_t{g.external_nlba} * 4);
  ByteVec remap(a.map_raw.size(), 0xAA);
  for (std::uint32_t i = 0; i < g.external_nlba; ++i) {
    auto e = decode_map_entry(a.map_raw, i);
    EXPECT_TRUE(e);
    a.map.push_back(*e);
    EXPECT_TRUE(encode_map_entry(remap, i, *e));
  }
  EXPECT_EQ(remap, a.map_raw);
  return a;
}

std::map<BttMapState, std::uint64_t> state_counts(const Arena& a) {
  std::map<BttMapState, std::uint64_t> c;
  for (const auto& e : a.map) ++c[e.state()];
  return c;
}

/// Every internal block referenced exactly once by map (identity for initial) U free list
/// (old_map of each lane's current entry): the free-block bookkeeping invariant. Returns
/// {duplicated blocks, unreferenced blocks}.
std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>> block_references(
    const Arena& a, BttLogIndices idx) {
  std::vector<std::uint32_t> refs(a.info.internal_nlba, 0);
  for (std::uint32_t i = 0; i < a.map.size(); ++i) {
    const std::uint32_t b = a.map[i].effective_postmap(i);
    if (b < refs.size()) ++refs[b];
  }
  for (const auto& g : a.groups) {
    const BttLane lane = lane_of(g, idx);
    const auto cur = select_current(lane).kernel_current;
    if (!cur) continue;
    const std::uint32_t b = lane.sub[*cur].old_block();
    if (b < refs.size()) ++refs[b];
  }
  std::vector<std::uint32_t> dup, missing;
  for (std::uint32_t b = 0; b < refs.size(); ++b) {
    if (refs[b] > 1) dup.push_back(b);
    if (refs[b] == 0) missing.push_back(b);
  }
  return {dup, missing};
}

/// What recovery would do per lane: the current entry's map update is missing when the map
/// still holds old_map (and not new_map). Returns the lanes needing it.
std::vector<std::uint32_t> lanes_needing_map_completion(const Arena& a, BttLogIndices idx) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t lane = 0; lane < a.groups.size(); ++lane) {
    const BttLane l = lane_of(a.groups[lane], idx);
    const auto cur = select_current(l).current();
    if (!cur) continue;
    const BttLogEntry& e = l.sub[*cur];
    if (e.old_block() == e.new_block() || e.lba >= a.map.size()) continue;
    const std::uint32_t mapped = a.map[e.lba].effective_postmap(e.lba);
    if (mapped != e.new_block() && mapped == e.old_block()) out.push_back(lane);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Kernel images

struct KernelCase {
  const char* image;
  const char* manifest;
  std::uint64_t namespace_file_offset;
  std::uint64_t namespace_size;
  BttVersion version;
};

const json& btt_read_infoblock(const json& m) {
  for (const auto& [dev, blocks] : m["ndctl"]["read_infoblock"].items())
    for (const auto& b : blocks)
      if (b["signature"] == "BTT_ARENA_INFO") return b;
  throw std::runtime_error("no BTT read_infoblock entry");
}

const json& btt_infoblock(const json& m) {
  for (const auto& b : m["infoblocks"])
    if (b["kind"] == "btt") return b;
  throw std::runtime_error("no btt infoblock in manifest");
}

void check_kernel_image(const KernelCase& c) {
  SCOPED_TRACE(c.image);
  const json m = load_json(c.manifest);
  const json& rib = btt_read_infoblock(m);
  const json& ib = btt_infoblock(m);
  const std::uint64_t initial = btt_initial_offset(c.version);
  const std::uint64_t arena_off = c.namespace_file_offset + initial;
  ASSERT_EQ(ib["arena0_file_offset"].get<std::uint64_t>(), arena_off);
  ASSERT_EQ(ib["offset_in_namespace"].get<std::uint64_t>(), initial);

  const DevicePtr dev = must_open(c.image);
  const Arena a = read_arena(*dev, arena_off);
  const BttInfo& info = a.info;

  // Identity and the fields ndctl read-infoblock printed.
  auto parsed = BttInfo::parse(a.info_raw);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(info.uuid.to_string(), rib["uuid"].get<std::string>());
  EXPECT_EQ(info.parent_uuid.to_string(), rib["parent_uuid"].get<std::string>());
  EXPECT_EQ(info.flags, rib["flags"].get<std::uint32_t>());
  EXPECT_EQ(btt_version_name(*info.version()), rib["version"].get<std::string>());
  EXPECT_EQ(info.version(), c.version);
  EXPECT_EQ(info.external_lbasize, rib["external_lbasize"].get<std::uint32_t>());
  EXPECT_EQ(info.external_nlba, rib["external_nlba"].get<std::uint32_t>());
  EXPECT_EQ(info.internal_lbasize, rib["internal_lbasize"].get<std::uint32_t>());
  EXPECT_EQ(info.internal_nlba, rib["internal_nlba"].get<std::uint32_t>());
  EXPECT_EQ(info.nfree, rib["nfree"].get<std::uint32_t>());
  EXPECT_EQ(info.infosize, rib["infosize"].get<std::uint32_t>());
  EXPECT_EQ(info.nextoff, rib["nextoff"].get<std::uint64_t>());
  EXPECT_EQ(info.dataoff, rib["dataoff"].get<std::uint64_t>());
  EXPECT_EQ(info.mapoff, rib["mapoff"].get<std::uint64_t>());
  EXPECT_EQ(info.logoff, rib["logoff"].get<std::uint64_t>());
  EXPECT_EQ(info.info2off, rib["info2off"].get<std::uint64_t>());
  EXPECT_EQ(arena_off + info.info2off, ib["info2_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(arena_off + info.mapoff, ib["map_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(arena_off + info.logoff, ib["log_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(arena_off + info.dataoff, ib["data_file_offset"].get<std::uint64_t>());

  // info2 is a byte copy of the primary.
  EXPECT_EQ(a.info2_raw, a.info_raw);

  // The kernel's formulas for this namespace reproduce the block exactly.
  auto layout = kernel_btt_layout(c.namespace_size, info.external_lbasize, c.version);
  ASSERT_TRUE(layout) << layout.error().message();
  ASSERT_EQ(layout->size(), 1u);
  const ArenaLayout& L = (*layout)[0];
  EXPECT_EQ(L.offset, initial);
  EXPECT_TRUE(compare_info_to_layout(info, L).empty());
  EXPECT_EQ(make_arena_info(L, info.uuid, info.parent_uuid, c.version).serialize(), a.info_raw);
  // ndctl list: the sector namespace's size is the BTT capacity, its uuid the BTT uuid.
  const json* sector_ns = nullptr;
  for (const auto& r : m["ndctl"]["list"]["regions"])
    for (const auto& ns : r["namespaces"])
      if (ns["mode"] == "sector") sector_ns = &ns;
  ASSERT_NE(sector_ns, nullptr);
  const std::uint64_t sector = (*sector_ns)["sector_size"].get<std::uint64_t>();
  EXPECT_EQ(btt_total_external_lbas(*layout) * sector, (*sector_ns)["size"].get<std::uint64_t>());
  EXPECT_EQ(info.uuid.to_string(), (*sector_ns)["uuid"].get<std::string>());

  // Structure-level validation, with the namespace uuid when there is one.
  BttInfoContext ctx;
  ctx.remaining = c.namespace_size - initial;
  ctx.expected_version = c.version;
  ctx.offset = arena_off;
  if (ib["namespace_uuid"].is_string())
    ctx.namespace_uuid = Uuid::parse(ib["namespace_uuid"].get<std::string>());
  else
    ctx.namespace_uuid = Uuid::random();  // label-less: the zero parent must match anything
  EXPECT_TRUE(info.validate(ctx).empty()) << dump(info.validate(ctx));
  ctx.where = "arena 0 info2";
  EXPECT_TRUE(a.info2.validate(ctx).empty());
  // Looked for where the other version lives, the block is flagged.
  ctx.expected_version = c.version == BttVersion::V1_1 ? BttVersion::V2_0 : BttVersion::V1_1;
  EXPECT_EQ(codes(info.validate(ctx)), std::set<Problem>{Problem::BTT_INFO_VERSION_OFFSET});

  // Log: scheme (0,1), every lane valid, writers agree.
  auto idx = detect_log_indices(a.groups);
  ASSERT_TRUE(idx) << idx.error().message();
  EXPECT_EQ(*idx, kBttLogIndicesNew);
  std::uint32_t used_lanes = 0;
  for (std::uint32_t lane = 0; lane < a.groups.size(); ++lane) {
    BttLaneContext lc;
    lc.lane = lane;
    lc.external_nlba = info.external_nlba;
    lc.internal_nlba = info.internal_nlba;
    lc.indices = *idx;
    const Findings f = validate_log_lane(a.groups[lane], lc);
    EXPECT_TRUE(f.empty()) << dump(f);
    if (a.groups[lane] != btt_kernel_initial_log_group(lane, info.external_nlba)) ++used_lanes;
  }
  EXPECT_EQ(used_lanes, 2u);  // two vCPUs -> two lanes (kernel README)
  EXPECT_TRUE(lanes_needing_map_completion(a, *idx).empty());
  const auto [dup, missing] = block_references(a, *idx);
  EXPECT_TRUE(dup.empty());
  EXPECT_TRUE(missing.empty());

  // Map: only initial and normal entries (the kernel writes no Z; no media errors here), and
  // each read-back LBA's block holds the pattern of its last generation.
  const auto counts = state_counts(a);
  EXPECT_EQ(counts.count(BttMapState::Zero), 0u);
  EXPECT_EQ(counts.count(BttMapState::Error), 0u);
  std::set<std::uint32_t> normal_lbas;
  for (std::uint32_t i = 0; i < a.map.size(); ++i)
    if (a.map[i].state() == BttMapState::Normal) normal_lbas.insert(i);
  const std::string scen = m["data_pattern"]["scen"].get<std::string>();
  std::set<std::uint32_t> readback_lbas;
  ASSERT_GE(m["readback"].size(), normal_lbas.size());
  ASSERT_FALSE(normal_lbas.empty());
  for (const auto& r : m["readback"]) {
    const std::uint32_t lba = r["lba"].get<std::uint32_t>();
    const std::uint32_t gen = r["last_gen"].get<std::uint32_t>();
    readback_lbas.insert(lba);
    ASSERT_LT(lba, a.map.size());
    const std::uint32_t block = a.map[lba].effective_postmap(lba);
    ASSERT_LT(block, info.internal_nlba);
    const ByteVec data = must_read(*dev, arena_off + L.data_block_offset(block), 4096);
    std::string want;
    if (gen == 0) {
      want.assign(4096, '\0');
    } else {
      const std::string unit =
          fmt::format("NDTK-GOLDEN scen={:<2} lba={:010} gen={:03}|", scen, lba, gen);
      while (want.size() < 4096) want += unit;
      want.resize(4096);
    }
    EXPECT_EQ(std::string(data.begin(), data.end()), want) << "lba " << lba;
  }
  // Every LBA the kernel remapped was written by the scenario.
  for (std::uint32_t lba : normal_lbas) EXPECT_TRUE(readback_lbas.count(lba)) << lba;
}

TEST(BttImages, KernelA_Btt11Labels11) {
  check_kernel_image({"kernel/a-sector4096-labels1.1.img.zst", "kernel/a-sector4096-labels1.1.json",
                      0, 256 * kMiB, BttVersion::V1_1});
}

TEST(BttImages, KernelI_Btt11Labelless) {
  check_kernel_image({"kernel/i-sector4096-labelless.img.zst", "kernel/i-sector4096-labelless.json",
                      0, 256 * kMiB, BttVersion::V1_1});
}

TEST(BttImages, KernelF_Btt20InTwoNamespaceDimm) {
  // btt-one: DPA 0, 64 MiB (its v1.2 label); fsdax-two follows at 64 MiB.
  const json m = load_json("kernel/f-two-namespaces-labels1.2.json");
  bool found = false;
  for (const auto& l : m["labels"])
    if (l["name"] == "btt-one" && l["flags"] == 0) {
      EXPECT_EQ(l["dpa"].get<std::uint64_t>(), 0u);
      EXPECT_EQ(l["rawsize"].get<std::uint64_t>(), 64 * kMiB);
      found = true;
    }
  EXPECT_TRUE(found);
  check_kernel_image({"kernel/f-two-namespaces-labels1.2.img.zst",
                      "kernel/f-two-namespaces-labels1.2.json", 0, 64 * kMiB, BttVersion::V2_0});
}

TEST(BttImages, KernelANamespaceSizeFromLabel) {
  // The BTT namespace is the whole 256 MiB region: its live label says so.
  const json m = load_json("kernel/a-sector4096-labels1.1.json");
  for (const auto& l : m["labels"])
    if (l["flags"] == 0) {
      EXPECT_EQ(l["rawsize"].get<std::uint64_t>(), 256 * kMiB);
    }
}

// ---------------------------------------------------------------------------------------
// PMDK pools

constexpr std::uint64_t kPoolBtt = 8192;

const json& pmdk_arena_manifest(const json& base) { return base["layout"]["arenas"][0]; }

/// Checks shared by every pool: the structures the corruption did not touch are the clean
/// pool's, decoded bit-exactly, and the computed PMDK layout matches.
struct Pool {
  DevicePtr dev;
  Arena arena;
  Uuid poolset_uuid;
  std::vector<ArenaLayout> layout;
};

Pool open_pool(const std::string& image, const BttInfo* geometry_from = nullptr) {
  Pool p;
  p.dev = must_open(image);
  p.arena = read_arena(*p.dev, kPoolBtt, geometry_from);
  p.poolset_uuid = Uuid::from_bytes(must_read(*p.dev, 24, 16));
  auto l = pmdk_btt_layout(p.dev->size() - kPoolBtt, le32(must_read(*p.dev, 4096, 4), 0));
  EXPECT_TRUE(l) << (l ? "" : l.error().message());
  if (l) p.layout = *l;
  return p;
}

BttInfoContext pool_ctx(const Pool& p) {
  BttInfoContext c;
  c.flavor = BttFlavor::Pmdk;
  c.remaining = p.dev->size() - kPoolBtt;
  c.expected_version = BttVersion::V1_1;
  c.namespace_uuid = p.poolset_uuid;
  c.offset = kPoolBtt;
  return c;
}

Findings pool_lane_findings(const Pool& p, BttLogIndices idx, std::uint32_t lane) {
  BttLaneContext lc;
  lc.flavor = BttFlavor::Pmdk;
  lc.lane = lane;
  lc.external_nlba = p.arena.info2.external_nlba;
  lc.internal_nlba = p.arena.info2.internal_nlba;
  lc.indices = idx;
  return validate_log_lane(p.arena.groups[lane], lc);
}

TEST(BttImages, PmdkBlk4096) {
  const json m = load_json("pmdk/blk4096.manifest.json");
  const json& am = pmdk_arena_manifest(m);
  const Pool p = open_pool("pmdk/blk4096.pool.zst");
  const BttInfo& info = p.arena.info;
  ASSERT_TRUE(BttInfo::parse(p.arena.info_raw));
  EXPECT_EQ(m["layout"]["btt_file_offset"].get<std::uint64_t>(), kPoolBtt);
  EXPECT_EQ(am["arena_file_offset"].get<std::uint64_t>(), kPoolBtt);

  // Fields as the manifest lists them (PMDK names: major/minor, flogoff, infooff).
  const json& f = am["info_fields"];
  EXPECT_EQ(info.flags, f["flags"].get<std::uint32_t>());
  EXPECT_EQ(info.version_major, f["major"].get<std::uint16_t>());
  EXPECT_EQ(info.version_minor, f["minor"].get<std::uint16_t>());
  EXPECT_EQ(info.external_lbasize, f["external_lbasize"].get<std::uint32_t>());
  EXPECT_EQ(info.external_nlba, f["external_nlba"].get<std::uint32_t>());
  EXPECT_EQ(info.internal_lbasize, f["internal_lbasize"].get<std::uint32_t>());
  EXPECT_EQ(info.internal_nlba, f["internal_nlba"].get<std::uint32_t>());
  EXPECT_EQ(info.nfree, f["nfree"].get<std::uint32_t>());
  EXPECT_EQ(info.infosize, f["infosize"].get<std::uint32_t>());
  EXPECT_EQ(info.nextoff, f["nextoff"].get<std::uint64_t>());
  EXPECT_EQ(info.dataoff, f["dataoff"].get<std::uint64_t>());
  EXPECT_EQ(info.mapoff, f["mapoff"].get<std::uint64_t>());
  EXPECT_EQ(info.logoff, f["flogoff"].get<std::uint64_t>());
  EXPECT_EQ(info.info2off, f["infooff"].get<std::uint64_t>());
  // PMDK prints its uuids with the first three groups little-endian.
  EXPECT_EQ(info.uuid.to_guid_string(), am["uuid"].get<std::string>());
  EXPECT_EQ(info.parent_uuid.to_guid_string(), am["parent_uuid"].get<std::string>());
  EXPECT_EQ(info.parent_uuid, p.poolset_uuid);
  EXPECT_EQ(kPoolBtt + info.dataoff, am["data_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(kPoolBtt + info.mapoff, am["map_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(kPoolBtt + info.logoff, am["flog_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(kPoolBtt + info.info2off, am["backup_info_file_offset"].get<std::uint64_t>());
  EXPECT_EQ(p.arena.info2_raw, p.arena.info_raw);
  EXPECT_EQ(info.external_nlba, m["nblock"].get<std::uint32_t>());

  // PMDK's formulas for raw size = file size - 8192 reproduce the block (flags 0, v1.1).
  ASSERT_EQ(p.layout.size(), 1u);
  EXPECT_TRUE(compare_info_to_layout(info, p.layout[0]).empty());
  EXPECT_EQ(make_arena_info(p.layout[0], info.uuid, info.parent_uuid, BttVersion::V1_1).serialize(),
            p.arena.info_raw);
  EXPECT_TRUE(info.validate(pool_ctx(p)).empty()) << dump(info.validate(pool_ctx(p)));

  // Map states as counted by the manifest.
  const auto counts = state_counts(p.arena);
  const json& st = am["map_entry_states"];
  EXPECT_EQ(counts.at(BttMapState::Initial), st["initial"].get<std::uint64_t>());
  EXPECT_EQ(counts.at(BttMapState::Normal), st["normal"].get<std::uint64_t>());
  EXPECT_EQ(counts.at(BttMapState::Zero), st["zero"].get<std::uint64_t>());
  EXPECT_EQ(counts.at(BttMapState::Error), st["error"].get<std::uint64_t>());
  for (const auto& z : m["zero_blocks"])
    EXPECT_EQ(p.arena.map.at(z["lba"].get<std::uint32_t>()).state(), BttMapState::Zero);
  for (const auto& e : m["error_blocks"])
    EXPECT_EQ(p.arena.map.at(e["lba"].get<std::uint32_t>()).state(), BttMapState::Error);
  ASSERT_EQ(m["written"].size(), m["written_count"].get<std::size_t>());
  ASSERT_EQ(m["written"].size(), counts.at(BttMapState::Normal));
  for (const auto& w : m["written"]) {
    const std::uint32_t lba = w["lba"].get<std::uint32_t>();
    ASSERT_EQ(p.arena.map.at(lba).state(), BttMapState::Normal) << lba;
    const std::uint32_t block = p.arena.map[lba].postmap();
    const ByteVec data = must_read(*p.dev, kPoolBtt + p.layout[0].data_block_offset(block), 4096);
    const std::string unit =
        fmt::format("lba={:010} gen={:02} bs={:04} #\n", lba, w["gen"].get<unsigned>(), 4096);
    std::string want;
    while (want.size() < 4096) want += unit;
    EXPECT_EQ(std::string(data.begin(), data.end()), want) << "lba " << lba;
  }

  // Log: (0,1), lanes 0-3 used, the rest in PMDK's initial state; no lane findings.
  auto idx = detect_log_indices(p.arena.groups);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesNew);
  std::vector<std::uint32_t> used;
  for (std::uint32_t lane = 0; lane < p.arena.groups.size(); ++lane) {
    EXPECT_TRUE(pool_lane_findings(p, *idx, lane).empty()) << lane;
    if (p.arena.groups[lane] != btt_pmdk_initial_log_group(lane, info.external_nlba))
      used.push_back(lane);
  }
  std::vector<std::uint32_t> want_used;
  for (const auto& l : am["flog_pairs_used"]) want_used.push_back(l.get<std::uint32_t>());
  EXPECT_EQ(used, want_used);
  EXPECT_EQ(p.arena.groups.size() - used.size(), am["flog_pairs_initial"].get<std::size_t>());
  EXPECT_TRUE(lanes_needing_map_completion(p.arena, *idx).empty());
  const auto [dup, missing] = block_references(p.arena, *idx);
  EXPECT_TRUE(dup.empty());
  EXPECT_TRUE(missing.empty());
}

/// The corrupted pools differ from blk4096 exactly in their patches.
void check_patches(const std::string& manifest, const Pool& p, const Pool& base) {
  const json m = load_json(manifest);
  ByteVec info = p.arena.info_raw, log = p.arena.log_raw;
  for (const auto& patch : m["corruption"]["patches"]) {
    const std::uint64_t off = patch["file_offset"].get<std::uint64_t>();
    const ByteVec before = test::from_hex(patch["before"].get<std::string>());
    const ByteVec after = test::from_hex(patch["after"].get<std::string>());
    EXPECT_EQ(must_read(*p.dev, off, after.size()), after);
    ByteVec* region = nullptr;
    std::uint64_t region_off = 0;
    if (off >= kPoolBtt && off < kPoolBtt + kBttInfoSize) {
      region = &info;
      region_off = kPoolBtt;
    } else if (off >= kPoolBtt + base.arena.info.logoff) {
      region = &log;
      region_off = kPoolBtt + base.arena.info.logoff;
    }
    ASSERT_NE(region, nullptr);
    std::copy(before.begin(), before.end(),
              region->begin() + static_cast<std::ptrdiff_t>(off - region_off));
  }
  EXPECT_EQ(info, base.arena.info_raw);
  EXPECT_EQ(log, base.arena.log_raw);
  EXPECT_EQ(p.arena.map_raw, base.arena.map_raw);
  EXPECT_EQ(p.arena.info2_raw, base.arena.info2_raw);
}

TEST(BttImages, PmdkFlogSeqDup) {
  // Lane 0 seq pair (2,2): pmempool reports "invalid BTT Flog entry at 0" and "unmapped block
  // 15814"; libpmemblk flags the arena in memory. Both writers reject the pair.
  const Pool base = open_pool("pmdk/blk4096.pool.zst");
  const Pool p = open_pool("pmdk/blk4096-flog-seq-dup.pool.zst");
  check_patches("pmdk/blk4096-flog-seq-dup.manifest.json", p, base);
  EXPECT_TRUE(p.arena.info.validate(pool_ctx(p)).empty());
  auto idx = detect_log_indices(p.arena.groups);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesNew);

  const BttLane lane0 = lane_of(p.arena.groups[0], *idx);
  EXPECT_EQ(lane0.sub[0].seq, 2u);
  EXPECT_EQ(lane0.sub[1].seq, 2u);
  const auto sel = select_current(lane0);
  EXPECT_FALSE(sel.kernel_current);
  EXPECT_FALSE(sel.pmdk_current);
  EXPECT_FALSE(sel.disagree());
  EXPECT_EQ(sel.verdict, BttSeqVerdict::Equal);
  EXPECT_EQ(codes(pool_lane_findings(p, *idx, 0)), std::set<Problem>{Problem::BTT_LOG_BAD_SEQ});
  for (std::uint32_t lane = 1; lane < p.arena.groups.size(); ++lane)
    EXPECT_TRUE(pool_lane_findings(p, *idx, lane).empty()) << lane;
  // Without lane 0's free block, exactly block 15814 is referenced by nothing.
  const auto [dup, missing] = block_references(p.arena, *idx);
  EXPECT_TRUE(dup.empty());
  EXPECT_EQ(missing, std::vector<std::uint32_t>{15814});
}

TEST(BttImages, PmdkFlogSeqZero) {
  // Lane 0 seq pair (0,2): pmempool finds nothing; on open libpmemblk "recovers" a write that
  // never happened, rewriting map[1] so LBA 1 reads gen 3 instead of gen 4.
  const json m = load_json("pmdk/blk4096-flog-seq-zero.manifest.json");
  const Pool base = open_pool("pmdk/blk4096.pool.zst");
  const Pool p = open_pool("pmdk/blk4096-flog-seq-zero.pool.zst");
  check_patches("pmdk/blk4096-flog-seq-zero.manifest.json", p, base);
  auto idx = detect_log_indices(p.arena.groups);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesNew);
  EXPECT_TRUE(p.arena.info.validate(pool_ctx(p)).empty());

  const BttLane lane0 = lane_of(p.arena.groups[0], *idx);
  const auto sel = select_current(lane0);
  // Kernel and PMDK agree here: both take sub-slot 1, the stale seq-2 entry.
  EXPECT_EQ(sel.kernel_current, std::optional<unsigned>(1));
  EXPECT_EQ(sel.pmdk_current, std::optional<unsigned>(1));
  EXPECT_FALSE(sel.disagree());
  EXPECT_EQ(sel.verdict, BttSeqVerdict::StrayZero);
  EXPECT_EQ(codes(pool_lane_findings(p, *idx, 0)), std::set<Problem>{Problem::BTT_LOG_BAD_SEQ});

  const BttLogEntry& stale = lane0.sub[1];
  EXPECT_EQ(stale.lba, 1u);
  EXPECT_EQ(stale.new_map, 0xC0003DC6u);
  // The map still holds the real current block = the stale entry's old_map, so recovery
  // "completes" the stale write: map[1] := new_map.
  EXPECT_EQ(lanes_needing_map_completion(p.arena, *idx), std::vector<std::uint32_t>{0});
  EXPECT_EQ(p.arena.map[1].postmap(), stale.old_block());
  // That is the very byte range libpmemblk's open wrote in the map.
  const std::uint64_t map_entry_file = kPoolBtt + p.arena.info.mapoff + 4 * stale.lba;
  bool wrote_entry = false;
  for (const auto& r :
       m["libpmemblk_open_and_read_all"]["bytes_written_by_open"]["changed_ranges"]) {
    const std::uint64_t off = r["file_offset"].get<std::uint64_t>();
    if (r["region"] == "BTT arena") {
      EXPECT_GE(off, map_entry_file);
      EXPECT_LE(off + r["length"].get<std::uint64_t>(), map_entry_file + 4);
      wrote_entry = true;
    }
  }
  EXPECT_TRUE(wrote_entry);
  // After that rewrite LBA 1 would read block 0x3dc6, which holds generation 3.
  const ByteVec data =
      must_read(*p.dev, kPoolBtt + p.layout[0].data_block_offset(stale.new_block()), 32);
  EXPECT_EQ(std::string(data.begin(), data.end()), "lba=0000000001 gen=03 bs=4096 #\n");
  const ByteVec now =
      must_read(*p.dev, kPoolBtt + p.layout[0].data_block_offset(p.arena.map[1].postmap()), 32);
  EXPECT_EQ(std::string(now.begin(), now.end()), "lba=0000000001 gen=04 bs=4096 #\n");
  // The stale pick double-references the real current block and loses 15814.
  const auto [dup, missing] = block_references(p.arena, *idx);
  EXPECT_EQ(dup, std::vector<std::uint32_t>{stale.old_block()});
  EXPECT_EQ(missing, std::vector<std::uint32_t>{15814});
}

TEST(BttImages, PmdkInfoFlip) {
  // Primary external_nlba bytes XOR 0xff with the checksum left stale; the backup is intact.
  // pmempool: "BTT Info header checksum incorrect", repaired by restoring the backup (4 bytes).
  const Pool base = open_pool("pmdk/blk4096.pool.zst");
  const DevicePtr dev = must_open("pmdk/blk4096-info-flip.pool.zst");
  auto primary = BttInfo::decode(must_read(*dev, kPoolBtt, kBttInfoSize));
  ASSERT_TRUE(primary);
  auto backup_raw = must_read(*dev, kPoolBtt + primary->info2off, kBttInfoSize);
  auto backup = BttInfo::parse(backup_raw);
  ASSERT_TRUE(backup) << backup.error().message();
  const Pool p = open_pool("pmdk/blk4096-info-flip.pool.zst", &*backup);
  check_patches("pmdk/blk4096-info-flip.manifest.json", p, base);
  auto idx = detect_log_indices(p.arena.groups);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, kBttLogIndicesNew);
  EXPECT_EQ(p.arena.info, *primary);
  EXPECT_EQ(p.arena.info.external_nlba, 16103u ^ 0xFFFFFFFFu);

  auto parsed = BttInfo::parse(p.arena.info_raw);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::kBadChecksum);
  EXPECT_EQ(parsed.error().found, hex(backup->checksum));  // the stale, original checksum
  const Findings f = p.arena.info.validate(pool_ctx(p));
  EXPECT_EQ(codes(f),
            (std::set<Problem>{Problem::BTT_INFO_BAD_CHECKSUM, Problem::BTT_INFO_NLBA_MISMATCH,
                               Problem::BTT_INFO_OFFSETS}))
      << dump(f);
  for (const auto& x : f)
    if (x.code == Problem::BTT_INFO_NLBA_MISMATCH) {
      EXPECT_EQ(x.offset, std::optional<std::uint64_t>(8252));
    }

  // The backup is the clean primary; restoring it changes exactly the 4 corrupted bytes.
  EXPECT_EQ(backup_raw, base.arena.info_raw);
  EXPECT_TRUE(backup->validate(pool_ctx(p)).empty());
  std::vector<std::size_t> differing;
  for (std::size_t i = 0; i < kBttInfoSize; ++i)
    if (p.arena.info_raw[i] != backup_raw[i]) differing.push_back(i);
  EXPECT_EQ(differing, (std::vector<std::size_t>{60, 61, 62, 63}));

  // Against the computed layout only external_nlba is off.
  ASSERT_EQ(p.layout.size(), 1u);
  const auto diffs = compare_info_to_layout(p.arena.info, p.layout[0]);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].field, "external_nlba");
  EXPECT_EQ(diffs[0].expected, 16103u);
  EXPECT_EQ(
      make_arena_info(p.layout[0], backup->uuid, backup->parent_uuid, BttVersion::V1_1).serialize(),
      backup_raw);
}

TEST(BttImages, PmdkNoLayoutHasNoInfoBlock) {
  // pmempool create only: the BTT area is empty ("BTT Layout not written").
  const DevicePtr dev = must_open("pmdk/blk4096-nolayout.pool.zst");
  const ByteVec raw = must_read(*dev, kPoolBtt, kBttInfoSize);
  EXPECT_TRUE(all_zero(raw));
  auto d = BttInfo::decode(raw);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->serialize(), raw);
  auto parsed = BttInfo::parse(raw);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::kBadSignature);
  // The layout PMDK would write on first use still gives the manifest's nblock.
  auto l = pmdk_btt_layout(dev->size() - kPoolBtt, 4096);
  ASSERT_TRUE(l);
  EXPECT_EQ(btt_total_external_lbas(*l),
            load_json("pmdk/blk4096-nolayout.manifest.json")["nblock"].get<std::uint64_t>());
}

}  // namespace
}  // namespace ndtk
