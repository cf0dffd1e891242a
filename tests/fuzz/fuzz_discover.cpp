// Fuzz target: whole-image discovery (label area, personality probes, pools, windows).
#include "fuzz_common.h"
#include "ndtk/discover/discovery.h"

std::vector<ndtk::ByteVec> fuzz_seeds() {
  using ndtk::fuzz::cut;
  // Small images: the first 64 KiB of namespaces (info blocks) and a pool head.
  return {cut("kernel/f-two-namespaces-labels1.2.img.zst", 0, 65536),
          cut("kernel/a-sector4096-labels1.1.img.zst", 0, 65536),
          cut("pmdk/blk4096.pool.zst", 0, 65536)};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ndtk;
  auto dev = make_memory_device(ByteVec(data, data + size), "fuzz", false);
  (void)discover(dev);
  DiscoverOptions o;
  o.ns_offset = 0;
  (void)discover(dev, o);
  if (size > 2048) {
    DiscoverOptions l;
    l.label_offset = 0;
    l.label_size = size;
    (void)discover(dev, l);
  }
  return 0;
}
