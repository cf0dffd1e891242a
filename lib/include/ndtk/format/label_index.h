// Namespace index block ("NAMESPACE_INDEX", 72-byte header + free bitmap, FORMATS.md §2.1):
// bit-exact decode/serialize, the kernel's __nd_label_validate rules and current-index choice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ndtk/base/bytes.h"
#include "ndtk/base/field_desc.h"
#include "ndtk/base/finding.h"
#include "ndtk/base/result.h"

namespace ndtk {

inline constexpr std::size_t kNsIndexHeaderSize = 72;
/// Index blocks are a multiple of this many bytes (kernel NSINDEX_ALIGN).
inline constexpr std::uint64_t kNsIndexAlign = 256;
/// Only the low two bits of seq matter (1 -> 2 -> 3 -> 1; 0 is invalid).
inline constexpr std::uint32_t kNsIndexSeqMask = 0x3;
/// 15 characters and a NUL.
inline constexpr std::array<std::uint8_t, 16> kNsIndexSignature = {
    'N', 'A', 'M', 'E', 'S', 'P', 'A', 'C', 'E', '_', 'I', 'N', 'D', 'E', 'X', 0};

/// The 72-byte header as the kernel declares it (struct nd_namespace_index); the free bitmap
/// (free[], 1 bit per slot, set = free) follows at offset 72 and runs to the end of the block.
struct NamespaceIndexRaw {
  std::uint8_t sig[16];
  std::uint8_t flags[3];
  std::uint8_t labelsize;  // log2(label size) - 7; honoured only for version >= 1.2
  std::uint32_t seq;
  std::uint64_t myoff;
  std::uint64_t mysize;
  std::uint64_t otheroff;
  std::uint64_t labeloff;
  std::uint32_t nslot;
  std::uint16_t major;
  std::uint16_t minor;
  std::uint64_t checksum;
};
static_assert(sizeof(NamespaceIndexRaw) == kNsIndexHeaderSize);
static_assert(offsetof(NamespaceIndexRaw, sig) == 0);
static_assert(offsetof(NamespaceIndexRaw, flags) == 16);
static_assert(offsetof(NamespaceIndexRaw, labelsize) == 19);
static_assert(offsetof(NamespaceIndexRaw, seq) == 20);
static_assert(offsetof(NamespaceIndexRaw, myoff) == 24);
static_assert(offsetof(NamespaceIndexRaw, mysize) == 32);
static_assert(offsetof(NamespaceIndexRaw, otheroff) == 40);
static_assert(offsetof(NamespaceIndexRaw, labeloff) == 48);
static_assert(offsetof(NamespaceIndexRaw, nslot) == 56);
static_assert(offsetof(NamespaceIndexRaw, major) == 60);
static_assert(offsetof(NamespaceIndexRaw, minor) == 62);
static_assert(offsetof(NamespaceIndexRaw, checksum) == 64);
inline constexpr std::size_t kNsIndexFreeOffset = kNsIndexHeaderSize;

/// Bytes an index block needs to describe `nslot` slots: ALIGN(72 + ceil(nslot/8), 256)
/// (kernel __sizeof_namespace_index). Saturates instead of overflowing.
constexpr std::uint64_t index_block_size_for_slots(std::uint64_t nslot) {
  const std::uint64_t bytes = nslot / 8 + (nslot % 8 != 0);
  if (bytes > UINT64_MAX - kNsIndexHeaderSize - kNsIndexAlign) return UINT64_MAX;
  return align_up(kNsIndexHeaderSize + bytes, kNsIndexAlign);
}

/// A run of consecutive slots [first, first+count).
struct SlotRange {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
  bool operator==(const SlotRange&) const = default;
};

/// One whole index block (header + free bitmap + padding), host-endian. `tail` holds every byte
/// after the header, so serialize(decode(x)) == x for any input of at least 72 bytes.
struct LabelIndex {
  std::array<std::uint8_t, 16> sig{};
  std::array<std::uint8_t, 3> flags{};
  std::uint8_t labelsize = 0;
  std::uint32_t seq = 0;
  std::uint64_t myoff = 0;
  std::uint64_t mysize = 0;
  std::uint64_t otheroff = 0;
  std::uint64_t labeloff = 0;
  std::uint32_t nslot = 0;
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
  std::uint64_t checksum = 0;
  ByteVec tail;  // free bitmap from offset 72, then padding up to the block size

  /// Decode a whole index block (normally ISZ bytes). Fails only if `block` < 72 bytes.
  static Result<LabelIndex> decode(Bytes block);
  /// decode + identity checks: signature, then checksum over all of `block`.
  static Result<LabelIndex> parse(Bytes block);

