#include "mtreplay/replay/plan_cache.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "mtreplay/replay/plan_cache_eviction.hpp"
#include "mtreplay/traces/content_hash.hpp"

namespace mtreplay::replay {

namespace fs = std::filesystem;

namespace {

const char* variant_name(bool with_addresses) {
  return with_addresses ? "addresses" : "plain";
}

uint64_t load64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t rotl(uint64_t v, int r) {
  return (v << r) | (v >> (64 - r));
}

FileStamp stamp_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
              static_cast<uint64_t>(st.st_mtim.tv_nsec)};
}

// Maps `size` bytes of fd read-only, its pages read in at once when `populate` (they
// are all about to be read); nullptr on failure.
const std::byte* map_read_only(int fd, size_t size, bool populate = true) {
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<const std::byte*>(p);
}

struct Unusable {
  std::string why;
};

// The entry at `path` if it is whole and belongs to this trace and variant; nullptr
// when there is no entry; Unusable when there is one that must not be used.
// `trusted`: the entry as a process that checked it saw it; unchanged, it is not
// checksummed again.
std::unique_ptr<LoadedPlan> open_entry(const fs::path& path, const std::string& content_hash,
                                       bool with_addresses, const FileStamp* trusted,
                                       Unusable& bad) {
  int fd = ::open(path.c_str(), O_RDONLY);  // inherited by the worker: no O_CLOEXEC
  if (fd < 0) {
    if (errno != ENOENT) bad.why = fmt::format("cannot open it: {}", std::strerror(errno));
    return nullptr;
  }
  auto fail = [&](std::string why) -> std::unique_ptr<LoadedPlan> {
    ::close(fd);
    bad.why = std::move(why);
    return nullptr;
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) return fail(fmt::format("cannot stat it: {}", std::strerror(errno)));
  auto size = static_cast<uint64_t>(st.st_size);
  PlanCacheTrailer trailer;
  if (size < sizeof(PlanHeader) + sizeof trailer) return fail("truncated");
  if (pread(fd, &trailer, sizeof trailer, static_cast<off_t>(size - sizeof trailer)) !=
      static_cast<ssize_t>(sizeof trailer))
    return fail("cannot read its trailer");
  if (std::memcmp(trailer.magic, kPlanCacheMagic, sizeof kPlanCacheMagic) != 0)
    return fail("no trailer: truncated or not a plan cache entry");
  if (trailer.trailer_version != 1 || trailer.image_version != kPlanImageVersion)
    return fail(fmt::format("version {}.{}, expected 1.{}", trailer.trailer_version,
                            trailer.image_version, kPlanImageVersion));
  if (trailer.image_bytes != size - sizeof trailer) return fail("size does not match its trailer");
  if (std::string(trailer.content_hash,
                  strnlen(trailer.content_hash, sizeof trailer.content_hash)) != content_hash ||
      std::string(trailer.variant, strnlen(trailer.variant, sizeof trailer.variant)) !=
          variant_name(with_addresses))
    return fail("made for another trace or variant");
  const bool checked = trusted && *trusted == stamp_of(st);
  const std::byte* base = map_read_only(fd, size, !checked);
  if (!base) return fail(fmt::format("cannot map it: {}", std::strerror(errno)));
  auto* header = reinterpret_cast<const PlanHeader*>(base);
  std::string problem;
  if (header->total_bytes != trailer.image_bytes) {
    problem = "image size does not match its trailer";
  } else if (!checked && plan_checksum(base, trailer.image_bytes) != trailer.checksum) {
    problem = "checksum mismatch";
  }
  if (!problem.empty()) {
    munmap(const_cast<std::byte*>(base), size);
    return fail(problem);
  }
  auto loaded = std::make_unique<LoadedPlan>(fd, base, size);
  if (!loaded->ok()) {
    bad.why = "the image is inconsistent";
    return nullptr;
  }
  TraceIdentity& id = loaded->identity;
  id.content_hash = content_hash;
  id.events = trailer.events;
  id.pid = trailer.pid;
  id.complete = trailer.complete != 0;
  id.truncated_bytes = trailer.truncated_bytes;
  id.threads = loaded->header().thread_count;
  return loaded;
}

// A memfd (no cache) or a temporary file in the cache directory (to be renamed).
struct Output {
  int fd = -1;
  std::string temp_path;  // empty for a memfd
};

}  // namespace

