// Fuzz target: pfn/dax info block (with the kernel's validation) and the PMDK pool header.
#include "fuzz_common.h"
#include "ndtk/format/pfn_info.h"
#include "ndtk/format/pmdk_pool.h"

std::vector<ndtk::ByteVec> fuzz_seeds() {
  using ndtk::fuzz::cut;
  return {cut("kernel/c-fsdax-labels1.2.img.zst", 4096, 4096),
          cut("kernel/f-two-namespaces-labels1.2.img.zst", 67112960, 4096),
          cut("pmdk/blk4096.pool.zst", 0, 12288)};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ndtk;
  const Bytes b(data, size);
  if (auto p = PfnInfo::decode(b)) {
    (void)p->validate();
    for (std::uint64_t start : {std::uint64_t{0}, std::uint64_t{4096}, UINT64_MAX - 4095}) {
      PfnNamespace ns;
      ns.start = start;
      ns.size = size > 8 ? le64(b, size - 8) : 0;
      (void)kernel_validate(*p, ns);
    }
    if (p->serialize() != ByteVec(b.begin(), b.begin() + 4096))
      fuzz::violated("PfnInfo serialize(decode(x)) != x");
  }
  if (auto h = PoolHeader::decode(b)) (void)h->validate();
  auto dev = make_memory_device(ByteVec(b.begin(), b.end()), "fuzz", false);
  (void)read_pmemblk_pool(*dev);
  return 0;
}
