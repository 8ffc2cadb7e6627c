// Progress of a long read on stderr, for info, dump, import and replay: on by default when
// stderr is a terminal (and, for a command that prints what it reads, stdout is not
// that terminal too), forced by --progress, off with --no-progress. Nothing is shown
// for the first half second (MTREPLAY_PROGRESS_AFTER_MS), so short reads stay quiet. On a terminal
// one line is rewritten in place (5 times a second) and erased at the end; elsewhere (--progress
// into a file or a pipe) a line is printed every 5 seconds.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/core.h>
#include <boost/program_options.hpp>

namespace mtreplay::cli {

class ReadProgress {
 public:
  // The options every reading command takes.
  static void add_options(boost::program_options::options_description& options) {
    options.add_options()("progress",
                          "show the progress of the read on stderr (default: "
                          "when stderr is a terminal)")("no-progress",
                                                        "never show the progress of the read");
  }

  // prints_to_stdout: the command writes what it reads to stdout (dump), where a
  // progress line on the same terminal would be in the way.
  ReadProgress(std::string command, const boost::program_options::variables_map& vm,
               bool prints_to_stdout = false)
      : command_(std::move(command)),
        terminal_(isatty(STDERR_FILENO) != 0),
        start_(Clock::now()),
        next_(start_ + first_delay()) {
    if (vm.count("no-progress"))
      enabled_ = false;
    else if (vm.count("progress"))
      enabled_ = true;
    else
      enabled_ = terminal_ && !(prints_to_stdout && isatty(STDOUT_FILENO));
  }
  // A command without the options (replay: on a terminal unless --quiet).
  ReadProgress(std::string command, bool enabled)
      : command_(std::move(command)),
        terminal_(isatty(STDERR_FILENO) != 0),
        enabled_(enabled),
        start_(Clock::now()),
        next_(start_ + first_delay()) {}
  ~ReadProgress() { finish(); }
  ReadProgress(const ReadProgress&) = delete;
  ReadProgress& operator=(const ReadProgress&) = delete;

  bool enabled() const { return enabled_; }

  // done of total (0: unknown) items read; unit "events" or "bytes"; stage names a
  // later read of the same command ("content hash"). Cheap when not due.
  void update(uint64_t done, uint64_t total, std::string_view unit, std::string_view stage = {}) {
    if (!enabled_) return;
    const Clock::time_point now = Clock::now();
    if (stage != stage_) {  // a new read: its rate counts from here
      stage_ = stage;
      stage_start_ = now;
    }
    if (now < next_) return;
    next_ = now + (terminal_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5));
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double in_stage = std::chrono::duration<double>(now - stage_start_).count();
    const double rate = in_stage > 0 ? static_cast<double>(done) / in_stage : 0;
    std::string line = stage.empty() ? fmt::format("mtreplay {}: ", command_)
                                     : fmt::format("mtreplay {} ({}): ", command_, stage);
    if (total != 0) line += fmt::format("{:3}% ", done >= total ? 100 : 100 * done / total);
    line += amount(done, unit);
    if (total != 0) line += " of " + amount(total, unit);
    line += fmt::format(", {}/s, {:.0f} s", amount(static_cast<uint64_t>(rate), unit), seconds);
    if (terminal_) {
      fmt::print(stderr, "\r\x1b[K{}", line);
      shown_ = true;
    } else {
      fmt::print(stderr, "{}\n", line);
    }
    std::fflush(stderr);
  }

  // Erases the line on a terminal; call before printing the command's own messages.
  void finish() {
    if (shown_) fmt::print(stderr, "\r\x1b[K");
    shown_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // 500 ms, or MTREPLAY_PROGRESS_AFTER_MS (the tests set 0 to see the lines at once).
  static std::chrono::milliseconds first_delay() {
    const char* env = std::getenv("MTREPLAY_PROGRESS_AFTER_MS");
    return std::chrono::milliseconds(env ? std::strtoul(env, nullptr, 10) : 500);
  }

  static std::string amount(uint64_t n, std::string_view unit) {
    if (unit == "bytes") {
      if (n >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", n / 1073741824.0);
      return fmt::format("{:.1f} MiB", n / 1048576.0);
    }
    if (n >= 1'000'000'000) return fmt::format("{:.2f} G {}", n / 1e9, unit);
    if (n >= 1'000'000) return fmt::format("{:.1f} M {}", n / 1e6, unit);
    return fmt::format("{} {}", n, unit);
  }

  std::string command_;
  bool terminal_;
  bool enabled_ = false;
  bool shown_ = false;
  std::string stage_;
  Clock::time_point start_, next_, stage_start_ = start_;
};

}  // namespace mtreplay::cli
