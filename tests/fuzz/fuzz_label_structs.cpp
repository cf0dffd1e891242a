// Fuzz target: index block, EFI v1.1/v1.2 and CXL labels on their own; decode must round-trip.
#include "fuzz_common.h"
#include "ndtk/format/cxl_label.h"
#include "ndtk/format/label_index.h"
#include "ndtk/format/namespace_label.h"

std::vector<ndtk::ByteVec> fuzz_seeds() {
  using ndtk::fuzz::cut;
  const std::uint64_t a_lsa = 268435456, f_lsa = 268435456;
  return {cut("kernel/a-sector4096-labels1.1.img.zst", a_lsa, 256),
          cut("kernel/a-sector4096-labels1.1.img.zst", a_lsa + 512, 128),
          cut("kernel/f-two-namespaces-labels1.2.img.zst", f_lsa, 256),
          cut("kernel/f-two-namespaces-labels1.2.img.zst", f_lsa + 512 + 256, 256)};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ndtk;
  const Bytes b(data, size);
  if (auto idx = LabelIndex::decode(b)) {
    (void)idx->validate(0, 131072, 256, 256);
    (void)idx->validate(1, size, 128, size);
    if (idx->serialize() != ByteVec(b.begin(), b.begin() + static_cast<long>(idx->serialize().size())))
      fuzz::violated("LabelIndex serialize(decode(x)) != x");
  }
  for (std::size_t ls : {std::size_t{128}, std::size_t{256}}) {
    if (auto l = NamespaceLabel::decode(b, ls)) {
      (void)l->validate(3);
      if (l->serialize() != ByteVec(b.begin(), b.begin() + static_cast<long>(ls)))
        fuzz::violated("NamespaceLabel serialize(decode(x)) != x");
    }
  }
  if (auto c = CxlNamespaceLabel::decode(b)) (void)c->validate(1);
  if (auto r = CxlRegionLabel::decode(b)) (void)r->validate(1);
  return 0;
}
