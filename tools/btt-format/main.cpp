// btt-format: lay out a BTT exactly as the Linux kernel does, offline, optionally in a new
// namespace written into the DIMM's labels first. Exit status: 0 done (or dry run), 1 refused
// or failed (nothing written), 2 usage error.
#include <filesystem>
#include <iostream>
#include <string>

#include "ndtk/io/undo.h"
#include "ndtk/repair/btt_format_plan.h"
#include "tool_common.h"

namespace {

constexpr const char* kTool = "btt-format";
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::optional<std::uint64_t> number_arg(const std::string& s, const char* what, bool& bad) {
  if (s.empty()) return std::nullopt;
  auto v = ndtk::tool::parse_size(s);
  if (!v) {
    ndtk::tool::print_error(kTool, std::string(what) + ": not a number: '" + s + "'");
    bad = true;
  }
  return v;
}

std::optional<ndtk::Uuid> uuid_arg(const std::string& s, const char* what, bool& bad) {
  if (s.empty()) return std::nullopt;
  auto u = ndtk::Uuid::parse(s);
  if (!u) {
    ndtk::tool::print_error(kTool, std::string(what) + ": not a uuid: '" + s + "'");
    bad = true;
  }
  return u;
}

int rollback(const std::string& image, const std::string& undo_path) {
  auto undo = ndtk::load_undo(undo_path);
  if (!undo) return ndtk::tool::print_error(kTool, undo.error()), kExitFailed;
  auto dev = ndtk::open_image(image, ndtk::OpenMode::ReadWrite);
  if (!dev) return ndtk::tool::print_error(kTool, dev.error()), kExitFailed;
  if (auto r = ndtk::apply_undo(*undo, **dev); !r)
    return ndtk::tool::print_error(kTool, r.error()), kExitFailed;
  std::error_code ec;
  std::filesystem::remove(undo_path, ec);
  std::cout << image << ": restored " << undo->records.size() << " ranges from " << undo_path
            << " (removed)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Format a BTT (sector mode) the way the Linux kernel does: same arenas, offsets, map and log\n"
      "initialisation, info2 then the primary info block last. The namespace is a window\n"
      "(--offset/--size), a label namespace (--namespace), the whole label-less image, or a new\n"
      "namespace written into the DIMM's labels first (--create-namespace). Prints every write;\n"
      "saves an undo file before writing. Exit: 0 done, 1 refused/failed, 2 usage.",
      kTool};
  std::string image, version, label_version, uuid_s, parent_s, undo_path;
  ndtk::BttFormatJobOptions o;
  ndtk::tool::ImageLocation loc;
  bool dry_run = false;
  bool do_rollback = false;
  std::string cookie_s, serial_s, region_s;
  app.add_option("IMAGE", image, "Image file (raw; .zst images are read-only)")->required();
  ndtk::tool::add_location_options(app, loc, /*labels=*/true, /*window=*/true);
  app.add_option("--sector-size", o.sector_size, "512, 520, 528, 4096, 4104, 4160 or 4224");
  app.add_option("--version", version, "BTT version (default: as the kernel picks it)")
      ->check(CLI::IsMember({"1.1", "2.0"}));
  app.add_option("--nfree", o.nfree, "Free blocks / log lanes per arena (kernel: 256)");
  app.add_option("--uuid", uuid_s, "BTT uuid (default: random)");
  app.add_option("--parent-uuid", parent_s,
                 "parent uuid (default: the namespace's label uuid; with --create-namespace the "
                 "new namespace's uuid)");
  app.add_flag("--dry-run", dry_run, "Print the plan, write nothing");
  app.add_flag("--force", o.force,
               "Overwrite existing BTT/pfn/filesystem content or an existing undo file");
  app.add_flag("--create-namespace", o.create_namespace,
               "Write labels for a new namespace first (ndctl create-namespace -m sector)");
  app.add_option("--name", o.name, "Name of the new namespace");
  app.add_option("--label-version", label_version, "Labels for a blank label area (default 1.2)")
      ->check(CLI::IsMember({"1.1", "1.2"}));
  app.add_option("--isetcookie", cookie_s, "Interleave-set cookie for the new label");
  app.add_option("--serial", serial_s, "NFIT serial for the computed cookie (default 0x123456)");
  app.add_option("--region-offset", region_s, "NFIT region offset for the cookie (default 0)");
  app.add_option("--undo", undo_path, "Undo file (default: IMAGE.ndtk-undo)");
  app.add_flag("--rollback", do_rollback, "Restore IMAGE from its undo file and remove it");
  if (auto rc = ndtk::tool::parse_args(app, argc, argv, kExitUsage)) return *rc;
  if (undo_path.empty()) undo_path = image + ".ndtk-undo";
  if (do_rollback) return rollback(image, undo_path);
  bool bad = false;
  o.uuid = uuid_arg(uuid_s, "--uuid", bad);
  o.parent_uuid = uuid_arg(parent_s, "--parent-uuid", bad);
  o.isetcookie = number_arg(cookie_s, "--isetcookie", bad);
  const auto serial = number_arg(serial_s, "--serial", bad);
  o.region_offset = number_arg(region_s, "--region-offset", bad);
  if (serial && *serial > UINT32_MAX)
    ndtk::tool::print_error(kTool, "--serial: more than 32 bits"), bad = true;
  if (o.sector_size == 0) ndtk::tool::print_error(kTool, "--sector-size is required"), bad = true;
  if (bad) return kExitUsage;
  if (!version.empty())
    o.version = version == "2.0" ? ndtk::BttVersion::V2_0 : ndtk::BttVersion::V1_1;
  if (!label_version.empty())
    o.label_version = label_version == "1.1" ? ndtk::LabelVersion::V1_1 : ndtk::LabelVersion::V1_2;
  if (serial) o.serial = static_cast<std::uint32_t>(*serial);
  o.offset = loc.offset;
  o.size = loc.size;
  o.namespace_id = loc.namespace_uuid;
  o.label_offset = loc.label_offset;
  o.label_size = loc.label_size;

