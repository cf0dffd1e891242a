// Label areas written by the real kernel + ndctl (tests/images/kernel): every index block and
// label slot against ndctl's own read-labels dump, current index, slot states, namespaces;
// then crafted damage, CXL areas, several DIMMs, and hostile input.
#include "ndtk/discover/label_area.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "test_helpers.h"

namespace ndtk {
namespace {

using nlohmann::json;

std::set<Problem> codes(const Findings& fs) {
  std::set<Problem> s;
  for (const auto& f : fs) s.insert(f.code);
  return s;
}

const Finding* find(const Findings& fs, Problem p) {
  for (const auto& f : fs)
    if (f.code == p) return &f;
  return nullptr;
}

std::string all(const Findings& fs) {
  std::string s;
  for (const auto& f : fs) s += f.to_string() + "\n";
  return s;
}

json manifest(const std::string& stem) {
  std::ifstream in(test::image_path("kernel/" + stem + ".json"));
  EXPECT_TRUE(in.good()) << stem;
  return json::parse(in);
}

DevicePtr image(const std::string& stem) {
  auto d = open_image(test::image_path("kernel/" + stem + ".img.zst"));
  EXPECT_TRUE(d) << (d ? "" : d.error().message());
  return *d;
}

const std::vector<std::string> kLabelled = {"a-sector4096-labels1.1", "c-fsdax-labels1.2",
                                            "e-raw-labels1.1", "f-two-namespaces-labels1.2"};

// ---- the kernel images -----------------------------------------------------------------

// Both index blocks and every slot holding data: bit-exact round trip and ndctl's values.
TEST(LabelAreaImages, IndexBlocksAndLabelsMatchNdctl) {
  for (const auto& stem : kLabelled) {
    SCOPED_TRACE(stem);
    const json m = manifest(stem);
    const auto dev = image(stem);
    const std::uint64_t off = m["label_area"]["file_offset"];
    const std::uint64_t size = m["label_area"]["size"];
    const std::uint64_t isz = m["label_area"]["index_block_size"];
    const std::uint64_t lsz = m["label_area"]["label_slot_size"];
    EXPECT_EQ(off + size, dev->size());
    auto area = dev->read_vec(off, size);
    ASSERT_TRUE(area);
    const json& rl = m["ndctl"]["read_labels"][0];

    for (int i = 0; i < 2; ++i) {
      const Bytes blk = Bytes(*area).subspan(i * isz, isz);
      EXPECT_EQ(m["label_area"]["index_block_file_offsets"][static_cast<std::size_t>(i)]
                    .get<std::uint64_t>(),
                off + i * isz);
      auto x = LabelIndex::decode(blk);
      ASSERT_TRUE(x);
      EXPECT_EQ(x->serialize(), ByteVec(blk.begin(), blk.end()));
      const json& j = rl["index"][static_cast<std::size_t>(i)];
      EXPECT_EQ(fixed_string(x->sig), j["signature"].get<std::string>());
      EXPECT_EQ(x->major, j["major"].get<int>());
      EXPECT_EQ(x->minor, j["minor"].get<int>());
      EXPECT_EQ(x->label_size(), j["labelsize"].get<std::uint64_t>());
      EXPECT_EQ(x->seq, j["seq"].get<std::uint32_t>());
      EXPECT_EQ(x->nslot, j["nslot"].get<std::uint32_t>());
      EXPECT_TRUE(x->checksum_ok());
      EXPECT_TRUE(kernel_accepts_index(*x, i, size, static_cast<std::uint32_t>(lsz)));
      EXPECT_TRUE(LabelIndex::parse(blk));
    }

    // ndctl lists every slot that holds a label; those are exactly the non-zero slots.
    std::map<std::uint32_t, json> by_slot;
    for (const auto& l : rl["label"]) by_slot[l["slot"].get<std::uint32_t>()] = l;
    ASSERT_FALSE(by_slot.empty());
    const std::uint64_t nslot = rl["index"][0]["nslot"];
    for (std::uint32_t s = 0; s < nslot; ++s) {
      const Bytes b = Bytes(*area).subspan(2 * isz + s * lsz, lsz);
      if (all_zero(b)) {
        EXPECT_FALSE(by_slot.count(s)) << "slot " << s;
        continue;
      }
      ASSERT_TRUE(by_slot.count(s)) << "slot " << s;
      auto l = NamespaceLabel::decode(b, lsz);
      ASSERT_TRUE(l);
      EXPECT_EQ(l->serialize(), ByteVec(b.begin(), b.end()));
      const json& j = by_slot[s];
      EXPECT_EQ(l->uuid.to_string(), j["uuid"].get<std::string>());
      EXPECT_EQ(l->name_string(), j["name"].get<std::string>());
      EXPECT_EQ(l->slot, j["slot"].get<std::uint32_t>());
      EXPECT_EQ(l->position, j["position"].get<int>());
      EXPECT_EQ(l->nlabel, j["nlabel"].get<int>());
      EXPECT_EQ(l->flags, j["flags"].get<std::uint32_t>());
      EXPECT_EQ(l->isetcookie, j["isetcookie"].get<std::uint64_t>());
      EXPECT_EQ(l->lbasize, j["lbasize"].get<std::uint64_t>());
      EXPECT_EQ(l->dpa, j["dpa"].get<std::uint64_t>());
      EXPECT_EQ(l->rawsize, j["rawsize"].get<std::uint64_t>());
      if (lsz == 256) {
        // ndctl prints the GUID fields' raw bytes in order.
        EXPECT_EQ(l->type_guid.to_string(), j["type_guid"].get<std::string>());
        EXPECT_EQ(l->abstraction_guid.to_string(), j["abstraction_guid"].get<std::string>());
        EXPECT_TRUE(l->checksum_ok());
      } else {
        EXPECT_FALSE(j.contains("type_guid"));
      }
      EXPECT_TRUE(l->kernel_slot_valid(s));
      EXPECT_TRUE(NamespaceLabel::parse(b, lsz));
      // The generator's own slot->file offset list agrees with our geometry.
      for (const auto& ml : m["labels"])
        if (ml["slot"] == s) {
          EXPECT_EQ(ml["file_offset"].get<std::uint64_t>(), off + 2 * isz + s * lsz);
        }
    }
  }
}

// read_label_area on each image: current index, states, namespaces of the manifest.
TEST(LabelAreaImages, AreaMatchesManifest) {
  for (const auto& stem : kLabelled) {
    SCOPED_TRACE(stem);
    const json m = manifest(stem);
    const auto dev = image(stem);
    auto a = read_qemu_label_area(*dev);
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->offset, m["label_area"]["file_offset"].get<std::uint64_t>());
    EXPECT_EQ(a->dimm_size, m["producer"]["qemu"]["pmem_size"].get<std::uint64_t>());
    const json& rl = m["ndctl"]["read_labels"][0];
    ASSERT_TRUE(a->has_valid_index());
    EXPECT_TRUE(a->indexes[0].valid);
    EXPECT_TRUE(a->indexes[1].valid);
    EXPECT_TRUE(a->indexes[0].problems.empty());
    EXPECT_EQ(a->current.why, IndexChoice::BestSeq);
    const std::uint32_t s0 = rl["index"][0]["seq"], s1 = rl["index"][1]["seq"];
    EXPECT_EQ(a->current.index, best_seq(s0, s1) == (s1 & 3) ? 1 : 0);
    EXPECT_EQ(a->label_size(), m["label_area"]["label_slot_size"].get<std::uint32_t>());
    EXPECT_EQ(a->index_size(), m["label_area"]["index_block_size"].get<std::uint64_t>());
    EXPECT_EQ(a->nslot, rl["index"][0]["nslot"].get<std::uint32_t>());
    EXPECT_EQ(a->geometry->formula, LabelFormula::Current);

    // Slots: exactly ndctl's, each UPDATING copy stale, each final label active.
    ASSERT_EQ(a->slots.size(), rl["label"].size());
    for (const auto& j : rl["label"]) {
      const LabelSlot* s = a->find_slot(j["slot"]);
      ASSERT_NE(s, nullptr);
      const bool updating = j["flags"].get<std::uint32_t>() & kLabelFlagUpdating;
      EXPECT_EQ(s->state, updating ? SlotState::Stale : SlotState::Active) << s->slot;
      EXPECT_EQ(s->in_use, !updating);
      EXPECT_TRUE(s->kernel_valid);
      ASSERT_NE(s->efi(), nullptr);
      EXPECT_EQ(s->efi()->uuid.to_string(), j["uuid"].get<std::string>());
      EXPECT_EQ(s->raw, NamespaceLabel(*s->efi()).serialize());
      if (updating) {
        EXPECT_NE(s->note.find("copy of active namespace"), std::string::npos);
      }
    }

    // Namespaces: the enabled ones of `ndctl list` (raw_uuid is the label uuid).
    std::map<std::string, json> listed;
    for (const auto& ns : m["ndctl"]["list"]["regions"][0]["namespaces"]) {
      if (ns["size"].get<std::uint64_t>() == 0) continue;
      listed[ns.contains("raw_uuid") ? ns["raw_uuid"].get<std::string>()
                                     : ns["uuid"].get<std::string>()] = ns;
    }
    ASSERT_EQ(a->namespaces.size(), listed.size());
    EXPECT_TRUE(a->stale_namespaces.empty());
    for (const auto& ns : a->namespaces) {
      ASSERT_TRUE(listed.count(ns.uuid.to_string())) << ns.uuid.to_string();
      const json& j = listed[ns.uuid.to_string()];
      EXPECT_EQ(ns.name, j.value("name", std::string()));
      EXPECT_EQ(ns.lbasize, j["sector_size"].get<std::uint64_t>());
      const std::string mode = j["mode"];
      // v1.1 labels carry no abstraction GUID: the kernel finds their BTT by probing, so
      // image a's sector namespace has claim class NONE. v1.2 labels name the personality.
      ClaimClass want = ClaimClass::None;
      if (a->label_size() == 256 && mode == "fsdax") want = ClaimClass::Pfn;
      if (a->label_size() == 256 && mode == "sector") want = ClaimClass::Btt2;
      EXPECT_EQ(ns.claim_class, want) << mode;
      ASSERT_EQ(ns.extents.size(), 1u);
      bool found = false;
      for (const auto& ml : m["labels"])
        if (ml["slot"] == ns.extents[0].slot) {
          found = true;
          EXPECT_EQ(ns.extents[0].dpa, ml["dpa"].get<std::uint64_t>());
          EXPECT_EQ(ns.extents[0].rawsize, ml["rawsize"].get<std::uint64_t>());
          EXPECT_EQ(ns.size, ml["rawsize"].get<std::uint64_t>());
          EXPECT_EQ(ns.isetcookie, ml["isetcookie"].get<std::uint64_t>());
          EXPECT_EQ(ml["flags"].get<int>(), 0);
        }
      EXPECT_TRUE(found);
      EXPECT_GE(j["size"].get<std::uint64_t>(), 0u);
      EXPECT_LE(j["size"].get<std::uint64_t>(), ns.size);  // usable size <= raw size
    }

    // Kernel-written areas are clean: the only finding is ndctl's bitmap rounding.
    for (const auto& f : a->findings) EXPECT_EQ(f.severity(), Severity::Info) << f.to_string();
    EXPECT_TRUE(codes(a->findings).count(Problem::LABEL_BITMAP_NDCTL_TAIL));
  }
}

TEST(LabelAreaImages, ImageFIndexZeroWithSeqOneIsCurrent) {
  auto a = read_qemu_label_area(*image("f-two-namespaces-labels1.2"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->indexes[0].index->seq, 1u);
  EXPECT_EQ(a->indexes[1].index->seq, 3u);
  EXPECT_EQ(a->current.index, 0);
  EXPECT_NE(a->current.explanation.find("best_seq(1, 3) = 1"), std::string::npos);
  EXPECT_EQ(a->find_slot(0)->state, SlotState::Stale);
  EXPECT_EQ(a->find_slot(1)->state, SlotState::Active);
  EXPECT_EQ(a->find_slot(2)->state, SlotState::Active);
  ASSERT_EQ(a->namespaces.size(), 2u);
  std::map<std::string, const LabelNamespace*> by_name;
  for (const auto& ns : a->namespaces) by_name[ns.name] = &ns;
  ASSERT_TRUE(by_name.count("btt-one"));
  ASSERT_TRUE(by_name.count("fsdax-two"));
  EXPECT_EQ(by_name["btt-one"]->uuid.to_string(), "59ba662e-56ce-48b3-b34e-71a0aeda22d3");
  EXPECT_EQ(by_name["btt-one"]->extents[0].dpa, 0u);
  EXPECT_EQ(by_name["btt-one"]->size, 67108864u);
  EXPECT_EQ(by_name["btt-one"]->claim_class, ClaimClass::Btt2);
  EXPECT_EQ(by_name["fsdax-two"]->extents[0].dpa, 67108864u);
  EXPECT_EQ(by_name["fsdax-two"]->extents[0].slot, 2u);
  EXPECT_EQ(by_name["fsdax-two"]->size, 134217728u);
  EXPECT_EQ(by_name["fsdax-two"]->claim_class, ClaimClass::Pfn);
  EXPECT_EQ(by_name["fsdax-two"]->type_guid, guid_pmem_range().efi);
  EXPECT_EQ(a->count(SlotState::Active), 2u);
  EXPECT_EQ(a->count(SlotState::Stale), 1u);
  EXPECT_EQ(a->count(SlotState::Garbage), 0u);
}

TEST(LabelAreaImages, LabellessImageHasNoIndex) {
  const json m = manifest("i-sector4096-labelless");
  EXPECT_TRUE(m["label_area"].is_null());
  const auto dev = image("i-sector4096-labelless");
  auto a = read_label_area(*dev, dev->size() - kQemuDefaultLabelSize, kQemuDefaultLabelSize);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE(a->has_valid_index());
  EXPECT_EQ(a->current.index, -1);
  EXPECT_TRUE(a->slots.empty());
  EXPECT_TRUE(a->namespaces.empty());
  EXPECT_TRUE(codes(a->findings).count(Problem::LABEL_AREA_NO_INDEX)) << all(a->findings);
  EXPECT_FALSE(a->indexes[0].valid);
  EXPECT_FALSE(a->indexes[1].valid);
  EXPECT_TRUE(codes(a->indexes[0].problems).count(Problem::LABEL_INDEX_BAD_SIGNATURE));
}

// ---- crafted damage on image f's area --------------------------------------------------

class LabelAreaDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = image("f-two-namespaces-labels1.2");
    base_ = dev_->size() - kQemuDefaultLabelSize;
    auto b = dev_->read_vec(base_, kQemuDefaultLabelSize);
    ASSERT_TRUE(b);
    area_ = *b;
    opts_.dimm_size = base_;
  }
  LabelArea decode() {
    auto a = decode_label_area(area_, base_, opts_, "f");
    EXPECT_TRUE(a) << a.error().message();
    return *a;
  }
  template <class F>
  void edit_index(int i, F f, bool fix_checksum = true) {
    auto x = *LabelIndex::decode(Bytes(area_).subspan(i * 256, 256));
    f(x);
    if (fix_checksum) x = x.with_checksum();
    const ByteVec b = x.serialize();
    std::copy(b.begin(), b.end(), area_.begin() + i * 256);
  }
  template <class F>
  void edit_label(std::uint32_t slot, F f, bool fix_checksum = true) {
    auto l = *NamespaceLabel::decode(Bytes(area_).subspan(512 + slot * 256, 256), 256);
    f(l);
    if (fix_checksum) l = l.with_checksum();
    const ByteVec b = l.serialize();
    std::copy(b.begin(), b.end(), area_.begin() + 512 + slot * 256);
  }
  DevicePtr dev_;
  std::uint64_t base_ = 0;
  ByteVec area_;
  LabelAreaOptions opts_;
};

