// The kernel's BTT format as a write plan, the existing-content guard, and the btt-format job.
#include "ndtk/repair/btt_format_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "ndtk/discover/discovery.h"
#include "ndtk/discover/label_area.h"
#include "ndtk/format/btt_log.h"
#include "ndtk/format/pfn_info.h"

namespace ndtk {

Result<BttFormatPlan> plan_btt_format(const BttFormatRequest& req) {
  if (!checked_add(req.namespace_offset, req.namespace_size))
    return fail(Errc::kOutOfRange,
                fmt::format("namespace [{:#x}, +{:#x}) overflows", req.namespace_offset,
                            req.namespace_size));
  BttFormatPlan out;
  NDTK_TRY(arenas,
           kernel_btt_layout(req.namespace_size, req.external_lbasize, req.version, req.nfree));
  out.arenas = std::move(arenas);
  out.external_lbas = btt_total_external_lbas(out.arenas);
  for (const auto& a : out.arenas) {
    const BttInfo info = make_arena_info(a, req.uuid, req.parent_uuid, req.version);
    out.infos.push_back(info);
    const std::uint64_t base = req.namespace_offset + a.offset;
    const std::string arena = fmt::format("arena {}", a.index);
    // btt_map_init: every entry "initial" (identity mapping).
    out.plan.add_zeros(base + a.mapoff, a.logoff - a.mapoff,
                       fmt::format("{}: zero the map ({} entries)", arena, a.external_nlba));
    // btt_log_init: the whole log zeroed, then slot 0 of every lane.
    out.plan.add_zeros(base + a.logoff, a.info2off - a.logoff,
                       fmt::format("{}: zero the log", arena));
    ByteVec groups(std::uint64_t{a.nfree} * kBttLogGroupSize);
    for (std::uint32_t lane = 0; lane < a.nfree; ++lane) {
      const ByteVec g = btt_kernel_initial_log_group(lane, a.external_nlba).serialize();
      std::copy(g.begin(), g.end(), groups.begin() + std::ptrdiff_t{lane} * kBttLogGroupSize);
    }
    out.plan.add(base + a.logoff, std::move(groups),
                 fmt::format("{}: initial log of {} lanes (slot 0 = {{lane, {}+lane, {}+lane, seq "
                             "1}})",
                             arena, a.nfree, a.external_nlba, a.external_nlba));
    // btt_info_write: the backup first, the primary last (the arena's commit record).
    const ByteVec bytes = info.serialize();
    out.plan.add(base + a.info2off, bytes, fmt::format("{}: backup info block (info2)", arena));
    out.plan.add(base, bytes,
                 fmt::format("{}: primary info block, BTT {} {}x{} (commit)", arena,
                             btt_version_name(req.version), a.external_nlba,
                             a.external_lbasize));
  }
  return out;
}

namespace {

constexpr std::array<std::uint8_t, 4> kXfsMagic = {'X', 'F', 'S', 'B'};
constexpr std::array<std::uint8_t, 8> kBtrfsMagic = {'_', 'B', 'H', 'R', 'f', 'S', '_', 'M'};
constexpr std::uint64_t kExtMagicOffset = 1080;
constexpr std::uint64_t kBtrfsMagicOffset = 65600;

/// The bytes at namespace offset `rel`, or nullopt when they lie past the window or are known
/// to be zero (nothing to find there).
Result<std::optional<ByteVec>> window_bytes(const BlockDevice& dev, std::uint64_t ns_offset,
                                            std::uint64_t ns_size, std::uint64_t rel,
                                            std::size_t len) {
  if (!range_fits(rel, len, ns_size)) return std::optional<ByteVec>{};
  if (dev.known_zero(ns_offset + rel, len)) return std::optional<ByteVec>{};
  NDTK_TRY(b, dev.read_vec(ns_offset + rel, len));
  return std::optional<ByteVec>{std::move(b)};
}

bool starts_with(Bytes b, std::span<const std::uint8_t> magic) {
  return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin());
}

}  // namespace

