// btt-dump: read sectors out of the BTT in an image exactly as the kernel (or libpmemblk, for a
// pmemblk pool) would return them, or summarise the BTT. Never writes to the image.
// Exit status: 0 success, 1 some sectors were error-flagged (zeros written in their place),
// 2 usage error, unreadable image, no BTT, or range past the end.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "ndtk/btt/btt_image.h"
#include "tool_common.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitMediaErrors = 1;
constexpr int kExitFailure = 2;
constexpr const char* kTool = "btt-dump";
constexpr std::uint64_t kChunkSectors = 256;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr && f != stdout) std::fclose(f);
  }
};

void print_summary(const ndtk::BttImage& img) {
  const ndtk::BttDevice& dev = img.device;
  std::string what = ndtk::btt_container_name(img.container);
  if (img.container == ndtk::BttContainer::Namespace)
    what += img.namespace_uuid.is_zero()
                ? std::string(" (label-less)")
                : " " + img.namespace_uuid.to_string() +
                      (img.namespace_name.empty() ? "" : " \"" + img.namespace_name + "\"");
  std::cout << fmt::format("container:        {} at image offset {:#x}, {} bytes\n", what,
                           img.namespace_offset, img.namespace_size);
  std::cout << fmt::format("semantics:        {}\n", ndtk::btt_flavor_name(dev.flavor()));
  if (!dev.formatted()) {
    std::cout << fmt::format("layout:           not written yet (every sector reads zeros)\n"
                             "sectors:          {} x {} bytes\n",
                             dev.sector_count(), dev.external_lbasize());
    return;
  }
  std::cout << fmt::format("version:          {} (arena 0 at namespace offset {:#x})\n",
                           ndtk::btt_version_name(dev.version()), dev.arena0_offset());
  std::cout << fmt::format("sectors:          {} x {} bytes ({} data + {} integrity)\n",
                           dev.sector_count(), dev.external_lbasize(), dev.sector_size(),
                           dev.integrity_size());
  for (const auto& a : dev.arenas()) {
    std::cout << fmt::format(
        "arena {}:          offset {:#x}, size {:#x}, lbas [{}, +{}), nfree {}, log slots {}\n",
        a.index, a.offset, a.size, a.first_lba, a.info.external_nlba, a.info.nfree,
        a.log_indices.to_string());
    if (a.recovered_map_entries)
      std::cout << fmt::format("  load-time recovery would complete {} map update(s)\n",
                               a.recovered_map_entries);
    if (!a.write_refused.empty())
      std::cout << fmt::format("  writes refused: {}\n", a.write_refused);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Read sectors from the BTT (sector-mode namespace or PMDK pmemblk pool) in an image,\n"
      "exactly as the Linux kernel (or libpmemblk, for a pool) would return them: never-written\n"
      "sectors give the stale block the kernel returns (zeros for pmemblk), zeroed sectors give\n"
      "zeros. An error-flagged sector is reported on stderr and replaced by zeros in the output\n"
      "(like dd conv=noerror,sync); the exit status is then 1. Without --read, print a summary.\n"
      "IMAGE: a DIMM image (labels found automatically), a label-less image, a pmemblk pool,\n"
      "or any file with --offset/--size; .zst images are read through an in-memory copy.\n"
      "Exit status: 0 ok, 1 error-flagged sectors, 2 usage error / no BTT / unreadable.",
      kTool};
  std::string image;
  std::optional<std::uint64_t> read_lba;
  std::uint64_t count = 1;
  std::string out_path;
  std::string flavor;
  ndtk::tool::ImageLocation loc;
  app.add_option("IMAGE", image, "Image file")->required();
  app.add_option_function<std::string>(
         "--read",
         [&](const std::string& s) {
           auto v = ndtk::tool::parse_size(s);
           if (!v) throw CLI::ValidationError("--read", "not a sector number: '" + s + "'");
           read_lba = *v;
         },
         "First sector (LBA) to extract")
      ->type_name("LBA");
  app.add_option_function<std::string>(
         "--count",
         [&](const std::string& s) {
           auto v = ndtk::tool::parse_size(s);
           if (!v || *v == 0) throw CLI::ValidationError("--count", "not a positive count: '" + s + "'");
           count = *v;
         },
         "Number of sectors (default 1)")
      ->type_name("N");
  app.add_option("-o,--output", out_path, "Write the sectors to FILE (default: stdout)")
      ->type_name("FILE");
  app.add_option("--semantics", flavor,
                 "Force kernel or pmdk read semantics (default: pmdk for pmemblk pools)")
      ->check(CLI::IsMember({"kernel", "pmdk"}));
  ndtk::tool::add_location_options(app, loc, /*labels=*/true, /*window=*/true);
  if (auto rc = ndtk::tool::parse_args(app, argc, argv, kExitFailure)) return *rc;
  if (!loc.namespace_uuid.empty() && (loc.offset || loc.size)) {
    ndtk::tool::print_error(kTool, "--namespace and --offset/--size are mutually exclusive");
    return kExitFailure;
  }
  if (!read_lba && (count != 1 || !out_path.empty())) {
    ndtk::tool::print_error(kTool, "--count and --output need --read");
    return kExitFailure;
  }

  ndtk::BttImageOptions opts;  // read-only
  opts.offset = loc.offset;
  opts.size = loc.size;
  if (flavor == "kernel") opts.flavor = ndtk::BttFlavor::Kernel;
  if (flavor == "pmdk") opts.flavor = ndtk::BttFlavor::Pmdk;
  ndtk::BttLocate where;
  where.namespace_key = loc.namespace_uuid;
  where.label_offset = loc.label_offset;
  where.label_size = loc.label_size;
  auto img = ndtk::open_btt_in_image(image, where, opts);
  if (!img) {
    ndtk::tool::print_error(kTool, img.error());
    return kExitFailure;
  }
  ndtk::BttDevice& dev = img->device;
  if (!read_lba) {
    print_summary(*img);
    return kExitOk;
  }
  const std::uint64_t first = *read_lba;
  if (first >= dev.sector_count() || count > dev.sector_count() - first) {
    ndtk::tool::print_error(
        kTool, fmt::format("{}: sectors [{}, +{}) lie past the end of the BTT ({} sectors)",
                           image, first, count, dev.sector_count()));
    return kExitFailure;
  }

  std::unique_ptr<std::FILE, FileCloser> out(stdout);
  if (!out_path.empty()) {
    out.reset(std::fopen(out_path.c_str(), "wb"));
    if (!out) {
      ndtk::tool::print_error(kTool, fmt::format("{}: cannot create: {}", out_path,
                                                 std::strerror(errno)));
      return kExitFailure;
    }
  }
  const std::uint32_t ls = dev.external_lbasize();
  ndtk::ByteVec buf(static_cast<std::size_t>(std::min(count, kChunkSectors)) * ls);
  int status = kExitOk;
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t n = std::min(count - done, kChunkSectors);
    ndtk::MutBytes chunk(buf.data(), static_cast<std::size_t>(n) * ls);
    if (!dev.read(first + done, chunk)) {
      // Sector by sector: a bad sector becomes zeros, the others are still extracted.
      for (std::uint64_t i = 0; i < n; ++i) {
        ndtk::MutBytes one = chunk.subspan(static_cast<std::size_t>(i) * ls, ls);
        auto r = dev.read(first + done + i, one);
        if (r) continue;
        if (r.error().code != ndtk::Errc::kMediaError) {
          ndtk::tool::print_error(kTool, r.error());
          return kExitFailure;
        }
        ndtk::tool::print_error(kTool, fmt::format("lba {}: media error (map entry flagged E)",
                                                   first + done + i));
        std::memset(one.data(), 0, one.size());
        status = kExitMediaErrors;
      }
    }
    if (std::fwrite(chunk.data(), 1, chunk.size(), out.get()) != chunk.size()) {
      ndtk::tool::print_error(kTool, fmt::format("{}: write failed: {}",
                                                 out_path.empty() ? "stdout" : out_path,
                                                 std::strerror(errno)));
      return kExitFailure;
    }
    done += n;
  }
  if (std::fflush(out.get()) != 0) {
    ndtk::tool::print_error(kTool, fmt::format("{}: write failed: {}",
                                               out_path.empty() ? "stdout" : out_path,
                                               std::strerror(errno)));
    return kExitFailure;
  }
  return status;
}