TEST_F(LabelAreaDamage, CurrentIndexCorruptOtherIsUsed) {
  area_[100] ^= 0xff;  // index 0's bitmap: its checksum no longer matches
  const LabelArea a = decode();
  EXPECT_FALSE(a.indexes[0].valid);
  EXPECT_TRUE(a.indexes[1].valid);
  EXPECT_EQ(codes(a.indexes[0].problems), std::set<Problem>{Problem::LABEL_INDEX_BAD_CHECKSUM});
  EXPECT_EQ(a.current.index, 1);
  EXPECT_EQ(a.current.why, IndexChoice::OnlyValid);
  const Finding* f = find(a.findings, Problem::LABEL_INDEX_ONE_INVALID);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_EQ(f->where, "index 0");
  EXPECT_EQ(f->offset, base_);
  EXPECT_NE(f->detail.find("index 1 (seq 3) is current"), std::string::npos) << f->detail;
  EXPECT_EQ(problem_info(f->code).repair, RepairAction::RebuildIndexFromOther);
  const Finding* c = find(a.findings, Problem::LABEL_INDEX_BAD_CHECKSUM);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->offset, base_ + 64);
  // Index 1 (the older one) has slots 0 and 1 in use: the UPDATING fsdax-two copy is active.
  EXPECT_EQ(a.find_slot(0)->state, SlotState::Active);
  EXPECT_EQ(a.find_slot(1)->state, SlotState::Active);
  EXPECT_EQ(a.find_slot(2)->state, SlotState::Stale);
  EXPECT_TRUE(codes(a.findings).count(Problem::LABEL_UPDATING_FLAG));
  EXPECT_EQ(a.namespaces.size(), 2u);
}

