// A trace's replay plan, built once and kept: the plan image (plan_image.hpp) in a
// cache file, so that every later replay of the same trace (every run of a compare,
// replay --repeat, another command) maps it instead of reading and planning the trace.
//
// An entry is named by the trace's content hash, the image version and the variant
// (the options that change the image), e.g. `0123456789abcdef-plain-v4.plan`, and holds
// the image bytes followed by a trailer (PlanCacheTrailer): its own magic, the image
// version and size, a checksum of the image bytes, the trace's content hash and the
// trace facts a result reports. Entries are written to a temporary file and renamed,
// so a reader sees a whole entry or none; a reader checks the trailer, the checksum
// and PlanView::attach, and rebuilds (with a one-line warning) anything that fails.
// A changed trace has another content hash, hence another entry: a stale plan is
// never replayed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "mtreplay/replay/plan.hpp"
#include "mtreplay/replay/plan_image.hpp"
#include "mtreplay/replay/trace_plan.hpp"

namespace mtreplay::replay {

inline constexpr char kPlanCacheMagic[8] = {'M', 'T', 'R', 'P', 'C', 'A', 'C', 'H'};

struct PlanCacheTrailer {
  char magic[8] = {};
  uint32_t trailer_version = 1;
  uint32_t image_version = 0;  // PlanHeader::version of the image before it
  uint64_t image_bytes = 0;    // PlanHeader::total_bytes
  uint64_t checksum = 0;       // plan_checksum of the image bytes
  char content_hash[32] = {};  // the trace's "fnv1a64:<16 hex>", NUL-padded
  char variant[16] = {};       // "plain" or "addresses"
  uint64_t events = 0;
  uint64_t truncated_bytes = 0;
  uint32_t pid = 0;
  uint32_t complete = 0;
};
static_assert(sizeof(PlanCacheTrailer) == 104);

// A fast checksum of a byte range (four interleaved 64-bit multiply-xor lanes,
// folded), for catching a damaged cache entry; not cryptographic.
uint64_t plan_checksum(const std::byte* data, size_t bytes);

// A file as stat(2) sees it: a rename, a write or a truncation changes it.
struct FileStamp {
  uint64_t device = 0, inode = 0, size = 0, mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
std::optional<FileStamp> file_stamp(const std::filesystem::path& path);

// What a process that has just obtained and checked a trace's cache entry hands to its
// later replays of that trace (compare's runs): the trace's content hash and the entry,
// each with its file's stamp. A replay that finds both files unchanged takes the hash
// instead of reading the whole trace, and the entry's checksum as already checked; any
// difference and it hashes and checks everything itself.
struct TrustedPlan {
  std::string content_hash;
  FileStamp trace, entry;
};
std::string trusted_plan_token(const TrustedPlan& trusted);
std::optional<TrustedPlan> parse_trusted_plan(const std::string& token);

struct PlanSource {
  bool use_cache = true;
  std::filesystem::path cache_dir;  // empty: default_plan_cache_dir()
  bool with_addresses = false;      // the image variant for --live-map lphash-address
  std::optional<TrustedPlan> trusted;
};

// $XDG_CACHE_HOME/mtreplay, else $HOME/.cache/mtreplay (empty when neither is set).
std::filesystem::path default_plan_cache_dir();

// A plan image mapped read-only, with the descriptor a worker inherits.
class LoadedPlan {
 public:
  LoadedPlan(int fd, const std::byte* base, size_t size);
  ~LoadedPlan();
  LoadedPlan(const LoadedPlan&) = delete;
  LoadedPlan& operator=(const LoadedPlan&) = delete;

  bool ok() const { return ok_; }  // PlanView::attach accepted it
  int fd() const { return fd_; }   // not close-on-exec: the worker maps it
  const PlanView& view() const { return view_; }
  const PlanHeader& header() const { return view_.header(); }

  TraceIdentity identity;
  // How it was obtained: "built" (no cache), "cache miss" (built and stored),
  // "cache hit", "rebuilt" (the entry was damaged or unusable).
  std::string origin;
  std::filesystem::path cache_file;  // empty when not cached

 private:
  int fd_ = -1;
  const std::byte* base_ = nullptr;
  size_t size_ = 0;
  bool ok_ = false;
  PlanView view_;
};

// Reports something the caller should print as one line (a damaged cache entry, a
// cache directory that cannot be written); the plan is obtained anyway.
using PlanWarning = std::function<void(const std::string&)>;
// Checks a freshly built plan before it is written; returns a message to refuse it
// (thrown as PlanRefused) or nothing.
using PlanCheck = std::function<std::optional<std::string>(const Plan&)>;

struct PlanRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The trace's plan from the cache, or built from the trace (and stored, when the cache
// is on). Throws traces::TraceError for a bad trace, PlanRefused when `check` refuses
// the plan, std::system_error when mtreplay itself fails.
std::unique_ptr<LoadedPlan> load_plan(const std::filesystem::path& trace, const PlanSource& source,
                                      const PlanWarning& warn = {}, const PlanCheck& check = {});

// What later replays of `trace` may trust about `loaded`, a cache entry just obtained
// by load_plan from the trace as `before` (file_stamp, taken before load_plan read it)
// says it was; nothing when it is not in the cache or a file changed meanwhile.
std::optional<TrustedPlan> trust(const std::filesystem::path& trace, const FileStamp& before,
                                 const LoadedPlan& loaded);

// The entry's file name for a content hash ("fnv1a64:<hex>") and variant.
std::string plan_cache_file_name(const std::string& content_hash, bool with_addresses);

}  // namespace mtreplay::replay
