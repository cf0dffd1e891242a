// open_btt_image: decide where the namespace is (pmemblk pool, explicit window, whole image),
// map it (PROT_READ, libpmem, or an in-memory copy of a .zst image) and open the BTT.
#include "ndtk/btt/btt_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "ndtk/discover/discovery.h"
#include "ndtk/format/pmdk_pool.h"
#include "ndtk/io/file_util.h"
#include "ndtk/io/pmem_map.h"

namespace ndtk {

const char* btt_container_name(BttContainer c) {
  switch (c) {
    case BttContainer::PmemBlkPool: return "pmemblk pool";
    case BttContainer::Window: return "namespace window";
    case BttContainer::Namespace: return "namespace";
    case BttContainer::WholeImage: return "whole image";
  }
  return "unknown";
}

bool is_zstd_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::uint8_t magic[4] = {};
  return ::pread(fd.get(), magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
         magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD;
}

namespace {

struct Plan {
  BttOpenOptions open;
  BttContainer container = BttContainer::WholeImage;
  std::uint64_t ns_offset = 0;
  std::uint64_t ns_size = 0;
};

/// `head` holds the first bytes of the image (at least 8 KiB when the image is that large).
Result<Plan> plan_namespace(Bytes head, std::uint64_t image_size, const std::string& name,
                            const BttImageOptions& o) {
  Plan p;
  if (o.offset || o.size) {
    p.container = BttContainer::Window;
    p.ns_offset = o.offset.value_or(0);
    if (p.ns_offset >= image_size)
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: namespace offset {:#x} lies past the end of the image ({:#x} "
                              "bytes)",
                              name, p.ns_offset, image_size));
    p.ns_size = o.size.value_or(image_size - p.ns_offset);
    if (!range_fits(p.ns_offset, p.ns_size, image_size) || p.ns_size == 0)
      return fail(Errc::kOutOfRange,
                  fmt::format("{}: namespace window [{:#x}, +{:#x}) lies past the end of the "
                              "image ({:#x} bytes)",
                              name, p.ns_offset, p.ns_size, image_size));
    p.open.flavor = o.flavor.value_or(BttFlavor::Kernel);
  } else if (head.size() >= kPmemBlkSignature.size() &&
             std::equal(kPmemBlkSignature.begin(), kPmemBlkSignature.end(), head.begin())) {
    p.container = BttContainer::PmemBlkPool;
    const std::uint64_t btt_off = pmemblk_btt_offset();
    if (head.size() < btt_off || image_size <= btt_off)
      return fail(Errc::kTruncated,
                  fmt::format("{}: pmemblk pool of {:#x} bytes is too short to hold a BTT", name,
                              image_size));
    NDTK_TRY(hdr, PoolHeader::decode(head.first(kPoolHdrSize)));
    NDTK_TRY(desc, PmemBlkDesc::decode(head.subspan(pmemblk_desc_offset())));
    if (desc.bsize == 0)
      return Unexpected{field_error(Errc::kBadField, name + ": pmemblk descriptor", "bsize",
                                    pmemblk_desc_offset(), "> 0", "0")};
    p.ns_offset = btt_off;
    p.ns_size = image_size - btt_off;
    p.open.flavor = o.flavor.value_or(BttFlavor::Pmdk);
    p.open.parent_uuid = hdr.poolset_uuid;
    p.open.expected_lbasize = desc.bsize;
    p.open.allow_unformatted = true;
    p.open.pool_is_zeroed = desc.is_zeroed != 0;
  } else {
    p.container = BttContainer::WholeImage;
    p.ns_offset = 0;
    p.ns_size = image_size;
    p.open.flavor = o.flavor.value_or(BttFlavor::Kernel);
  }
  if (o.parent_uuid) p.open.parent_uuid = o.parent_uuid;
  p.open.arena0_offset = o.arena0_offset;
  p.open.writable = o.writable;
  p.open.lanes = o.lanes;
  return p;
}

}  // namespace

Result<BttImage> open_btt_device_copy(const BlockDevice& dev, const BttImageOptions& opts) {
  if (opts.writable)
    return fail(Errc::kReadOnly,
                dev.name() + ": compressed image: the data path needs the raw bytes to write; "
                             "decompress it first (zstd -d --sparse)");
  if (dev.size() == 0) return fail(Errc::kOutOfRange, dev.name() + ": empty image");
  NDTK_TRY(head, dev.read_vec(0, static_cast<std::size_t>(std::min<std::uint64_t>(
                                     dev.size(), pmemblk_btt_offset()))));
  NDTK_TRY(plan, plan_namespace(head, dev.size(), dev.name(), opts));
  NDTK_TRY(copy, PmemMapping::copy_of(dev, plan.ns_offset, plan.ns_size));
  BttOpenOptions o = plan.open;
  o.namespace_offset = 0;
  o.namespace_size = plan.ns_size;
  o.writable = false;
  NDTK_TRY(device, BttDevice::open(make_mapped_region(std::move(copy)), o));
  return BttImage{std::move(device), plan.container, plan.ns_offset, plan.ns_size, true, {}, {}};
}