TEST_F(LabelAreaDamage, BothIndexesCorrupt) {
  area_[100] ^= 0xff;
  edit_index(1, [](LabelIndex& x) { x.myoff = 0; });
  const LabelArea a = decode();
  EXPECT_FALSE(a.has_valid_index());
  EXPECT_TRUE(codes(a.indexes[1].problems).count(Problem::LABEL_INDEX_BAD_MYOFF));
  const Finding* f = find(a.findings, Problem::LABEL_INDEX_BOTH_INVALID);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_NE(f->detail.find("LABEL_INDEX_BAD_CHECKSUM"), std::string::npos);
  EXPECT_NE(f->detail.find("LABEL_INDEX_BAD_MYOFF"), std::string::npos);
  EXPECT_TRUE(a.namespaces.empty());
  // The lost configuration is still readable from the slots.
  EXPECT_EQ(a.count(SlotState::Stale), 3u);
  EXPECT_EQ(a.count(SlotState::Active), 0u);
  std::set<std::string> names;
  for (const auto& ns : a.stale_namespaces) names.insert(ns.name);
  EXPECT_EQ(names, (std::set<std::string>{"btt-one", "fsdax-two"}));
  for (const auto& ns : a.stale_namespaces)
    if (ns.name == "fsdax-two") {
      // Two versions (UPDATING in slot 0, final in slot 2) of one extent: reported once,
      // from the final label.
      ASSERT_EQ(ns.extents.size(), 1u);
      EXPECT_EQ(ns.extents[0].slot, 2u);
      EXPECT_EQ(ns.flags, 0u);
    }
}