uint64_t plan_checksum(const std::byte* data, size_t bytes) {
  constexpr uint64_t kPrime = 0x9e3779b97f4a7c15ull, kPrime2 = 0xc2b2ae3d27d4eb4full;
  // Four independent chains in registers: the loop runs at memory speed.
  uint64_t a = kPrime, b = kPrime2, c = ~kPrime, d = ~kPrime2;
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    a = rotl(a ^ load64(data + i), 29) * kPrime;
    b = rotl(b ^ load64(data + i + 8), 29) * kPrime;
    c = rotl(c ^ load64(data + i + 16), 29) * kPrime;
    d = rotl(d ^ load64(data + i + 24), 29) * kPrime;
  }
  uint64_t h = bytes * kPrime2;
  for (uint64_t lane : {a, b, c, d}) h = rotl(h ^ (lane * kPrime2), 31) * kPrime;
  for (; i < bytes; ++i) h = (h ^ static_cast<uint64_t>(data[i])) * kPrime;
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  return h;
}

fs::path default_plan_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return fs::path(xdg) / "mtreplay";
  const char* home = std::getenv("HOME");
  if (home && *home) return fs::path(home) / ".cache" / "mtreplay";
  return {};
}

std::optional<FileStamp> file_stamp(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return stamp_of(st);
}

std::string trusted_plan_token(const TrustedPlan& t) {
  auto stamp = [](const FileStamp& s) {
    return fmt::format("{}:{}:{}:{}", s.device, s.inode, s.size, s.mtime_ns);
  };
  return fmt::format("{},{},{}", t.content_hash, stamp(t.trace), stamp(t.entry));
}

std::optional<TrustedPlan> parse_trusted_plan(const std::string& token) {
  TrustedPlan t;
  char hash[33] = {};
  char extra = 0;
  auto& a = t.trace;
  auto& b = t.entry;
  if (std::sscanf(token.c_str(),
                  "%32[^,],%" SCNu64 ":%" SCNu64 ":%" SCNu64 ":%" SCNu64 ",%" SCNu64 ":%" SCNu64
                  ":%" SCNu64 ":%" SCNu64 "%c",
                  hash, &a.device, &a.inode, &a.size, &a.mtime_ns, &b.device, &b.inode, &b.size,
                  &b.mtime_ns, &extra) != 9 ||
      std::strncmp(hash, "fnv1a64:", 8) != 0)
    return std::nullopt;
  t.content_hash = hash;
  return t;
}

std::optional<TrustedPlan> trust(const fs::path& trace, const FileStamp& before,
                                 const LoadedPlan& loaded) {
  if (loaded.cache_file.empty()) return std::nullopt;
  struct stat st {};
  auto stamp = file_stamp(trace);
  if (!stamp || *stamp != before || fstat(loaded.fd(), &st) != 0) return std::nullopt;
  // The entry is trusted as the descriptor holds it, and only while the name still
  // leads to that file.
  auto named = file_stamp(loaded.cache_file);
  if (!named || *named != stamp_of(st)) return std::nullopt;
  return TrustedPlan{loaded.identity.content_hash, *stamp, *named};
}

std::string plan_cache_file_name(const std::string& content_hash, bool with_addresses) {
  std::string hex = content_hash;
  if (auto colon = hex.find(':'); colon != std::string::npos) hex.erase(0, colon + 1);
  return fmt::format("{}-{}-v{}.plan", hex, variant_name(with_addresses), kPlanImageVersion);
}

LoadedPlan::LoadedPlan(int fd, const std::byte* base, size_t size)
    : fd_(fd), base_(base), size_(size) {
  ok_ = view_.attach(base, size).empty();
}

