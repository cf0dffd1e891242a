// pfn/dax info block: layout, §10.5 vector, the kernel-written blocks of images c and f against
// ndctl's read-infoblock/list output, per-field corruption, minor-version rules, robustness.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "ndtk/format/pfn_info.h"
#include "ndtk/io/block_device.h"
#include "test_helpers.h"

namespace ndtk {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMiB = 1ull << 20;

json load_manifest(const std::string& name) {
  std::ifstream f(test::image_path("kernel/" + name + ".json"));
  return json::parse(f);
}

/// One kernel-written pfn block from a golden image with what ndctl said about it.
struct ImageBlock {
  ByteVec bytes;
  PfnNamespace ns;
  json infoblock;  // ndctl read-infoblock -j entry
  json listed;     // ndctl list entry of the namespace
};

ImageBlock load_block(const std::string& image, const std::string& label_name) {
  const json m = load_manifest(image);
  ImageBlock out;
  std::string raw_uuid;
  std::uint64_t file_offset = 0;
  for (const auto& ib : m["infoblocks"])
    if (ib["kind"] == "pfn") {
      raw_uuid = ib["namespace_uuid"];
      file_offset = ib["file_offset"];
    }
  EXPECT_FALSE(raw_uuid.empty());
  // The live label (flags 0) of that namespace gives its DPA (== physical offset here) and size.
  for (const auto& l : m["labels"])
    if (l["uuid"] == raw_uuid && l["flags"] == 0) {
      EXPECT_EQ(l["name"], label_name);
      out.ns.start = l["dpa"];
      out.ns.size = l["rawsize"];
    }
  out.ns.uuid = *Uuid::parse(raw_uuid);
  out.ns.claim = PfnClaim::Pfn;  // abstraction GUID ba006426-... is the pfn claim class
  out.ns.block_offset = file_offset;
  for (const auto& r : m["ndctl"]["list"]["regions"])
    for (const auto& n : r["namespaces"])
      if (n.contains("raw_uuid") && n["raw_uuid"] == raw_uuid) out.listed = n;
  for (const auto& [dev, blocks] : m["ndctl"]["read_infoblock"].items())
    for (const auto& b : blocks)
      if (b["parent_uuid"] == raw_uuid) out.infoblock = b;
  auto dev = open_image(test::image_path("kernel/" + image + ".img.zst"));
  EXPECT_TRUE(dev) << dev.error().message();
  auto bytes = (*dev)->read_vec(file_offset, kPfnInfoSize);
  EXPECT_TRUE(bytes) << bytes.error().message();
  out.bytes = *bytes;
  return out;
}

bool has(const Findings& f, Problem p) {
  return std::any_of(f.begin(), f.end(), [&](const Finding& x) { return x.code == p; });
}

std::string dump(const Findings& f) {
  std::string s;
  for (const auto& x : f) s += x.to_string() + "\n";
  return s;
}

bool no_warnings(const Findings& f) {
  return std::none_of(f.begin(), f.end(),
                      [](const Finding& x) { return x.severity() != Severity::Info; });
}

PfnInfo vector_block() {
  // FORMATS.md §10.5: 1 GiB fsdax namespace, PMEM mode, 2 MiB align, 4 KiB pages.
  PfnInfo p;
  p.signature = kPfnSignature;
  p.uuid.bytes.fill(0x33);
  p.parent_uuid.bytes.fill(0x44);
  p.version_major = 1;
  p.version_minor = 4;
  p.dataoff = 0x1200000;
  p.npfns = 257536;
  p.mode = 2;
  p.end_trunc = 0;
  p.align = 2 * kMiB;
  p.page_size = 4096;
  p.page_struct_size = 64;
  return p;
}

TEST(PfnInfo, FieldTableMatchesLayout) {
  const auto f = PfnInfo::fields();
  ASSERT_EQ(f.size(), 16u);
  std::size_t next = 0;
  for (const auto& d : f) {
    EXPECT_EQ(d.offset, next) << d.name;  // contiguous, no gaps, in order
    next = d.offset + d.size;
  }
  EXPECT_EQ(next, kPfnInfoSize);
  EXPECT_STREQ(f[6].name, "dataoff");
  EXPECT_EQ(f[6].offset, 56u);
  EXPECT_EQ(f.back().offset, 4088u);
}

TEST(PfnInfo, SpecVector) {
  const PfnInfo p = vector_block();
  EXPECT_EQ(p.computed_checksum(), 0x60e8acd2c278144eull);
  const PfnInfo w = p.with_checksum();
  const ByteVec b = w.serialize();
  ASSERT_EQ(b.size(), kPfnInfoSize);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 15), "NVDIMM_PFN_INFO");
  EXPECT_EQ(le64(b, 4088), 0x60e8acd2c278144eull);
  EXPECT_EQ(le64(b, 56), 0x1200000ull);
  EXPECT_EQ(le16(b, 92), 64u);
  auto parsed = PfnInfo::parse(b);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, w);
  EXPECT_EQ(parsed->kind(), PfnKind::Pfn);

  PfnNamespace ns;
  ns.start = 0x100000000ull;
  ns.size = 1ull << 30;
  ns.uuid.bytes.fill(0x44);
  const auto v = kernel_validate(w, ns);
  EXPECT_TRUE(v.kernel_accepts()) << v.kernel_error << dump(v.findings);
  EXPECT_TRUE(v.findings.empty()) << dump(v.findings);
  EXPECT_EQ(v.npfns, 257536u);
  EXPECT_EQ(v.usable_bytes, (1ull << 30) - 18 * kMiB);
  EXPECT_EQ(v.data_start, 0x100000000ull + 0x1200000);
  EXPECT_EQ(v.data_end, 0x100000000ull + (1ull << 30));
}