TEST_F(LabelAreaDamage, ActiveLabelBadChecksum) {
  area_[512 + 256 + 20] ^= 0x01;  // slot 1 (btt-one) name
  const LabelArea a = decode();
  const LabelSlot* s = a.find_slot(1);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->state, SlotState::Garbage);
  EXPECT_TRUE(s->in_use);
  EXPECT_FALSE(s->kernel_valid);
  const Finding* f = find(a.findings, Problem::LABEL_BAD_CHECKSUM);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_EQ(f->where, "label slot 1");
  EXPECT_EQ(f->offset, base_ + 512 + 256 + 248);
  EXPECT_EQ(f->severity(), Severity::Error);
  EXPECT_FALSE(find(a.findings, Problem::LABEL_BAD_CHECKSUM_CORROBORATED));
  ASSERT_EQ(a.namespaces.size(), 1u);
  EXPECT_EQ(a.namespaces[0].name, "fsdax-two");
}

TEST_F(LabelAreaDamage, BadChecksumCorroboratedByUpdatingCopy) {
  // Only slot 2's checksum bytes are damaged; slot 0 holds the same label with UPDATING.
  area_[512 + 2 * 256 + 250] ^= 0x10;
  const LabelArea a = decode();
  const Finding* f = find(a.findings, Problem::LABEL_BAD_CHECKSUM_CORROBORATED);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_EQ(f->where, "label slot 2");
  EXPECT_NE(f->detail.find("slot 0"), std::string::npos);
  EXPECT_EQ(problem_info(f->code).repair, RepairAction::RewriteChecksum);
  EXPECT_FALSE(find(a.findings, Problem::LABEL_BAD_CHECKSUM));
}