Result<std::vector<ExistingContent>> detect_existing_content(const BlockDevice& dev,
                                                             std::uint64_t ns_offset,
                                                             std::uint64_t ns_size) {
  if (!range_fits(ns_offset, ns_size, dev.size()))
    return fail(Errc::kOutOfRange,
                fmt::format("{}: namespace [{:#x}, +{:#x}) lies outside the image ({:#x} bytes)",
                            dev.name(), ns_offset, ns_size, dev.size()));
  std::vector<ExistingContent> out;
  for (const std::uint64_t at : {std::uint64_t{0}, std::uint64_t{4096}}) {
    NDTK_TRY(b, window_bytes(dev, ns_offset, ns_size, at, kBttInfoSize));
    if (!b) continue;
    if (auto info = BttInfo::decode(*b); info && info->signature_ok()) {
      const auto v = info->version();
      const std::string ver = v ? btt_version_name(*v)
                                : fmt::format("{}.{}", info->version_major, info->version_minor);
      out.push_back({info->checksum_ok()
                         ? fmt::format("a valid BTT {} info block (uuid {})", ver,
                                       info->uuid.to_string())
                         : fmt::format("a BTT {} info block with a bad checksum", ver),
                     ns_offset + at});
    }
    if (at == kPfnInfoOffset) {
      if (starts_with(*b, kPfnSignature))
        out.push_back({"a pfn (fsdax) info block", ns_offset + at});
      else if (starts_with(*b, kDaxSignature))
        out.push_back({"a dax (devdax) info block", ns_offset + at});
    }
    if (at == 0 && starts_with(*b, kXfsMagic)) out.push_back({"an XFS superblock", ns_offset});
  }
  NDTK_TRY(ext, window_bytes(dev, ns_offset, ns_size, kExtMagicOffset, 2));
  if (ext && le16(*ext, 0) == 0xEF53)
    out.push_back({"an ext2/3/4 superblock", ns_offset + kExtMagicOffset});
  NDTK_TRY(btrfs, window_bytes(dev, ns_offset, ns_size, kBtrfsMagicOffset, kBtrfsMagic.size()));
  if (btrfs && starts_with(*btrfs, kBtrfsMagic))
    out.push_back({"a btrfs superblock", ns_offset + kBtrfsMagicOffset});
  std::sort(out.begin(), out.end(),
            [](const ExistingContent& a, const ExistingContent& b) { return a.offset < b.offset; });
  return out;
}

namespace {

Unexpected job_error(const BlockDevice& dev, Errc code, const std::string& what) {
  return fail(code, dev.name() + ": " + what);
}

/// The label namespaces a user can pick, for error messages.
std::string namespace_list(const Discovery& d) {
  std::string s;
  for (const auto& ns : d.namespaces) {
    if (!s.empty()) s += ", ";
    s += ns.uuid.to_string();
    if (!ns.name.empty()) s += " (" + ns.name + ")";
  }
  return s.empty() ? "none" : s;
}

/// The kernel's version choice for a label namespace (nd_btt_version / btt_claim_class).
BttVersion version_for_label(const Discovery& d, const Namespace& ns,
                             std::vector<std::string>& notes) {
  if (ns.claim == ClaimClass::Btt2) return BttVersion::V2_0;
  if (ns.claim == ClaimClass::Btt) return BttVersion::V1_1;
  const bool v12 = d.labels && d.labels->label_size() >= kLabelSizeV12;
  if (v12)
    notes.push_back(fmt::format(
        "note: the label claims {} ({}); the kernel probes a BTT 2.0 only when the label's "
        "abstraction GUID is BTT2 (`ndctl create-namespace -e ... -m sector` rewrites it)",
        claim_class_name(ns.claim), claim_class_mode(ns.claim)));
  return v12 ? BttVersion::V2_0 : BttVersion::V1_1;
}

}  // namespace