  /// The block bit for bit (72 + tail.size() bytes).
  ByteVec serialize() const;
  /// A copy whose checksum field holds computed_checksum().
  LabelIndex with_checksum() const;
  std::size_t block_size() const { return kNsIndexHeaderSize + tail.size(); }

  bool has_signature() const { return sig == kNsIndexSignature; }
  /// major*100 + minor (the kernel's version number: 101, 102, 201).
  std::uint32_t version() const { return std::uint32_t{major} * 100 + minor; }
  /// Label size per the version rule: < 1.2 always 128, else 1 << (7 + labelsize). 0 if the
  /// labelsize byte is too large to describe any size (>= 57).
  std::uint64_t label_size() const;
  /// seq & 3.
  std::uint32_t seq_low() const { return seq & kNsIndexSeqMask; }

  /// Fletcher64 over the first `covered` bytes with the checksum field taken as zero; nullopt
  /// if the block is shorter than `covered` or `covered` < 72.
  std::optional<std::uint64_t> computed_checksum(std::uint64_t covered) const;
  /// Fletcher64 over the whole block (the usual case: the block was decoded from ISZ bytes).
  std::uint64_t computed_checksum() const;
  bool checksum_ok() const { return computed_checksum() == checksum; }

  /// How many slot bits the stored bitmap can hold.
  std::uint64_t bitmap_capacity() const { return std::uint64_t{tail.size()} * 8; }
  /// True iff the slot's bit is set (slot free). Bits past the stored block read as set
  /// ("free"): nothing in this block claims those slots.
  bool is_free(std::uint64_t slot) const;
  /// Slots in [0, min(limit, nslot)) whose bit is clear, as maximal runs.
  std::vector<SlotRange> used_ranges(std::uint64_t limit = UINT64_MAX) const;
  /// Every used slot in [0, min(limit, nslot)), ascending.
  std::vector<std::uint32_t> used_slots(std::uint64_t limit = UINT64_MAX) const;
  /// Number of clear bits in [0, nslot) (slots in use).
  std::uint64_t used_count() const;
  /// Set or clear a slot's bit (no-op past the stored block).
  void set_free(std::uint64_t slot, bool free);

  /// The kernel's __nd_label_validate checks (FORMATS.md §2.3) for index `index_number` (0/1)
  /// of a label area of `config_size` bytes, assuming labels of `trial_label_size` bytes and
  /// index blocks of `index_size` bytes (geometry/label_geometry.h computes the current
  /// kernel's value; see validate_index() there for the three-argument form). Each failed
  /// rule is one Error finding; the kernel accepts the block iff no Error finding is returned.
  /// Further Warning/Info findings describe quirks the kernel ignores (flags, seq high bits,
  /// bitmap tail). `at` = absolute image offset of the block, for Finding.offset.
  Findings validate(int index_number, std::uint64_t config_size, std::uint64_t trial_label_size,
                    std::uint64_t index_size, std::optional<std::uint64_t> at = std::nullopt) const;
  /// Only the kernel rules: true iff the kernel would accept this block.
  bool kernel_accepts(int index_number, std::uint64_t config_size, std::uint64_t trial_label_size,
                      std::uint64_t index_size) const;
  /// Findings about the free bitmap beyond nslot (set bits, non-zero padding) and a block too
  /// small for nslot bits. Not part of validate() so callers can report it once per area.
  Findings check_bitmap_tail(const std::string& where,
                             std::optional<std::uint64_t> at = std::nullopt) const;

  /// Field table of the 72-byte header, for annotation and per-field corruption tests.
  static FieldTable fields();

  bool operator==(const LabelIndex&) const = default;
};

/// Next sequence number in the cycle 1 -> 2 -> 3 -> 1 (0 stays 0), kernel nd_inc_seq.
std::uint32_t next_seq(std::uint32_t seq);
/// The kernel's best_seq(a, b): which of two sequence numbers (low 2 bits) is newer. When they
/// are equal the second wins.
std::uint32_t best_seq(std::uint32_t a, std::uint32_t b);

/// Why a particular index is current.
enum class IndexChoice {
  None,       // neither index valid: label-less
  OnlyValid,  // exactly one valid index
  BestSeq,    // both valid, best_seq picked one
  SeqTie,     // both valid with equal seq: the kernel takes index 1
};

struct CurrentIndex {
  int index = -1;  // 0, 1, or -1 when none is valid
  IndexChoice why = IndexChoice::None;
  std::string explanation;  // "index 0 only valid", "best_seq(1, 3) = 1 -> index 0", ...
};

/// Current-index selection exactly as __nd_label_validate does (FORMATS.md §2.4).
CurrentIndex select_current_index(bool valid0, std::uint32_t seq0, bool valid1, std::uint32_t seq1);

}  // namespace ndtk