TEST(PfnInfo, ModeAndKindNames) {
  EXPECT_STREQ(pfn_mode_name(0), "none");
  EXPECT_STREQ(pfn_mode_name(1), "ram");
  EXPECT_STREQ(pfn_mode_name(2), "pmem");
  EXPECT_STREQ(pfn_mode_name(3), "unknown");
  EXPECT_STREQ(pfn_kind_name(PfnKind::Dax), "dax");
  PfnInfo p = vector_block();
  p.signature = kDaxSignature;
  EXPECT_EQ(p.kind(), PfnKind::Dax);
  p.signature[15] = 'X';
  EXPECT_EQ(p.kind(), PfnKind::Unknown);
}

void expect_matches_ndctl(const PfnInfo& p, const json& ib) {
  EXPECT_EQ(std::string(p.signature.begin(), p.signature.begin() + 15), ib["signature"]);
  EXPECT_EQ(p.uuid.to_string(), ib["uuid"]);
  EXPECT_EQ(p.parent_uuid.to_string(), ib["parent_uuid"]);
  EXPECT_EQ(p.flags, ib["flags"]);
  EXPECT_EQ(p.version_string(), ib["version"]);
  EXPECT_EQ(p.dataoff, ib["dataoff"]);
  EXPECT_EQ(p.npfns, ib["npfns"]);
  EXPECT_EQ(p.mode, ib["mode"]);
  EXPECT_EQ(p.start_pad, ib["start_pad"]);
  EXPECT_EQ(p.end_trunc, ib["end_trunc"]);
  EXPECT_EQ(p.align, ib["align"]);
  EXPECT_EQ(p.page_size, ib["page_size"]);
  EXPECT_EQ(p.page_struct_size, ib["page_struct_size"]);
}

struct ImageCase {
  const char* image;
  const char* label_name;
  const char* map;  // ndctl list "map": dev = PMEM mode, mem = RAM mode
};

class PfnImage : public ::testing::TestWithParam<ImageCase> {};

TEST_P(PfnImage, RoundTripAndNdctlFields) {
  const auto blk = load_block(GetParam().image, GetParam().label_name);
  auto d = PfnInfo::decode(blk.bytes);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->serialize(), blk.bytes);
  auto p = PfnInfo::parse(blk.bytes);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_TRUE(p->checksum_ok());
  EXPECT_EQ(p->with_checksum(), *p);
  ASSERT_FALSE(blk.infoblock.is_null());
  expect_matches_ndctl(*p, blk.infoblock);
  EXPECT_EQ(std::string(pfn_mode_name(p->mode)),
            std::string(GetParam().map) == "dev" ? "pmem" : "ram");
  EXPECT_EQ(p->uuid.to_string(), blk.listed["uuid"]);  // the fsdax instance uuid
  EXPECT_EQ(p->align, blk.listed["align"]);
  EXPECT_TRUE(p->validate(blk.ns.block_offset).empty()) << dump(p->validate());
}