Result<BttImage> open_btt_image(const std::string& path, const BttImageOptions& opts) {
  if (is_zstd_file(path)) {
    if (opts.writable)
      return fail(Errc::kUnsupported,
                  fmt::format("{}: zstd-compressed image cannot be written in place; decompress "
                              "it first (zstd -d --sparse '{}')",
                              path, path));
    NDTK_TRY(dev, open_image(path, OpenMode::ReadOnly));
    return open_btt_device_copy(*dev, opts);
  }
  MapOptions mo;
  mo.access = opts.writable ? MapAccess::ReadWrite : MapAccess::ReadOnly;
  NDTK_TRY(mapping, PmemMapping::open(path, mo));
  const Bytes head = mapping.bytes().first(
      static_cast<std::size_t>(std::min<std::uint64_t>(mapping.size(), pmemblk_btt_offset())));
  NDTK_TRY(plan, plan_namespace(head, mapping.size(), path, opts));
  BttOpenOptions o = plan.open;
  o.namespace_offset = plan.ns_offset;
  o.namespace_size = plan.ns_size;
  NDTK_TRY(device, BttDevice::open(make_mapped_region(std::move(mapping), opts.durability), o));
  return BttImage{std::move(device), plan.container, plan.ns_offset, plan.ns_size, false, {}, {}};
}

Result<BttImage> open_btt_in_image(const std::string& path, const BttLocate& where,
                                   BttImageOptions opts) {
  NDTK_TRY(dev, open_image(path, OpenMode::ReadOnly));
  const bool window = opts.offset || opts.size;
  bool pool = false;
  if (!window && dev->size() >= kPmemBlkSignature.size()) {
    NDTK_TRY(sig, dev->read_vec(0, kPmemBlkSignature.size()));
    pool = std::equal(sig.begin(), sig.end(), kPmemBlkSignature.begin());
  }
  if (!where.namespace_key.empty() && (window || pool))
    return fail(Errc::kInvalidArgument,
                path + (pool ? ": a pmemblk pool holds one BTT; --namespace does not apply"
                             : ": choose the namespace either by uuid or by --offset/--size"));
  std::optional<Uuid> chosen_uuid;
  std::string chosen_name;
  if (!window && !pool) {
    DiscoverOptions d;
    d.label_offset = where.label_offset;
    d.label_size = where.label_size;
    auto disc = discover(dev, d);
    if (!disc && !where.namespace_key.empty()) return Unexpected{std::move(disc).error()};
    const Namespace* chosen = nullptr;
    if (disc) {
      std::string present;
      std::vector<const Namespace*> sectors;
      for (const Namespace& ns : disc->namespaces) {
        present += fmt::format("{}{} ({}{}{})", present.empty() ? "" : ", ",
                               ns.uuid.is_zero() ? "label-less" : ns.uuid.to_string(),
                               ns_mode_name(ns.mode), ns.name.empty() ? "" : ", ", ns.name);
        if (ns.btt) sectors.push_back(&ns);
      }
      if (!where.namespace_key.empty()) {
        chosen = disc->find(where.namespace_key);
        if (!chosen)
          return fail(Errc::kNotFound,
                      fmt::format("{}: no namespace '{}' (present: {})", path,
                                  where.namespace_key, present.empty() ? "none" : present));
        if (!chosen->btt)
          return fail(Errc::kNotPresent,
                      fmt::format("{}: namespace '{}' is in {} mode, not a BTT{}{}", path,
                                  where.namespace_key, ns_mode_name(chosen->mode),
                                  chosen->personality_note.empty() ? "" : ": ",
                                  chosen->personality_note));
      } else if (sectors.size() > 1) {
        return fail(Errc::kInvalidArgument,
                    fmt::format("{}: several BTT namespaces; choose one with --namespace "
                                "(present: {})",
                                path, present));
      } else if (sectors.size() == 1) {
        chosen = sectors.front();
      }
    }
    if (chosen) {
      opts.offset = chosen->offset;
      opts.size = chosen->size;
      if (!opts.arena0_offset) opts.arena0_offset = chosen->btt->info_offset;
      if (!opts.parent_uuid && chosen->from_labels && !chosen->uuid.is_zero())
        opts.parent_uuid = chosen->uuid;
      chosen_uuid = chosen->uuid;
      chosen_name = chosen->name;
    }
  }
  auto img = is_zstd_file(path) ? open_btt_device_copy(*dev, opts) : open_btt_image(path, opts);
  if (img && chosen_uuid) {
    img->container = BttContainer::Namespace;
    img->namespace_uuid = *chosen_uuid;
    img->namespace_name = chosen_name;
  }
  return img;
}

}  // namespace ndtk