TEST_F(LabelAreaDamage, FlippedFlagBitIsNotCorroborated) {
  // Slot 2's ROLABEL bit flipped: the UPDATING copy in slot 0 differs from it in more than the
  // UPDATING bit, so it vouches for nothing (a checksum rewrite would seal the flipped bit).
  area_[512 + 2 * 256 + 80] ^= 0x01;
  const LabelArea a = decode();
  EXPECT_TRUE(find(a.findings, Problem::LABEL_BAD_CHECKSUM)) << all(a.findings);
  EXPECT_FALSE(find(a.findings, Problem::LABEL_BAD_CHECKSUM_CORROBORATED));
}

TEST_F(LabelAreaDamage, OverlappingDpaRanges) {
  edit_label(1, [](NamespaceLabel& l) { l.rawsize += 4096; });  // btt-one into fsdax-two
  const LabelArea a = decode();
  const Finding* f = find(a.findings, Problem::LABEL_OVERLAP);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_NE(f->detail.find("slot 1"), std::string::npos);
  EXPECT_NE(f->detail.find("slot 2"), std::string::npos);
  EXPECT_EQ(a.namespaces.size(), 2u);
}

TEST_F(LabelAreaDamage, DeletedNamespaceIsStale) {
  edit_index(0, [](LabelIndex& x) { x.set_free(1, true); });  // btt-one deleted
  const LabelArea a = decode();
  EXPECT_EQ(a.find_slot(1)->state, SlotState::Stale);
  EXPECT_NE(a.find_slot(1)->note.find("inactive namespace"), std::string::npos);
  ASSERT_EQ(a.namespaces.size(), 1u);
  ASSERT_EQ(a.stale_namespaces.size(), 1u);
  const LabelNamespace& s = a.stale_namespaces[0];
  EXPECT_EQ(s.name, "btt-one");
  EXPECT_EQ(s.extents[0].dpa, 0u);
  EXPECT_EQ(s.size, 67108864u);
  EXPECT_EQ(s.claim_class, ClaimClass::Btt2);
  const Finding* f = find(a.findings, Problem::LABEL_STALE_NAMESPACE);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), Severity::Info);
}

TEST_F(LabelAreaDamage, DuplicateUuidOnOneDimm) {
  // Slot 3 gets a copy of fsdax-two (slot field fixed) and is marked in use.
  const ByteVec two(area_.begin() + 512 + 2 * 256, area_.begin() + 512 + 3 * 256);
  std::copy(two.begin(), two.end(), area_.begin() + 512 + 3 * 256);
  edit_label(3, [](NamespaceLabel& l) { l.slot = 3; });
  edit_index(0, [](LabelIndex& x) { x.set_free(3, false); });
  const LabelArea a = decode();
  const Finding* f = find(a.findings, Problem::LABEL_DUPLICATE_UUID);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_NE(f->detail.find("slots 2, 3"), std::string::npos) << f->detail;
  EXPECT_FALSE(find(a.findings, Problem::LABEL_OVERLAP));  // same namespace, not an overlap
  ASSERT_EQ(a.namespaces.size(), 2u);
  for (const auto& ns : a.namespaces)
    if (ns.name == "fsdax-two") {
      EXPECT_EQ(ns.extents.size(), 2u);
    }
}

TEST_F(LabelAreaDamage, SlotFieldMismatch) {
  const ByteVec two(area_.begin() + 512 + 2 * 256, area_.begin() + 512 + 3 * 256);
  std::copy(two.begin(), two.end(), area_.begin() + 512 + 3 * 256);  // slot field still 2
  edit_index(0, [](LabelIndex& x) { x.set_free(3, false); });
  const LabelArea a = decode();
  EXPECT_EQ(a.find_slot(3)->state, SlotState::Garbage);
  const Finding* f = find(a.findings, Problem::LABEL_SLOT_MISMATCH);
  ASSERT_NE(f, nullptr) << all(a.findings);
  EXPECT_EQ(f->where, "label slot 3");
  EXPECT_FALSE(find(a.findings, Problem::LABEL_DUPLICATE_UUID));
}

TEST_F(LabelAreaDamage, InUseEmptySlotAndTailBits) {
  edit_index(0, [](LabelIndex& x) {
    x.set_free(7, false);
    x.set_free(700, true);  // past the 64-bit rounding of nslot 510
  });
  const LabelArea a = decode();
  EXPECT_EQ(a.find_slot(7)->state, SlotState::Garbage);
  EXPECT_TRUE(codes(a.findings).count(Problem::LABEL_INUSE_EMPTY)) << all(a.findings);
  const Finding* t = find(a.findings, Problem::LABEL_BITMAP_TAIL_BITS);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->severity(), Severity::Warning);
  EXPECT_EQ(t->offset, base_ + 72 + 700 / 8);
}