TEST_P(PfnImage, KernelAcceptsWithNdctlSize) {
  const auto blk = load_block(GetParam().image, GetParam().label_name);
  auto p = PfnInfo::parse(blk.bytes);
  ASSERT_TRUE(p);
  const auto v = kernel_validate(*p, blk.ns);
  EXPECT_EQ(v.verdict, PfnVerdict::Accepted) << v.kernel_error;
  EXPECT_TRUE(v.kernel_error.empty());
  EXPECT_TRUE(v.findings.empty()) << dump(v.findings);
  EXPECT_EQ(v.usable_bytes, blk.listed["size"].get<std::uint64_t>());
  EXPECT_EQ(v.npfns, p->npfns);
  EXPECT_EQ(v.data_start, blk.ns.start + p->dataoff);
  EXPECT_EQ(v.data_end, blk.ns.start + blk.ns.size);
  EXPECT_EQ(v.data_end - v.data_start, v.usable_bytes);
  // Claim class None (label-less or v1.1 labels) also lets nd_pfn_probe look.
  PfnNamespace none = blk.ns;
  none.claim = PfnClaim::None;
  EXPECT_TRUE(kernel_validate(*p, none).kernel_accepts());
}

INSTANTIATE_TEST_SUITE_P(PfnImages, PfnImage,
                         ::testing::Values(ImageCase{"c-fsdax-labels1.2", "", "dev"},
                                           ImageCase{"f-two-namespaces-labels1.2", "fsdax-two",
                                                     "mem"}));

// Change one field of image c's block and look for the precise finding.
struct Corruption {
  const char* name;
  void (*apply)(PfnInfo&);
  bool recompute_checksum;
  Problem expected;
  PfnVerdict verdict;
};

