// Fuzz target: BTT info block, log groups (scheme detection, lane validation), map entries.
#include "fuzz_common.h"
#include "ndtk/format/btt_info.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/btt_map.h"

std::vector<ndtk::ByteVec> fuzz_seeds() {
  using ndtk::fuzz::cut;
  return {cut("kernel/a-sector4096-labels1.1.img.zst", 4096, 4096),
          cut("kernel/f-two-namespaces-labels1.2.img.zst", 0, 4096),
          cut("kernel/a-sector4096-labels1.1.img.zst", 268414976, 4096),
          cut("pmdk/blk4096-flog-seq-dup.pool.zst", 67088384, 4096),
          cut("pmdk/blk4096.pool.zst", 8192, 4096)};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ndtk;
  const Bytes b(data, size);
  if (auto info = BttInfo::decode(b)) {
    BttInfoContext ctx;
    ctx.remaining = size * 1000;
    ctx.expected_version = BttVersion::V2_0;
    (void)info->validate(ctx);
    (void)info->validate();
    if (info->serialize() != ByteVec(b.begin(), b.begin() + 4096))
      fuzz::violated("BttInfo serialize(decode(x)) != x");
  }
  const std::uint32_t nfree = static_cast<std::uint32_t>(size / 64);
  if (auto groups = decode_log_groups(b, nfree)) {
    (void)detect_log_indices(*groups);
    BttLaneContext ctx;
    ctx.external_nlba = 1000;
    ctx.internal_nlba = 1256;
    for (std::uint32_t i = 0; i < groups->size() && i < 64; ++i) {
      ctx.lane = i;
      (void)validate_log_lane((*groups)[i], ctx);
    }
  }
  for (std::uint64_t premap = 0; premap < 8; ++premap) (void)decode_map_entry(b, premap);
  (void)decode_map_entry(b, UINT64_MAX / 4);
  return 0;
}
