// Fuzz target: a whole label area (index blocks, bitmap, every slot, namespace assembly).
#include "fuzz_common.h"
#include "ndtk/discover/label_area.h"

std::vector<ndtk::ByteVec> fuzz_seeds() {
  using ndtk::fuzz::cut;
  return {cut("kernel/a-sector4096-labels1.1.img.zst", UINT64_MAX, 131072),
          cut("kernel/f-two-namespaces-labels1.2.img.zst", UINT64_MAX, 131072),
          cut("kernel/c-fsdax-labels1.2.img.zst", UINT64_MAX, 4096)};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto area = ndtk::decode_label_area(ndtk::Bytes(data, size), 0);
  if (area) {
    for (const auto& s : area->slots)
      if (s.raw.size() != area->label_size() && area->label_size() != 0)
        ndtk::fuzz::violated("slot raw size differs from the label size");
  }
  return 0;
}