const Corruption kCorruptions[] = {
    {"checksum", [](PfnInfo& p) { p.checksum ^= 1; }, false, Problem::PFN_BAD_CHECKSUM,
     PfnVerdict::NotDetected},
    {"parent_uuid", [](PfnInfo& p) { p.parent_uuid.bytes[15] ^= 0x80; }, true,
     Problem::PFN_PARENT_UUID, PfnVerdict::NotDetected},
    {"signature", [](PfnInfo& p) { p.signature[0] = 'X'; }, true, Problem::PFN_BAD_SIGNATURE,
     PfnVerdict::NotDetected},
    {"dax-on-pfn-claim", [](PfnInfo& p) { p.signature = kDaxSignature; }, true,
     Problem::PFN_CLAIM_MISMATCH, PfnVerdict::NotDetected},
    {"mode-none", [](PfnInfo& p) { p.mode = 0; }, true, Problem::PFN_BAD_MODE,
     PfnVerdict::Rejected},
    {"mode-3", [](PfnInfo& p) { p.mode = 3; }, true, Problem::PFN_BAD_MODE, PfnVerdict::Rejected},
    {"align-4M", [](PfnInfo& p) { p.align = 4 * kMiB; }, true, Problem::PFN_MISALIGNED,
     PfnVerdict::Unusable},
    {"align-not-pow2", [](PfnInfo& p) { p.align = 3 * kMiB; }, true, Problem::PFN_MISALIGNED,
     PfnVerdict::Unusable},
    {"align-too-large", [](PfnInfo& p) { p.align = 0x80000000u; }, true,
     Problem::PFN_ALIGN_TOO_LARGE, PfnVerdict::Unusable},
    {"dataoff-unaligned", [](PfnInfo& p) { p.dataoff += 4096; }, true, Problem::PFN_MISALIGNED,
     PfnVerdict::Unusable},
    {"dataoff-not-page", [](PfnInfo& p) { p.align = 0; p.version_minor = 1; p.dataoff += 512; },
     true, Problem::PFN_MISALIGNED, PfnVerdict::Unusable},
    {"dataoff-past-end", [](PfnInfo& p) { p.dataoff = 256 * kMiB; }, true,
     Problem::PFN_DATAOFF_RANGE, PfnVerdict::Unusable},
    {"dataoff-huge", [](PfnInfo& p) { p.dataoff = ~0ull - 4095; }, true,
     Problem::PFN_DATAOFF_RANGE, PfnVerdict::Unusable},
    {"end-trunc-small-ns", [](PfnInfo& p) { p.end_trunc = 250 * kMiB; }, true,
     Problem::PFN_DATAOFF_RANGE, PfnVerdict::Unusable},
    {"end-trunc-unaligned", [](PfnInfo& p) { p.end_trunc = 4096; }, true,
     Problem::PFN_RANGE_MISALIGNED, PfnVerdict::Unusable},
    {"start-pad-unaligned", [](PfnInfo& p) { p.start_pad = 4096; }, true,
     Problem::PFN_RANGE_MISALIGNED, PfnVerdict::Unusable},
    {"page-size-64k", [](PfnInfo& p) { p.page_size = 65536; }, true,
     Problem::PFN_PAGE_SIZE_UNSUPPORTED, PfnVerdict::Unusable},
    {"page-struct-32", [](PfnInfo& p) { p.page_struct_size = 32; }, true,
     Problem::PFN_PAGE_SIZE_UNSUPPORTED, PfnVerdict::Unusable},
    {"memmap-short", [](PfnInfo& p) { p.dataoff = 2 * kMiB; p.npfns = 65024; }, true,
     Problem::PFN_MEMMAP_TOO_SMALL, PfnVerdict::Accepted},
    {"npfns", [](PfnInfo& p) { p.npfns += 1; }, true, Problem::PFN_NPFNS_MISMATCH,
     PfnVerdict::Accepted},
    {"padding", [](PfnInfo& p) { p.padding[100] = 1; }, true, Problem::PFN_PADDING_NONZERO,
     PfnVerdict::Accepted},
    {"flags", [](PfnInfo& p) { p.flags = 1; }, true, Problem::PFN_FLAGS_NONZERO,
     PfnVerdict::Accepted},
    {"major", [](PfnInfo& p) { p.version_major = 2; }, true, Problem::PFN_VERSION,
     PfnVerdict::Accepted},
    {"start-pad-aligned", [](PfnInfo& p) { p.start_pad = 2 * kMiB; }, true, Problem::PFN_START_PAD,
     PfnVerdict::Accepted},
};

TEST(PfnInfoCorrupt, EachFieldGivesItsFinding) {
  const auto blk = load_block("c-fsdax-labels1.2", "");
  const PfnInfo good = *PfnInfo::parse(blk.bytes);
  for (const auto& c : kCorruptions) {
    SCOPED_TRACE(c.name);
    PfnInfo bad = good;
    c.apply(bad);
    if (c.recompute_checksum) bad = bad.with_checksum();
    const auto v = kernel_validate(bad, blk.ns);
    EXPECT_TRUE(has(v.findings, c.expected)) << dump(v.findings);
    EXPECT_EQ(v.verdict, c.verdict) << pfn_verdict_name(v.verdict) << " " << v.kernel_error;
    EXPECT_EQ(v.kernel_accepts(), c.verdict == PfnVerdict::Accepted);
    if (c.verdict != PfnVerdict::Accepted) {
      EXPECT_FALSE(v.kernel_error.empty());
    }
    for (const auto& f : v.findings) {
      ASSERT_TRUE(f.offset.has_value()) << f.to_string();
      EXPECT_GE(*f.offset, *blk.ns.block_offset);
      EXPECT_LT(*f.offset, *blk.ns.block_offset + kPfnInfoSize);
    }
  }
}

