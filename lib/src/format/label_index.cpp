// Namespace index block decode/serialize/validate and sequence-number selection.
#include "ndtk/format/label_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "ndtk/base/fletcher.h"

namespace ndtk {

namespace {

constexpr std::size_t kSig = offsetof(NamespaceIndexRaw, sig);
constexpr std::size_t kFlags = offsetof(NamespaceIndexRaw, flags);
constexpr std::size_t kLabelsize = offsetof(NamespaceIndexRaw, labelsize);
constexpr std::size_t kSeq = offsetof(NamespaceIndexRaw, seq);
constexpr std::size_t kMyoff = offsetof(NamespaceIndexRaw, myoff);
constexpr std::size_t kMysize = offsetof(NamespaceIndexRaw, mysize);
constexpr std::size_t kOtheroff = offsetof(NamespaceIndexRaw, otheroff);
constexpr std::size_t kLabeloff = offsetof(NamespaceIndexRaw, labeloff);
constexpr std::size_t kNslot = offsetof(NamespaceIndexRaw, nslot);
constexpr std::size_t kMajor = offsetof(NamespaceIndexRaw, major);
constexpr std::size_t kMinor = offsetof(NamespaceIndexRaw, minor);
constexpr std::size_t kChecksum = offsetof(NamespaceIndexRaw, checksum);

constexpr FieldDesc kFields[] = {
    {"sig", kSig, 16},          {"flags", kFlags, 3},       {"labelsize", kLabelsize, 1},
    {"seq", kSeq, 4},           {"myoff", kMyoff, 8},       {"mysize", kMysize, 8},
    {"otheroff", kOtheroff, 8}, {"labeloff", kLabeloff, 8}, {"nslot", kNslot, 4},
    {"major", kMajor, 2},       {"minor", kMinor, 2},       {"checksum", kChecksum, 8},
};


std::string printable_sig(const std::array<std::uint8_t, 16>& s) {
  std::string out = "\"";
  for (auto c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out + "\"";
}

}  // namespace

Result<LabelIndex> LabelIndex::decode(Bytes b) {
  if (b.size() < kNsIndexHeaderSize)
    return fail(field_error(Errc::kTruncated, "namespace index", "", 0,
                            fmt::format("at least {} bytes", kNsIndexHeaderSize),
                            fmt::format("{} bytes", b.size())));
  LabelIndex x;
  std::copy_n(b.begin() + kSig, 16, x.sig.begin());
  std::copy_n(b.begin() + kFlags, 3, x.flags.begin());
  x.labelsize = b[kLabelsize];
  x.seq = le32(b, kSeq);
  x.myoff = le64(b, kMyoff);
  x.mysize = le64(b, kMysize);
  x.otheroff = le64(b, kOtheroff);
  x.labeloff = le64(b, kLabeloff);
  x.nslot = le32(b, kNslot);
  x.major = le16(b, kMajor);
  x.minor = le16(b, kMinor);
  x.checksum = le64(b, kChecksum);
  x.tail.assign(b.begin() + kNsIndexHeaderSize, b.end());
  return x;
}

Result<LabelIndex> LabelIndex::parse(Bytes b) {
  NDTK_TRY(x, decode(b));
  if (!x.has_signature())
    return fail(field_error(Errc::kBadSignature, "namespace index", "sig", kSig,
                            printable_sig(kNsIndexSignature), printable_sig(x.sig)));
  const std::uint64_t sum = x.computed_checksum();
  if (sum != x.checksum)
    return fail(field_error(Errc::kBadChecksum, "namespace index", "checksum", kChecksum, hex(sum),
                            hex(x.checksum)));
  return x;
}

ByteVec LabelIndex::serialize() const {
  ByteVec out(block_size(), 0);
  MutBytes m(out);
  std::copy(sig.begin(), sig.end(), out.begin() + kSig);
  std::copy(flags.begin(), flags.end(), out.begin() + kFlags);
  out[kLabelsize] = labelsize;
  put_le32(m, kSeq, seq);
  put_le64(m, kMyoff, myoff);
  put_le64(m, kMysize, mysize);
  put_le64(m, kOtheroff, otheroff);
  put_le64(m, kLabeloff, labeloff);
  put_le32(m, kNslot, nslot);
  put_le16(m, kMajor, major);
  put_le16(m, kMinor, minor);
  put_le64(m, kChecksum, checksum);
  std::copy(tail.begin(), tail.end(), out.begin() + kNsIndexHeaderSize);
  return out;
}

LabelIndex LabelIndex::with_checksum() const {
  LabelIndex c = *this;
  c.checksum = computed_checksum();
  return c;
}

std::uint64_t LabelIndex::label_size() const {
  if (version() < 102) return 128;
  if (labelsize >= 57) return 0;
  return std::uint64_t{1} << (7 + labelsize);
}

std::optional<std::uint64_t> LabelIndex::computed_checksum(std::uint64_t covered) const {
  if (covered < kNsIndexHeaderSize || covered > block_size()) return std::nullopt;
  const ByteVec bytes = serialize();
  return fletcher64_skip(Bytes(bytes.data(), static_cast<std::size_t>(covered)), kChecksum);
}

std::uint64_t LabelIndex::computed_checksum() const {
  const ByteVec bytes = serialize();
  return fletcher64_skip(bytes, kChecksum);
}

bool LabelIndex::is_free(std::uint64_t slot) const {
  if (slot >= bitmap_capacity()) return true;
  return (tail[slot / 8] >> (slot % 8)) & 1u;
}

void LabelIndex::set_free(std::uint64_t slot, bool free) {
  if (slot >= bitmap_capacity()) return;
  const auto bit = static_cast<std::uint8_t>(1u << (slot % 8));
  if (free)
    tail[slot / 8] |= bit;
  else
    tail[slot / 8] &= static_cast<std::uint8_t>(~bit);
}

std::vector<SlotRange> LabelIndex::used_ranges(std::uint64_t limit) const {
  std::vector<SlotRange> out;
  const std::uint64_t n = std::min<std::uint64_t>({limit, nslot, bitmap_capacity()});
  for (std::uint64_t s = 0; s < n; ++s) {
    if (is_free(s)) continue;
    if (!out.empty() && std::uint64_t{out.back().first} + out.back().count == s)
      ++out.back().count;
    else
      out.push_back({static_cast<std::uint32_t>(s), 1});
  }
  return out;
}

std::vector<std::uint32_t> LabelIndex::used_slots(std::uint64_t limit) const {
  std::vector<std::uint32_t> out;
  for (const auto& r : used_ranges(limit))
    for (std::uint32_t i = 0; i < r.count; ++i) out.push_back(r.first + i);
  return out;
}

std::uint64_t LabelIndex::used_count() const {
  std::uint64_t n = 0;
  for (const auto& r : used_ranges()) n += r.count;
  return n;
}

Findings LabelIndex::validate(int index_number, std::uint64_t config_size,
                              std::uint64_t trial_label_size, std::uint64_t index_size,
                              std::optional<std::uint64_t> at) const {
  Findings f;
  const std::string where = fmt::format("index {}", index_number);
  auto add = [&](Problem p, std::size_t field_off, std::string detail) {
    f.push_back({p, where, std::move(detail), offset_plus(at, field_off)});
  };
  const std::uint64_t me = index_number == 0 ? 0 : 1;
  const std::uint64_t two_isz = index_size > UINT64_MAX / 2 ? UINT64_MAX : 2 * index_size;

  // The kernel rules, in the kernel's order; unlike the kernel we keep going after the first
  // failure so a report names every broken field.
  if (!has_signature())
    add(Problem::LABEL_INDEX_BAD_SIGNATURE, kSig,
        fmt::format("expected {}, found {}", printable_sig(kNsIndexSignature), printable_sig(sig)));
  const std::uint64_t lsz = label_size();
  if (lsz != trial_label_size)
    add(Problem::LABEL_INDEX_BAD_LABELSIZE, kLabelsize,
        fmt::format("version {}.{} labelsize byte {} means {}-byte labels, trying {}", major, minor,
                    labelsize, lsz == 0 ? std::string("no valid") : std::to_string(lsz),
                    trial_label_size));
  const auto sum = computed_checksum(index_size);
  if (!sum)
    add(Problem::LABEL_INDEX_BAD_CHECKSUM, kChecksum,
        fmt::format("block holds {} bytes, the checksum covers {}", block_size(), index_size));
  else if (*sum != checksum)
    add(Problem::LABEL_INDEX_BAD_CHECKSUM, kChecksum,
        fmt::format("stored {}, computed {} over {} bytes", hex(checksum), hex(*sum), index_size));
  if (seq_low() == 0)
    add(Problem::LABEL_INDEX_BAD_SEQ, kSeq, fmt::format("seq {} (low two bits zero)", hex(seq)));
  if (myoff != me * index_size)
    add(Problem::LABEL_INDEX_BAD_MYOFF, kMyoff,
        fmt::format("expected {}, found {}", hex(me * index_size), hex(myoff)));
  if (otheroff != (1 - me) * index_size)
    add(Problem::LABEL_INDEX_BAD_OTHEROFF, kOtheroff,
        fmt::format("expected {}, found {}", hex((1 - me) * index_size), hex(otheroff)));
  if (labeloff != two_isz)
    add(Problem::LABEL_INDEX_BAD_LABELOFF, kLabeloff,
        fmt::format("expected {}, found {} (current kernels check this; ndctl and older kernels "
                    "do not)",
                    hex(two_isz), hex(labeloff)));
  if (mysize < kNsIndexHeaderSize || mysize > index_size)
    add(Problem::LABEL_INDEX_BAD_MYSIZE, kMysize,
        fmt::format("expected {}..{}, found {}", kNsIndexHeaderSize, index_size, hex(mysize)));
  const auto slots_bytes = checked_mul(nslot, trial_label_size);
  const auto need = slots_bytes ? checked_add(*slots_bytes, two_isz) : std::nullopt;
  if (!need || *need > config_size)
    add(Problem::LABEL_INDEX_BAD_NSLOT, kNslot,
        fmt::format("{} slots of {} bytes + 2 index blocks of {} bytes exceed the {}-byte area",
                    nslot, trial_label_size, index_size, config_size));

  // Quirks the kernel does not check.
  if (flags[0] | flags[1] | flags[2])
    add(Problem::LABEL_INDEX_FLAGS_NONZERO, kFlags,
        fmt::format("flags bytes {:02x} {:02x} {:02x}", flags[0], flags[1], flags[2]));
  if (seq > kNsIndexSeqMask)
    add(Problem::LABEL_INDEX_SEQ_HIGH_BITS, kSeq,
        fmt::format("seq {} (only the low two bits, {}, are used)", hex(seq), seq_low()));
  const std::uint32_t v = version();
  if (has_signature() && v != 101 && v != 102 && v != 201)
    add(Problem::LABEL_INDEX_UNKNOWN_VERSION, kMajor, fmt::format("version {}.{}", major, minor));
  return f;
}

bool LabelIndex::kernel_accepts(int index_number, std::uint64_t config_size,
                                std::uint64_t trial_label_size, std::uint64_t index_size) const {
  for (const auto& x : validate(index_number, config_size, trial_label_size, index_size))
    if (x.severity() == Severity::Error) return false;
  return true;
}

Findings LabelIndex::check_bitmap_tail(const std::string& where,
                                       std::optional<std::uint64_t> at) const {
  Findings f;
  const std::uint64_t cap = bitmap_capacity();
  if (std::uint64_t{nslot} > cap) {
    f.push_back({Problem::LABEL_BITMAP_SHORT, where,
                 fmt::format("nslot {} needs {} bitmap bytes, the {}-byte block holds {}", nslot,
                             (std::uint64_t{nslot} + 7) / 8, block_size(), tail.size()),
                 offset_plus(at, kNsIndexFreeOffset)});
    return f;
  }
  // ndctl init-labels sets every bit up to the next multiple of 64; the kernel clears them.
  const std::uint64_t rounded = std::min(align_up(nslot, 64), cap);
  std::uint64_t ndctl_bits = 0;
  for (std::uint64_t s = nslot; s < rounded; ++s) ndctl_bits += is_free(s) ? 1 : 0;
  std::uint64_t stray_bits = 0;
  std::optional<std::uint64_t> first_stray;
  for (std::uint64_t s = rounded; s < cap; ++s) {
    if (is_free(s)) {
      ++stray_bits;
      if (!first_stray) first_stray = s;
    }
  }
  if (stray_bits > 0)
    f.push_back({Problem::LABEL_BITMAP_TAIL_BITS, where,
                 fmt::format("{} bits set at or past bit {} (nslot {}); first at bit {}",
                             stray_bits, rounded, nslot, *first_stray),
                 offset_plus(at, kNsIndexFreeOffset + *first_stray / 8)});
  if (ndctl_bits > 0) {
    const bool all = ndctl_bits == rounded - nslot;
    f.push_back({all ? Problem::LABEL_BITMAP_NDCTL_TAIL : Problem::LABEL_BITMAP_TAIL_BITS, where,
                 fmt::format("{} of bits {}..{} set{}", ndctl_bits, nslot, rounded - 1,
                             all ? " (as ndctl init-labels leaves them)" : ""),
                 offset_plus(at, kNsIndexFreeOffset + nslot / 8)});
  }
  return f;
}

FieldTable LabelIndex::fields() { return kFields; }

std::uint32_t next_seq(std::uint32_t seq) {
  static constexpr std::uint32_t kNext[4] = {0, 2, 3, 1};
  return kNext[seq & kNsIndexSeqMask];
}

std::uint32_t best_seq(std::uint32_t a, std::uint32_t b) {
  a &= kNsIndexSeqMask;
  b &= kNsIndexSeqMask;
  if (a == 0 || a == b) return b;
  if (b == 0) return a;
  if (next_seq(a) == b) return b;
  return a;
}

CurrentIndex select_current_index(bool valid0, std::uint32_t seq0, bool valid1,
                                  std::uint32_t seq1) {
  CurrentIndex c;
  if (!valid0 && !valid1) {
    c.explanation = "neither index is valid";
    return c;
  }
  if (valid0 != valid1) {
    c.index = valid0 ? 0 : 1;
    c.why = IndexChoice::OnlyValid;
    c.explanation = fmt::format("only index {} is valid", c.index);
    return c;
  }
  const std::uint32_t best = best_seq(seq0, seq1);
  c.index = best == (seq1 & kNsIndexSeqMask) ? 1 : 0;
  if ((seq0 & kNsIndexSeqMask) == (seq1 & kNsIndexSeqMask)) {
    c.why = IndexChoice::SeqTie;
    c.explanation = fmt::format("both valid with equal seq {}: the kernel takes index 1", seq1 & 3);
  } else {
    c.why = IndexChoice::BestSeq;
    c.explanation = fmt::format("both valid: best_seq({}, {}) = {} -> index {}", seq0 & 3, seq1 & 3,
                                best, c.index);
  }
  return c;
}

}  // namespace ndtk