  auto dev = ndtk::open_image(image, dry_run ? ndtk::OpenMode::ReadOnly : ndtk::OpenMode::ReadWrite);
  if (!dev) return ndtk::tool::print_error(kTool, dev.error()), kExitFailed;
  auto job = ndtk::plan_btt_format_job(*dev, o);
  if (!job) return ndtk::tool::print_error(kTool, job.error()), kExitFailed;

  const auto& r = job->request;
  std::cout << image << ": " << job->where << ", BTT " << ndtk::btt_version_name(r.version)
            << ", " << r.external_lbasize << "-byte sectors, " << job->btt.arenas.size()
            << " arena(s), " << job->btt.external_lbas << " sectors\n"
            << "  btt uuid " << r.uuid.to_string() << ", parent uuid "
            << r.parent_uuid.to_string() << "\n";
  for (const auto& n : job->notes) std::cout << "  " << n << "\n";
  for (const auto& c : job->overwritten)
    std::cout << "  warning (--force): overwriting " << c.what << " at " << ndtk::hex(c.offset)
              << "\n";
  std::cout << "plan (" << job->plan.writes.size() << " writes, in order):\n";
  for (const auto& line : ndtk::describe_plan(job->plan)) std::cout << line << "\n";
  if (dry_run) return std::cout << "dry run: nothing written\n", 0;

  if (std::filesystem::exists(undo_path) && !o.force) {
    ndtk::tool::print_error(kTool, undo_path + ": undo file exists (roll back with --rollback, "
                                               "or --force to replace it); nothing written");
    return kExitFailed;
  }
  if (auto a = ndtk::apply_plan(**dev, job->plan, {undo_path, kTool}); !a)
    return ndtk::tool::print_error(kTool, a.error()), kExitFailed;
  std::cout << "done; undo saved to " << undo_path << " (btt-format --rollback " << image
            << ")\n";
  return 0;
}