TEST(PfnInfoCorrupt, KernelErrorNamesTheFirstFailingRule) {
  const auto blk = load_block("c-fsdax-labels1.2", "");
  PfnInfo p = *PfnInfo::parse(blk.bytes);
  p.mode = 7;
  p.dataoff = 0x601000;
  p = p.with_checksum();
  const auto v = kernel_validate(p, blk.ns);
  // The kernel stops at the mode (-ENXIO) but the bad dataoff is still reported.
  EXPECT_EQ(v.verdict, PfnVerdict::Rejected);
  EXPECT_EQ(v.kernel_error.rfind("-ENXIO", 0), 0u) << v.kernel_error;
  EXPECT_TRUE(has(v.findings, Problem::PFN_BAD_MODE));
  EXPECT_TRUE(has(v.findings, Problem::PFN_MISALIGNED));
}

TEST(PfnInfoCorrupt, PerFieldTable) {
  // XOR the first byte of every field (checksum recomputed, except for the checksum itself)
  // and expect the finding that field maps to. The instance uuid is not checked at probe.
  const auto blk = load_block("c-fsdax-labels1.2", "");
  const std::pair<const char*, std::optional<Problem>> expect[] = {
      {"signature", Problem::PFN_BAD_SIGNATURE}, {"uuid", std::nullopt},
      {"parent_uuid", Problem::PFN_PARENT_UUID}, {"flags", Problem::PFN_FLAGS_NONZERO},
      {"version_major", Problem::PFN_VERSION},   {"version_minor", Problem::PFN_VERSION},
      {"dataoff", Problem::PFN_MISALIGNED},      {"npfns", Problem::PFN_NPFNS_MISMATCH},
      {"mode", Problem::PFN_BAD_MODE},           {"start_pad", Problem::PFN_RANGE_MISALIGNED},
      {"end_trunc", Problem::PFN_RANGE_MISALIGNED}, {"align", Problem::PFN_MISALIGNED},
      {"page_size", Problem::PFN_PAGE_SIZE_UNSUPPORTED},
      {"page_struct_size", Problem::PFN_PAGE_SIZE_UNSUPPORTED},
      {"padding", Problem::PFN_PADDING_NONZERO}, {"checksum", Problem::PFN_BAD_CHECKSUM},
  };
  ASSERT_EQ(std::size(expect), PfnInfo::fields().size());
  for (const auto& fd : PfnInfo::fields()) {
    SCOPED_TRACE(fd.name);
    const auto* e = std::find_if(std::begin(expect), std::end(expect),
                                 [&](const auto& x) { return std::string(x.first) == fd.name; });
    ASSERT_NE(e, std::end(expect));
    ByteVec b = blk.bytes;
    b[fd.offset] ^= 0x5a;
    PfnInfo p = *PfnInfo::decode(b);
    if (std::string(fd.name) != "checksum") p = p.with_checksum();
    EXPECT_EQ(PfnInfo::decode(p.serialize())->serialize(), p.serialize());
    const auto v = kernel_validate(p, blk.ns);
    if (e->second) {
      EXPECT_TRUE(has(v.findings, *e->second)) << dump(v.findings);
      const auto hit = std::find_if(v.findings.begin(), v.findings.end(),
                                    [&](const Finding& f) { return f.code == *e->second; });
      ASSERT_NE(hit, v.findings.end());
      EXPECT_FALSE(hit->detail.empty());
    } else {
      EXPECT_TRUE(v.findings.empty()) << dump(v.findings);
    }
  }
}

TEST(PfnInfoKernel, ClaimClassesAndLabelless) {
  const auto blk = load_block("c-fsdax-labels1.2", "");
  const PfnInfo p = *PfnInfo::parse(blk.bytes);
  for (PfnClaim c : {PfnClaim::Dax, PfnClaim::Btt, PfnClaim::Other}) {
    PfnNamespace ns = blk.ns;
    ns.claim = c;
    const auto v = kernel_validate(p, ns);
    EXPECT_EQ(v.verdict, PfnVerdict::NotDetected) << pfn_claim_name(c);
    EXPECT_TRUE(has(v.findings, Problem::PFN_CLAIM_MISMATCH));
  }
  // A label-less namespace has uuid zero: a block naming a parent does not belong to it.
  PfnNamespace labelless = blk.ns;
  labelless.uuid = Uuid{};
  labelless.claim = PfnClaim::None;
  auto v = kernel_validate(p, labelless);
  EXPECT_EQ(v.verdict, PfnVerdict::NotDetected);
  EXPECT_TRUE(has(v.findings, Problem::PFN_PARENT_UUID));
  // ...and a block with a zero parent does (no "zero matches anything" rule as for BTT).
  PfnInfo zero_parent = p;
  zero_parent.parent_uuid = Uuid{};
  zero_parent = zero_parent.with_checksum();
  EXPECT_TRUE(kernel_validate(zero_parent, labelless).kernel_accepts());
  EXPECT_FALSE(kernel_validate(zero_parent, blk.ns).kernel_accepts());
}