TEST_F(LabelAreaDamage, ExtentPastDimm) {
  opts_.dimm_size = 128ull << 20;  // fsdax-two ends at 192 MiB
  const LabelArea a = decode();
  const Finding* f = find(a.findings, Problem::LABEL_EXTENT_OUTSIDE_DIMM);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->where, "label slot 2");
}

TEST_F(LabelAreaDamage, EqualSequenceNumbersPickIndexOne) {
  edit_index(0, [](LabelIndex& x) { x.seq = 2; });
  edit_index(1, [](LabelIndex& x) { x.seq = 2; });
  const LabelArea a = decode();
  EXPECT_EQ(a.current.index, 1);
  EXPECT_EQ(a.current.why, IndexChoice::SeqTie);
  EXPECT_TRUE(codes(a.findings).count(Problem::LABEL_INDEX_SEQ_EQUAL));
}

TEST_F(LabelAreaDamage, FreeSlotGarbageAndBytesPastSlots) {
  area_[512 + 100 * 256 + 3] = 0x5a;  // a free slot holding junk
  const LabelArea a = decode();
  EXPECT_EQ(a.find_slot(100)->state, SlotState::Garbage);
  EXPECT_FALSE(a.find_slot(100)->in_use);
  const Finding* f = find(a.findings, Problem::LABEL_SLOT_GARBAGE);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity(), Severity::Info);
  // Shrinking nslot leaves label bytes beyond the last slot.
  edit_index(0, [](LabelIndex& x) { x.nslot = 3; });
  edit_index(1, [](LabelIndex& x) { x.nslot = 3; });
  const LabelArea b = decode();
  EXPECT_TRUE(codes(b.findings).count(Problem::LABEL_DATA_BEYOND_NSLOT));
  EXPECT_TRUE(codes(b.findings).count(Problem::LABEL_INDEX_NSLOT_FORMULA));
  EXPECT_EQ(b.nslot, 3u);
}

TEST_F(LabelAreaDamage, IndexesDisagree) {
  edit_index(1, [](LabelIndex& x) { x.nslot = 500; });
  const LabelArea a = decode();
  EXPECT_TRUE(codes(a.findings).count(Problem::LABEL_INDEX_MISMATCH));
}

// ---- synthetic areas -------------------------------------------------------------------

ByteVec fresh_area(std::uint64_t cfg, std::uint32_t lsz, LabelFormula f = LabelFormula::Current) {
  const auto g = *label_geometry(cfg, lsz, f);
  ByteVec area(cfg, 0);
  const auto idx = initial_index_blocks(g);
  for (int i = 0; i < 2; ++i) {
    const ByteVec b = idx[i].serialize();
    std::copy(b.begin(), b.end(), area.begin() + i * g.index_size);
  }
  return area;
}

TEST(LabelAreaSynthetic, FreshKernelAreaIsClean) {
  for (std::uint32_t lsz : {128u, 256u}) {
    auto a = decode_label_area(fresh_area(131072, lsz), 0);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->findings.empty()) << all(a->findings);
    EXPECT_EQ(a->current.index, 0);
    EXPECT_EQ(a->label_size(), lsz);
    EXPECT_TRUE(a->slots.empty());
  }
}

TEST(LabelAreaSynthetic, OlderKernelGeometry) {
  // 129 KiB: the v4.6 formula puts index 1 at 512, the current one at 256.
  auto a = decode_label_area(fresh_area(132096, 128, LabelFormula::V4_6), 0);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->has_valid_index());
  EXPECT_EQ(a->geometry->formula, LabelFormula::V4_6);
  EXPECT_EQ(a->index_size(), 512u);
  EXPECT_EQ(a->nslot, 1024u);
  EXPECT_TRUE(codes(a->findings).count(Problem::LABEL_INDEX_OLD_GEOMETRY)) << all(a->findings);
  // An older nslot with the same ISZ is accepted silently except for an Info.
  ByteVec area = fresh_area(131072, 128);
  for (int i = 0; i < 2; ++i) {
    auto x = *LabelIndex::decode(Bytes(area).subspan(i * 256, 256));
    x.nslot = 1016;
    const ByteVec b = x.with_checksum().serialize();
    std::copy(b.begin(), b.end(), area.begin() + i * 256);
  }
  a = decode_label_area(area, 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->nslot, 1016u);
  const Finding* f = find(a->findings, Problem::LABEL_INDEX_NSLOT_FORMULA);
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->detail.find("cfg/(labelsize+1)"), std::string::npos) << f->detail;
}

TEST(LabelAreaSynthetic, V11IndexWithV12IndexPrefers128) {
  // Index 0 says 1.1, index 1 says 1.2: the kernel's 128-byte trial keeps index 0 only.
  ByteVec area = fresh_area(131072, 128);
  const auto g256 = *label_geometry(131072, 256);
  const ByteVec b = initial_index_blocks(g256)[1].serialize();
  std::copy(b.begin(), b.end(), area.begin() + 256);
  auto a = decode_label_area(area, 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->label_size(), 128u);
  EXPECT_EQ(a->current.index, 0);
  EXPECT_EQ(codes(a->indexes[1].problems), std::set<Problem>{Problem::LABEL_INDEX_BAD_LABELSIZE});
}