Result<BttFormatJob> plan_btt_format_job(const DevicePtr& image, const BttFormatJobOptions& o) {
  const BlockDevice& dev = *image;
  BttFormatJob job;
  if (!btt_kernel_lbasize_supported(o.sector_size))
    return job_error(dev, Errc::kInvalidArgument,
                     fmt::format("sector size {} is not one the kernel BTT supports (512, 520, "
                                 "528, 4096, 4104, 4160, 4224)",
                                 o.sector_size));
  if (o.nfree == 0) return job_error(dev, Errc::kInvalidArgument, "--nfree must be at least 1");
  std::optional<BttVersion> version = o.version;
  Uuid parent;

  if (o.create_namespace) {
    if (o.offset || !o.namespace_id.empty())
      return job_error(dev, Errc::kInvalidArgument,
                       "--create-namespace places the namespace itself: use --size, not "
                       "--offset or --namespace");
    NamespaceCreateRequest req;
    req.label_size = o.label_size.value_or(kQemuDefaultLabelSize);
    if (req.label_size > dev.size())
      return job_error(dev, Errc::kOutOfRange,
                       fmt::format("image of {:#x} bytes cannot hold a {:#x}-byte label area",
                                   dev.size(), req.label_size));
    req.label_offset = o.label_offset.value_or(dev.size() - req.label_size);
    req.dimm_size = req.label_offset;
    req.size = o.size;
    req.uuid = o.parent_uuid.value_or(Uuid::random());
    req.name = o.name;
    // The namespace's sector_size: ndctl sets it only to a size a pmem namespace supports.
    req.lbasize = o.sector_size == 512 || o.sector_size == 4096 ? o.sector_size : 0;
    req.btt_version = o.version;
    req.label_version = o.label_version;
    req.isetcookie = o.isetcookie;
    if (o.serial) req.mapping.serial_number = *o.serial;
    if (o.region_offset) req.mapping.region_offset = *o.region_offset;
    req.force = o.force;
    NDTK_TRY(lp, plan_namespace_create(dev, req));
    job.namespace_offset = lp.dpa;
    job.namespace_size = lp.size;
    parent = lp.label.uuid;
    version = lp.btt_version;
    job.where = fmt::format("new namespace {}{} at DPA {:#x}", parent.to_string(),
                            o.name.empty() ? "" : " (" + o.name + ")", lp.dpa);
    job.notes.push_back(fmt::format(
        "labels: v{} ({} area), isetcookie {} ({:#x}) from {}; label slots {} (UPDATING, freed) "
        "and {} (live)",
        label_version_name(lp.label_version), lp.initialised ? "blank, initialised" : "existing",
        lp.isetcookie, lp.isetcookie, lp.cookie_source, lp.pass1_slot, lp.pass2_slot));
    job.labels = std::move(lp);
  } else if (!o.namespace_id.empty()) {
    if (o.offset || o.size)
      return job_error(dev, Errc::kInvalidArgument,
                       "--namespace and --offset/--size are exclusive");
    DiscoverOptions dopt;
    dopt.label_offset = o.label_offset;
    dopt.label_size = o.label_size;
    NDTK_TRY(d, discover(image, dopt));
    const Namespace* ns = d.find(o.namespace_id);
    if (!ns || !ns->from_labels)
      return job_error(dev, Errc::kNotFound,
                       fmt::format("no label namespace '{}' (namespaces: {})", o.namespace_id,
                                   namespace_list(d)));
    job.namespace_offset = ns->offset;
    job.namespace_size = ns->size;
    parent = ns->uuid;
    if (!version) version = version_for_label(d, *ns, job.notes);
    job.where = fmt::format("namespace {}{}", ns->uuid.to_string(),
                            ns->name.empty() ? "" : " (" + ns->name + ")");
  } else if (o.offset || o.size) {
    const std::uint64_t off = o.offset.value_or(0);
    if (off > dev.size())
      return job_error(dev, Errc::kOutOfRange,
                       fmt::format("--offset {:#x} lies past the end ({:#x} bytes)", off,
                                   dev.size()));
    job.namespace_offset = off;
    job.namespace_size = o.size.value_or(dev.size() - off);
    job.where = fmt::format("window [{:#x}, +{:#x})", off, job.namespace_size);
  } else {
    DiscoverOptions dopt;
    dopt.label_offset = o.label_offset;
    dopt.label_size = o.label_size;
    NDTK_TRY(d, discover(image, dopt));
    if (d.kind == ImageKind::PmemBlkPool)
      return job_error(dev, Errc::kInvalidArgument,
                       "is a PMDK pmemblk pool (its BTT is libpmemblk's); use --offset/--size to "
                       "format a window anyway");
    if (d.kind != ImageKind::Labelless || d.namespaces.size() != 1)
      return job_error(dev, Errc::kInvalidArgument,
                       fmt::format("has a label area: choose --namespace (namespaces: {}), "
                                   "--offset/--size, or --create-namespace",
                                   namespace_list(d)));
    job.namespace_offset = d.namespaces[0].offset;
    job.namespace_size = d.namespaces[0].size;
    job.where = "the label-less namespace (whole image)";
  }

  if (!range_fits(job.namespace_offset, job.namespace_size, dev.size()))
    return job_error(dev, Errc::kOutOfRange,
                     fmt::format("namespace [{:#x}, +{:#x}) lies past the end of the image "
                                 "({:#x} bytes)",
                                 job.namespace_offset, job.namespace_size, dev.size()));
  if (o.parent_uuid) parent = *o.parent_uuid;

  BttFormatRequest& r = job.request;
  r.namespace_offset = job.namespace_offset;
  r.namespace_size = job.namespace_size;
  r.external_lbasize = o.sector_size;
  r.version = version.value_or(BttVersion::V1_1);
  r.nfree = o.nfree;
  r.uuid = o.uuid.value_or(Uuid::random());
  r.parent_uuid = parent;
  auto btt = plan_btt_format(r);
  if (!btt) return fail(std::move(btt).error().prefix(dev.name()));
  job.btt = std::move(*btt);

  NDTK_TRY(found, detect_existing_content(dev, job.namespace_offset, job.namespace_size));
  if (!found.empty() && !o.force)
    return job_error(dev, Errc::kInvalidArgument,
                     fmt::format("refusing to format {}: it holds {} at {:#x}{}; --force "
                                 "overwrites it",
                                 job.where, found[0].what, found[0].offset,
                                 found.size() > 1 ? fmt::format(" (and {} more)", found.size() - 1)
                                                  : std::string()));
  job.overwritten = std::move(found);

  if (job.labels) job.plan.writes = job.labels->plan.writes;
  job.plan.writes.insert(job.plan.writes.end(), job.btt.plan.writes.begin(),
                         job.btt.plan.writes.end());
  return job;
}

std::vector<std::string> describe_plan(const WritePlan& plan) {
  std::vector<std::string> out;
  out.reserve(plan.writes.size());
  for (const auto& w : plan.writes)
    out.push_back(fmt::format("  {:#014x}  {:>12}  {}{}", w.offset, fmt::format("+{:#x}", w.length()),
                              w.zero_length ? "[zeros] " : "", w.what));
  return out;
}

}  // namespace ndtk