TEST(PfnInfoKernel, DevdaxAlignmentsAndRamReserve) {
  PfnInfo p = vector_block();
  p.signature = kDaxSignature;
  PfnNamespace ns;
  ns.start = 0;
  ns.size = 1ull << 30;
  ns.uuid.bytes.fill(0x44);
  ns.claim = PfnClaim::Dax;
  EXPECT_TRUE(kernel_validate(p.with_checksum(), ns).kernel_accepts());
  p.align = 64 * 1024;  // fine for fsdax, not a device-dax size on x86-64
  auto v = kernel_validate(p.with_checksum(), ns);
  EXPECT_EQ(v.verdict, PfnVerdict::Unusable);
  EXPECT_TRUE(has(v.findings, Problem::PFN_ALIGN_UNSUPPORTED));
  PfnInfo f = p;
  f.signature = kPfnSignature;
  ns.claim = PfnClaim::Pfn;
  EXPECT_TRUE(kernel_validate(f.with_checksum(), ns).kernel_accepts());
  // A devdax kernel with 64 KiB in its list accepts it.
  PfnKernelEnv env;
  env.dax_alignments.push_back(64 * 1024);
  ns.claim = PfnClaim::Dax;
  EXPECT_TRUE(kernel_validate(p.with_checksum(), ns, env).kernel_accepts());

  // RAM mode with dataoff inside the 8 KiB reserve: nd_pfn_validate passes, setup refuses.
  PfnInfo r = vector_block();
  r.mode = 1;
  r.align = 4096;
  r.dataoff = 4096;
  r.npfns = ((1ull << 30) - 4096) / 4096;
  ns.claim = PfnClaim::Pfn;
  v = kernel_validate(r.with_checksum(), ns);
  EXPECT_EQ(v.verdict, PfnVerdict::SetupFailed);
  EXPECT_EQ(v.kernel_error.rfind("-EINVAL", 0), 0u);
  EXPECT_TRUE(has(v.findings, Problem::PFN_DATAOFF_RANGE));
}

TEST(PfnInfoMinor, VersionDefaults) {
  PfnInfo p = vector_block();
  // minor 0: no start_pad/end_trunc/align/page fields; align derives from dataoff (18 MiB -> 16).
  p.version_minor = 0;
  p.start_pad = 0;
  p.end_trunc = 0;
  p.align = 0;
  p.page_size = 0;
  p.page_struct_size = 0;
  auto e = p.effective();
  EXPECT_EQ(e.align, 0u);
  EXPECT_EQ(e.effective_align, 16 * kMiB);
  EXPECT_EQ(e.page_size, 4096u);
  EXPECT_EQ(e.page_struct_size, 64u);
  EXPECT_EQ(p.effective(65536).page_size, 65536u);
  // Values stored in fields the minor version does not have are ignored...
  p.start_pad = 2 * kMiB;
  p.end_trunc = 4096;
  p.align = 3;
  p.page_size = 1 << 20;
  e = p.effective();
  EXPECT_EQ(e.start_pad, 0u);
  EXPECT_EQ(e.end_trunc, 0u);
  EXPECT_EQ(e.align, 0u);
  EXPECT_EQ(e.page_size, 4096u);
  // ...by the kernel (18 MiB dataoff is not 16 MiB-aligned at start 0 -> misaligned), and
  // reported as bytes that should have been zero.
  PfnNamespace ns;
  ns.size = 1ull << 30;
  ns.uuid.bytes.fill(0x44);
  auto v = kernel_validate(p.with_checksum(), ns);
  EXPECT_TRUE(has(v.findings, Problem::PFN_PADDING_NONZERO)) << dump(v.findings);
  EXPECT_TRUE(has(v.findings, Problem::PFN_MISALIGNED));
  EXPECT_EQ(v.verdict, PfnVerdict::Unusable);
  // At a 16 MiB-aligned dataoff the derived alignment works.
  PfnInfo q = vector_block();
  q.version_minor = 1;
  q.align = 0;
  q.page_size = 0;
  q.page_struct_size = 0;
  q.dataoff = 32 * kMiB;
  q.npfns = ((1ull << 30) - 32 * kMiB) / 4096;
  v = kernel_validate(q.with_checksum(), ns);
  EXPECT_TRUE(v.kernel_accepts()) << v.kernel_error << dump(v.findings);
  EXPECT_EQ(v.effective.effective_align, 32 * kMiB);
  EXPECT_TRUE(no_warnings(v.findings)) << dump(v.findings);
  // minor 3: page fields still default; minor 4 uses them.
  q.version_minor = 3;
  q.align = 2 * kMiB;
  EXPECT_EQ(q.effective().align, 2 * kMiB);
  EXPECT_EQ(q.effective().page_struct_size, 64u);
  q.version_minor = 4;
  q.page_struct_size = 128;
  EXPECT_EQ(q.effective().page_struct_size, 128u);
}