LoadedPlan::~LoadedPlan() {
  if (base_) munmap(const_cast<std::byte*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<LoadedPlan> load_plan(const fs::path& trace, const PlanSource& source,
                                      const PlanWarning& warn, const PlanCheck& check) {
  auto say = [&](const std::string& line) {
    if (warn) warn(line);
  };
  const bool trusted_trace = source.trusted && file_stamp(trace) == source.trusted->trace;
  std::string content_hash =
      trusted_trace ? source.trusted->content_hash : traces::content_hash(trace);
  fs::path dir;
  if (source.use_cache)
    dir = source.cache_dir.empty() ? default_plan_cache_dir() : source.cache_dir;
  fs::path entry;
  std::string origin = "built";
  if (!dir.empty()) {
    entry = dir / plan_cache_file_name(content_hash, source.with_addresses);
    Unusable bad;
    auto loaded = open_entry(entry, content_hash, source.with_addresses,
                             trusted_trace ? &source.trusted->entry : nullptr, bad);
    if (loaded) {
      loaded->identity.path = trace.string();
      loaded->identity.name = trace.filename().string();
      if (trace.extension() == ".mtr") loaded->identity.name = trace.stem().string();
      loaded->origin = "cache hit";
      loaded->cache_file = entry;
      mark_plan_used(loaded->fd());
      return loaded;
    }
    if (!bad.why.empty()) {
      say(fmt::format("plan cache entry {} is unusable ({}); rebuilding it", entry.string(),
                      bad.why));
      origin = "rebuilt";
    } else {
      origin = "cache miss";
    }
  }

  TracePlan built = load_trace_plan(trace, content_hash);
  if (check) {
    if (auto refused = check(built.plan)) throw PlanRefused(*refused);
  }
  Output out;
  if (!entry.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string pattern = (dir / ("." + entry.filename().string() + ".XXXXXX")).string();
    out.fd = ec ? -1 : mkstemp(pattern.data());
    if (out.fd >= 0) {
      out.temp_path = pattern;
    } else {
      say(fmt::format("cannot write the plan cache in {} ({}); planning without it", dir.string(),
                      ec ? ec.message() : std::strerror(errno)));
      entry.clear();
      origin = "built";
    }
  }
  if (out.fd < 0) {
    out.fd = memfd_create("mtreplay-plan", 0);
    if (out.fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  }
  uint64_t image_bytes = 0;
  try {
    image_bytes = write_plan_image_to(out.fd, built.plan, source.with_addresses);
  } catch (...) {
    ::close(out.fd);
    if (!out.temp_path.empty()) ::unlink(out.temp_path.c_str());
    throw;
  }
  built.plan = Plan{};  // the image is all the replay needs from here on
  const std::byte* base = map_read_only(out.fd, image_bytes);
  if (!base) {
    int err = errno;
    ::close(out.fd);
    if (!out.temp_path.empty()) ::unlink(out.temp_path.c_str());
    throw std::system_error(err, std::generic_category(), "mapping the replay plan");
  }
  auto loaded = std::make_unique<LoadedPlan>(out.fd, base, image_bytes);
  loaded->identity = std::move(built.identity);
  loaded->origin = origin;
  if (!loaded->ok()) throw std::runtime_error("the plan image just written is inconsistent");
  if (!out.temp_path.empty()) {
    PlanCacheTrailer trailer;
    std::memcpy(trailer.magic, kPlanCacheMagic, sizeof trailer.magic);
    trailer.image_version = kPlanImageVersion;
    trailer.image_bytes = image_bytes;
    trailer.checksum = plan_checksum(base, image_bytes);
    std::snprintf(trailer.content_hash, sizeof trailer.content_hash, "%s", content_hash.c_str());
    std::snprintf(trailer.variant, sizeof trailer.variant, "%s",
                  variant_name(source.with_addresses));
    const TraceIdentity& id = loaded->identity;
    trailer.events = id.events;
    trailer.truncated_bytes = id.truncated_bytes;
    trailer.pid = id.pid;
    trailer.complete = id.complete ? 1 : 0;
    try {
      write_at(out.fd, &trailer, sizeof trailer, image_bytes, "writing the plan cache entry");
      if (::rename(out.temp_path.c_str(), entry.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(), "renaming it");
      loaded->cache_file = entry;
      std::string problem;
      const uint64_t limit = plan_cache_limit(problem);
      if (!problem.empty()) say(problem);
      Eviction evicted = evict_plan_cache(dir, limit, entry);
      if (!evicted.removed.empty())
        say(
            fmt::format("plan cache {}: removed {} least recently used file(s), {:.1f} MiB, to "
                        "stay within {:.1f} MiB ({})",
                        dir.string(), evicted.removed.size(),
                        static_cast<double>(evicted.removed_bytes) / (1 << 20),
                        static_cast<double>(limit) / (1 << 20), kPlanCacheLimitVariable));
    } catch (const std::system_error& e) {
      ::unlink(out.temp_path.c_str());
      say(fmt::format("cannot store the plan in the cache {} ({}); going on without it",
                      entry.string(), e.what()));
      loaded->origin = "built";
    }
  }
  return loaded;
}

}  // namespace mtreplay::replay