TEST(LabelAreaSynthetic, CxlArea) {
  const auto g = *label_geometry(131072, 256);
  auto idx = initial_index_blocks(g);
  ByteVec area(131072, 0);
  for (int i = 0; i < 2; ++i) {
    idx[i].major = 2;
    idx[i].minor = 1;
    idx[i].set_free(0, false);
    idx[i].set_free(1, false);
    const ByteVec b = idx[i].with_checksum().serialize();
    std::copy(b.begin(), b.end(), area.begin() + i * 256);
  }
  CxlRegionLabel r;
  r.type = guid_cxl_region().uuid;
  r.uuid = *Uuid::parse("11111111-2222-3333-4444-555555555555");
  r.nlabel = 1;
  r.rawsize = 1 << 28;
  r.slot = 0;
  CxlNamespaceLabel n;
  n.type = guid_cxl_namespace().uuid;
  n.uuid = *Uuid::parse("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  n.nrange = 1;
  n.rawsize = 1 << 28;
  n.slot = 1;
  n.region_uuid = r.uuid;
  n.abstraction_uuid = guid_dax().uuid;
  n.lbasize = 512;
  const ByteVec rb = r.with_checksum().serialize(), nb = n.with_checksum().serialize();
  std::copy(rb.begin(), rb.end(), area.begin() + 512);
  std::copy(nb.begin(), nb.end(), area.begin() + 768);
  auto a = decode_label_area(area, 0);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_cxl());
  ASSERT_NE(a->find_slot(0)->cxl_region(), nullptr);
  ASSERT_NE(a->find_slot(1)->cxl_namespace(), nullptr);
  EXPECT_EQ(a->find_slot(0)->state, SlotState::Active);
  ASSERT_EQ(a->namespaces.size(), 1u);
  EXPECT_TRUE(a->namespaces[0].cxl);
  EXPECT_EQ(a->namespaces[0].claim_class, ClaimClass::Dax);
  EXPECT_EQ(a->namespaces[0].region_uuid, r.uuid);
  for (const auto& f : a->findings) EXPECT_NE(f.severity(), Severity::Error) << f.to_string();

  // Both index checksums broken: nothing is in use, but the CXL labels are still found.
  area[100] ^= 1;
  area[356] ^= 1;
  a = decode_label_area(area, 0);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->has_valid_index());
  EXPECT_TRUE(codes(a->findings).count(Problem::LABEL_INDEX_BOTH_INVALID));
  ASSERT_NE(a->find_slot(1), nullptr);
  ASSERT_NE(a->find_slot(1)->cxl_namespace(), nullptr);
  EXPECT_EQ(a->find_slot(1)->state, SlotState::Stale);
  ASSERT_EQ(a->stale_namespaces.size(), 1u);
  EXPECT_TRUE(a->stale_namespaces[0].cxl);
}

// Two DIMMs of a 2-way interleave set, then one missing and one duplicated position.
TEST(LabelAreaSynthetic, MultiDimmGrouping) {
  auto dimm = [](std::uint16_t pos, std::uint16_t nlabel, const char* name) {
    ByteVec area = fresh_area(131072, 256);
    auto x = *LabelIndex::decode(Bytes(area).first(256));
    x.set_free(0, false);
    const ByteVec ib = x.with_checksum().serialize();
    std::copy(ib.begin(), ib.end(), area.begin());
    NamespaceLabel l;
    l.uuid = *Uuid::parse("01234567-89ab-cdef-0123-456789abcdef");
    std::copy(name, name + std::strlen(name), l.name.begin());
    l.nlabel = nlabel;
    l.position = pos;
    l.isetcookie = 0x1234;
    l.lbasize = 512;
    l.dpa = 0;
    l.rawsize = 1 << 30;
    l.type_guid = guid_pmem_range().efi;
    const ByteVec lb = l.with_checksum().serialize();
    std::copy(lb.begin(), lb.end(), area.begin() + 512);
    return *decode_label_area(area, 0);
  };
  std::vector<LabelArea> areas = {dimm(1, 2, "ns"), dimm(0, 2, "ns")};
  auto rep = group_interleave_sets(areas);
  ASSERT_EQ(rep.namespaces.size(), 1u);
  EXPECT_TRUE(rep.namespaces[0].complete()) << all(rep.findings);
  EXPECT_TRUE(rep.findings.empty());
  EXPECT_EQ(rep.namespaces[0].size, 2ull << 30);
  EXPECT_EQ(rep.namespaces[0].members[0].position, 0);
  EXPECT_EQ(rep.namespaces[0].members[0].area, 1u);
  EXPECT_EQ(rep.namespaces[0].nlabel, 2);

  areas = {dimm(0, 4, "ns"), dimm(2, 4, "other")};
  rep = group_interleave_sets(areas);
  ASSERT_EQ(rep.namespaces.size(), 1u);
  EXPECT_EQ(rep.namespaces[0].missing, (std::vector<std::uint16_t>{1, 3}));
  EXPECT_FALSE(rep.namespaces[0].complete());
  const Finding* m = find(rep.findings, Problem::LABEL_POSITION_MISSING);
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m->detail.find("1, 3"), std::string::npos) << m->detail;
  EXPECT_TRUE(codes(rep.findings).count(Problem::LABEL_SET_MISMATCH));  // names differ

  areas = {dimm(0, 2, "ns"), dimm(0, 2, "ns")};
  rep = group_interleave_sets(areas);
  EXPECT_EQ(rep.namespaces[0].duplicated, (std::vector<std::uint16_t>{0}));
  EXPECT_EQ(rep.namespaces[0].missing, (std::vector<std::uint16_t>{1}));
  EXPECT_TRUE(codes(rep.findings).count(Problem::LABEL_POSITION_DUPLICATE));
  EXPECT_TRUE(group_interleave_sets({}).namespaces.empty());
}