TEST(PfnInfoMinor, PaddingClearedKeepsWhatTheKernelReads) {
  // Junk in the padding and, for a minor-3 block, in the minor-4 fields: clearing zeroes
  // exactly those bytes, re-seals, and the kernel's view (effective values) is unchanged.
  PfnInfo p = vector_block();
  p.version_minor = 3;
  p.padding[7] = 0x55;
  p = p.with_checksum();
  const PfnInfo c = p.with_padding_cleared();
  EXPECT_TRUE(c.padding_zero());
  EXPECT_EQ(c.page_size, 0u);
  EXPECT_EQ(c.page_struct_size, 0u);
  EXPECT_TRUE(c.checksum_ok());
  EXPECT_TRUE(c.validate().empty());
  const PfnEffective a = p.effective(), b = c.effective();
  EXPECT_EQ(a.page_size, b.page_size);
  EXPECT_EQ(a.page_struct_size, b.page_struct_size);
  EXPECT_EQ(a.effective_align, b.effective_align);
  EXPECT_EQ(c.dataoff, p.dataoff);
  EXPECT_EQ(c.npfns, p.npfns);
  // A clean minor-4 block is its own clearing.
  const PfnInfo v = vector_block().with_checksum();
  EXPECT_EQ(v.with_padding_cleared(), v);
}

TEST(PfnInfoRobust, ShortEmptyZeroFf) {
  const PfnInfo v = vector_block().with_checksum();
  const ByteVec good = v.serialize();
  auto t = PfnInfo::decode(Bytes(good).first(kPfnInfoSize - 1));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kTruncated);
  EXPECT_FALSE(PfnInfo::parse(Bytes(good).first(kPfnInfoSize - 1)));
  auto e = PfnInfo::decode(Bytes{});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, Errc::kTruncated);
  // Longer input: only the first 4096 bytes count.
  ByteVec longer = good;
  longer.resize(8192, 0xee);
  EXPECT_EQ(PfnInfo::parse(longer)->serialize(), good);

  for (std::uint8_t fill : {std::uint8_t{0}, std::uint8_t{0xff}}) {
    const ByteVec b(kPfnInfoSize, fill);
    auto d = PfnInfo::decode(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->serialize(), b);
    auto p = PfnInfo::parse(b);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, Errc::kBadSignature);
    EXPECT_EQ(p.error().field, "signature");
    PfnNamespace ns;
    ns.size = 1ull << 30;
    const auto kv = kernel_validate(*d, ns);
    EXPECT_EQ(kv.verdict, PfnVerdict::NotDetected);
    ASSERT_EQ(kv.findings.size(), 1u);
    EXPECT_EQ(kv.findings[0].code, Problem::PFN_BAD_SIGNATURE);
    EXPECT_TRUE(has(d->validate(), Problem::PFN_BAD_SIGNATURE));
  }
  // All-0xff behind a valid signature: every rule fails somewhere, nothing crashes.
  ByteVec ff(kPfnInfoSize, 0xff);
  std::copy(kPfnSignature.begin(), kPfnSignature.end(), ff.begin());
  PfnInfo p = *PfnInfo::decode(ff);
  auto bad = PfnInfo::parse(ff);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kBadChecksum);
  PfnNamespace ns;
  ns.start = ~0ull - (1ull << 20);
  ns.size = 1ull << 40;
  const auto kv = kernel_validate(p.with_checksum(), ns);
  EXPECT_FALSE(kv.kernel_accepts());
  EXPECT_EQ(kv.usable_bytes, 0u);
}

