// BTT map entries: the Z/E state table (code order, not the documentation's swapped table),
// effective post-map, encoders and bounds-checked access to a map area.
#include "ndtk/format/btt_map.h"

#include <gtest/gtest.h>

#include <random>

namespace ndtk {
namespace {

TEST(BttMap, StateFromFlagBits) {
  // Bit 31 is Z (zero), bit 30 is E (error): btt.rst's table has them the other way round.
  EXPECT_EQ(BttMapEntry{0x00000000}.state(), BttMapState::Initial);
  EXPECT_EQ(BttMapEntry{0x00001234}.state(), BttMapState::Initial);
  EXPECT_EQ(BttMapEntry{0x40000007}.state(), BttMapState::Error);
  EXPECT_EQ(BttMapEntry{0x80000007}.state(), BttMapState::Zero);
  EXPECT_EQ(BttMapEntry{0xC0000007}.state(), BttMapState::Normal);
  EXPECT_TRUE(BttMapEntry{0x80000000}.z());
  EXPECT_FALSE(BttMapEntry{0x80000000}.e());
  EXPECT_TRUE(BttMapEntry{0x40000000}.e());
  EXPECT_FALSE(BttMapEntry{0x40000000}.z());
  EXPECT_EQ(BttMapEntry{0xFFFFFFFF}.postmap(), 0x3FFFFFFFu);
  EXPECT_STREQ(btt_map_state_name(BttMapState::Zero), "zero");
  EXPECT_STREQ(btt_map_state_name(BttMapState::Error), "error");
  EXPECT_STREQ(btt_map_state_name(BttMapState::Initial), "initial");
  EXPECT_STREQ(btt_map_state_name(BttMapState::Normal), "normal");
}

TEST(BttMap, EffectivePostmap) {
  // Initial entries map to the identity block whatever their low bits hold.
  EXPECT_EQ(BttMapEntry{0}.effective_postmap(77), 77u);
  EXPECT_EQ(BttMapEntry{0x00000005}.effective_postmap(77), 77u);
  EXPECT_EQ(BttMapEntry{0xC0000005}.effective_postmap(77), 5u);
  // PMDK keeps the block number in zero and error entries.
  EXPECT_EQ(BttMapEntry{0x80000005}.effective_postmap(77), 5u);
  EXPECT_EQ(BttMapEntry{0x40000005}.effective_postmap(77), 5u);
}

TEST(BttMap, Encoders) {
  EXPECT_EQ(BttMapEntry::normal(0x3ee9).raw, 0xC0003EE9u);  // PMDK image, flog pair 0
  EXPECT_EQ(BttMapEntry::error(0x3dc6).raw, 0x40003DC6u);   // pmempool repair value
  EXPECT_EQ(BttMapEntry::zero(3).raw, 0x80000003u);
  EXPECT_EQ(BttMapEntry::initial().raw, 0u);
  // Block numbers are masked to 30 bits, never spilling into the flags.
  EXPECT_EQ(BttMapEntry::normal(0xFFFFFFFF).raw, 0xFFFFFFFFu);
  EXPECT_EQ(BttMapEntry::error(0xFFFFFFFF).state(), BttMapState::Error);
  EXPECT_EQ(BttMapEntry::zero(0xC0000001).raw, 0x80000001u);
  for (auto s :
       {BttMapState::Initial, BttMapState::Error, BttMapState::Zero, BttMapState::Normal}) {
    const auto e = BttMapEntry::with_state(s, 1234);
    EXPECT_EQ(e.state(), s);
    EXPECT_EQ(e.postmap(), 1234u);
  }
  const auto bytes = serialize_map_entry(BttMapEntry{0xC0003EE9});
  EXPECT_EQ(bytes, (std::array<std::uint8_t, 4>{0xE9, 0x3E, 0x00, 0xC0}));
}

TEST(BttMap, AreaAccessRoundTripsAndBoundsChecks) {
  std::mt19937 rng(99);
  ByteVec map(4096);
  for (auto& b : map) b = static_cast<std::uint8_t>(rng());
  const ByteVec original = map;
  for (std::uint64_t i = 0; i < 1024; ++i) {
    auto e = decode_map_entry(map, i);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->raw, le32(map, i * 4));
    ASSERT_TRUE(encode_map_entry(map, i, *e));
  }
  EXPECT_EQ(map, original);

  ASSERT_TRUE(encode_map_entry(map, 3, BttMapEntry::normal(9)));
  EXPECT_EQ(le32(map, 12), 0xC0000009u);
  EXPECT_EQ(decode_map_entry(map, 3)->state(), BttMapState::Normal);

  for (std::uint64_t bad : {std::uint64_t{1024}, std::uint64_t{1} << 62, UINT64_MAX / 4,
                            UINT64_MAX / 4 + 1, UINT64_MAX}) {
    auto e = decode_map_entry(map, bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code, Errc::kOutOfRange);
    auto w = encode_map_entry(map, bad, BttMapEntry::normal(1));
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, Errc::kOutOfRange);
  }
  // A partial trailing entry is out of range too.
  ByteVec odd(7, 0xff);
  EXPECT_TRUE(decode_map_entry(odd, 0));
  EXPECT_FALSE(decode_map_entry(odd, 1));
  EXPECT_FALSE(decode_map_entry(Bytes{}, 0));
}

}  // namespace
}  // namespace ndtk