// ---- hostile input ---------------------------------------------------------------------

TEST(LabelAreaRobust, RequestErrors) {
  const ByteVec zero(131072, 0);
  EXPECT_EQ(decode_label_area(Bytes{}, 0).error().code, Errc::kOutOfRange);
  EXPECT_EQ(decode_label_area(Bytes(zero).first(1023), 0).error().code, Errc::kOutOfRange);
  auto dev = make_memory_device(ByteVec(4096, 0));
  auto r = read_label_area(*dev, 0, 1023);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("1024"), std::string::npos) << r.error().message();
  EXPECT_EQ(read_label_area(*dev, 4096, 1024).error().code, Errc::kOutOfRange);
  EXPECT_EQ(read_label_area(*dev, UINT64_MAX - 10, 2048).error().code, Errc::kOutOfRange);
  EXPECT_EQ(read_label_area(*dev, 0, 1ull << 40).error().code, Errc::kUnsupported);
  EXPECT_FALSE(read_qemu_label_area(*dev));  // smaller than 128 KiB
  auto ok = read_label_area(*dev, 0, 4096);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(codes(ok->findings).count(Problem::LABEL_AREA_NO_INDEX));
}

TEST(LabelAreaRobust, ZeroFfAndTruncatedAreas) {
  for (std::uint8_t fill : {std::uint8_t{0}, std::uint8_t{0xff}}) {
    auto a = decode_label_area(ByteVec(131072, fill), 0);
    ASSERT_TRUE(a);
    EXPECT_FALSE(a->has_valid_index());
    EXPECT_TRUE(a->slots.empty());
    EXPECT_TRUE(codes(a->findings).count(Problem::LABEL_AREA_NO_INDEX));
  }
  // A real area cut by one byte: geometry changes, nothing validates the same way, no crash.
  auto f = image("f-two-namespaces-labels1.2");
  ByteVec area = *f->read_vec(f->size() - 131072, 131072);
  for (std::size_t len : {area.size() - 1, std::size_t{4096}, std::size_t{1024}}) {
    auto a = decode_label_area(Bytes(area).first(len), 0);
    ASSERT_TRUE(a);
    (void)a->findings;
  }
}

TEST(LabelAreaRobust, RandomAreasAndMutations) {
  std::mt19937_64 rng(2024);
  auto f = image("f-two-namespaces-labels1.2");
  const ByteVec real = *f->read_vec(f->size() - 131072, 131072);
  for (int it = 0; it < 200; ++it) {
    ByteVec area;
    if (it % 2 == 0) {
      area.resize(1024 + rng() % 8192);
      for (auto& c : area) c = static_cast<std::uint8_t>(rng());
      if (it % 4 == 0) {
        std::copy(kNsIndexSignature.begin(), kNsIndexSignature.end(), area.begin());
        std::copy(kNsIndexSignature.begin(), kNsIndexSignature.end(), area.begin() + 256);
      }
    } else {
      area = real;
      const int flips = 1 + static_cast<int>(rng() % 16);
      for (int k = 0; k < flips; ++k) {
        // Mostly in the indexes and the used slots, sometimes anywhere.
        const std::size_t pos = rng() % 4 ? rng() % 1280 : rng() % area.size();
        area[pos] = static_cast<std::uint8_t>(rng());
      }
      // Sometimes keep a damaged block's checksum valid so later rules get exercised.
      if (rng() % 2)
        for (int i = 0; i < 2; ++i) {
          auto x = *LabelIndex::decode(Bytes(area).subspan(i * 256, 256));
          const ByteVec b = x.with_checksum().serialize();
          std::copy(b.begin(), b.end(), area.begin() + i * 256);
        }
    }
    LabelAreaOptions o;
    if (rng() % 2) o.dimm_size = rng() % (1ull << 30);
    auto a = decode_label_area(area, rng() % 2 ? 0 : UINT64_MAX - area.size(), o);
    ASSERT_TRUE(a);
    for (const auto& s : a->slots) {
      EXPECT_LT(s.slot, std::max<std::uint32_t>(a->nslot, 1));
      EXPECT_EQ(s.raw.size(), a->label_size());
    }
    if (a->has_valid_index()) {
      EXPECT_TRUE(a->indexes[static_cast<std::size_t>(a->current.index)].valid);
    }
    std::vector<LabelArea> v = {*a, *a};
    (void)group_interleave_sets(v);
  }
}

}  // namespace
}  // namespace ndtk