TEST(PfnInfoRobust, RandomBytesAndNamespaces) {
  std::mt19937_64 rng(0x5eed0001);
  const PfnInfo base = vector_block().with_checksum();
  for (int i = 0; i < 3000; ++i) {
    ByteVec b(kPfnInfoSize);
    if (i % 3 == 0) {
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    } else {
      // Mostly-valid blocks with a few random fields: reaches the deeper rules.
      b = base.serialize();
      const auto fields = PfnInfo::fields();
      for (int k = 0; k < 1 + i % 4; ++k) {
        const auto& f = fields[rng() % fields.size()];
        for (std::size_t j = 0; j < std::min<std::size_t>(f.size, 8); ++j)
          b[f.offset + j] = static_cast<std::uint8_t>(rng());
      }
    }
    auto d = PfnInfo::decode(b);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->serialize(), b);
    auto p = PfnInfo::parse(b);
    if (p) {
      EXPECT_NE(d->kind(), PfnKind::Unknown);
    }
    (void)d->validate(rng());
    PfnNamespace ns;
    const std::uint64_t starts[] = {0, 2 * kMiB, rng(), ~0ull, ~0ull - 4095};
    const std::uint64_t sizes[] = {0, 4096, 1ull << 30, rng(), ~0ull};
    ns.start = starts[rng() % 5];
    ns.size = sizes[rng() % 5];
    ns.uuid = d->parent_uuid;
    ns.claim = static_cast<PfnClaim>(rng() % 5);
    if (rng() % 2) ns.block_offset = rng();
    PfnKernelEnv env;
    env.page_size = (rng() % 4 == 0) ? 65536 : 4096;
    const auto v = kernel_validate(d->with_checksum(), ns, env);
    if (v.kernel_accepts()) {
      EXPECT_TRUE(v.kernel_error.empty());
      // The kernel's unsigned arithmetic can wrap start_pad + end_trunc past the size and
      // accept; the range is then meaningless, which the findings must say.
      EXPECT_TRUE(v.usable_bytes > 0 || has(v.findings, Problem::PFN_DATAOFF_RANGE))
          << dump(v.findings);
    } else {
      EXPECT_FALSE(v.kernel_error.empty());
    }
    if (v.usable_bytes != 0) {
      EXPECT_EQ(v.data_end - v.data_start, v.usable_bytes);
      EXPECT_LE(v.usable_bytes, ns.size);
    }
    for (const auto& f : v.findings) EXPECT_FALSE(f.to_string().empty());
  }
}

TEST(PfnInfoRobust, FindingsUseTheProblemTable) {
  // Every 0x06xx row has a name, a title, and sits in its section.
  int n = 0;
  for (const auto& row : all_problems()) {
    if ((row.number >> 8) != 0x06) continue;
    ++n;
    EXPECT_EQ(std::string(row.name).rfind("PFN_", 0), 0u) << row.name;
    EXPECT_GT(std::string(row.title).size(), 10u);
  }
  EXPECT_GE(n, 17);
  EXPECT_EQ(problem_info(Problem::PFN_NPFNS_MISMATCH).severity, Severity::Warning);
  EXPECT_EQ(problem_info(Problem::PFN_BAD_CHECKSUM).repair, RepairAction::RewriteChecksum);
}

}  // namespace
}  // namespace ndtk
