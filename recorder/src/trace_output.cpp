#include "trace_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "decimal.hpp"

namespace mtreplay::recorder {
namespace {

class Builder {
 public:
  Builder(char* out, size_t cap) : out_(out), cap_(cap) {}
  void put(char c) {
    if (len_ + 1 < cap_)
      out_[len_++] = c;
    else
      overflow_ = true;
  }
  void put(const char* s) {
    while (*s) put(*s++);
  }
  void put(uint64_t v) {
    char digits[kMaxDecimalDigits];
    const char* end = write_decimal(digits, v);
    for (const char* d = digits; d != end; ++d) put(*d);
  }
  void put_pid(uint32_t pid, uint32_t generation) {
    put(uint64_t{pid});
    if (generation) {
      put('.');
      put(uint64_t{generation});
    }
  }
  bool finish() {
    out_[len_ < cap_ ? len_ : cap_ - 1] = '\0';
    return !overflow_;
  }
  size_t size() const { return len_; }
  void truncate(size_t n) { len_ = n < len_ ? n : len_; }
  char* data() { return out_; }

 private:
  char* out_;
  size_t cap_;
  size_t len_ = 0;
  bool overflow_ = false;
};

constexpr size_t kCmdlineBytes = 64 * 1024;
constexpr size_t kMaxArgs = 4096;
char exe_buffer[4096];
char cmdline_buffer[kCmdlineBytes];
const char* argv_buffer[kMaxArgs];
ProcessIdentity identity;

size_t read_whole(const char* path, char* buf, size_t cap) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t total = 0;
  while (total < cap) {
    const ssize_t n = read(fd, buf + total, cap - total);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  close(fd);
  return total;
}

}  // namespace

bool expand_output_name(const OutputNameInputs& in, char* out, size_t capacity) {
  if (capacity == 0) return false;
  Builder b(out, capacity);
  if (in.pattern[0] != '/') {
    char cwd[2048];
    if (getcwd(cwd, sizeof cwd)) {
      b.put(cwd);
      b.put('/');
    }
  }
  bool has_pid = false;
  for (const char* p = in.pattern; *p; ++p) {
    if (*p != '%') {
      b.put(*p);
      continue;
    }
    switch (p[1]) {
      case 'p':
        b.put_pid(in.pid, in.generation);
        has_pid = true;
        ++p;
        break;
      case 'e':
        b.put(in.exe_basename);
        ++p;
        break;
      case '%':
        b.put('%');
        ++p;
        break;
      default:
        b.put('%');
    }
  }
  if (!has_pid && !in.root) {
    const bool mtr_suffix = b.size() >= 4 && std::memcmp(b.data() + b.size() - 4, ".mtr", 4) == 0;
    if (mtr_suffix) b.truncate(b.size() - 4);
    b.put('.');
    b.put_pid(in.pid, in.generation);
    if (mtr_suffix) b.put(".mtr");
  }
  return b.finish();
}

const ProcessIdentity& read_process_identity() {
  const ssize_t n = readlink("/proc/self/exe", exe_buffer, sizeof exe_buffer - 1);
  exe_buffer[n > 0 ? n : 0] = '\0';
  identity.exe = exe_buffer;
  const char* slash = std::strrchr(exe_buffer, '/');
  identity.exe_basename = slash ? slash + 1 : exe_buffer;

  const size_t len = read_whole("/proc/self/cmdline", cmdline_buffer, kCmdlineBytes - 1);
  cmdline_buffer[len] = '\0';
  size_t argc = 0;
  for (size_t i = 0; i < len && argc < kMaxArgs; i += std::strlen(cmdline_buffer + i) + 1) {
    argv_buffer[argc++] = cmdline_buffer + i;
  }
  identity.argc = argc;
  identity.argv = argv_buffer;
  return identity;
}

void report(const char* message, const char* detail, int error_number) {
  char line[1536];
  Builder b(line, sizeof line);
  b.put("mhook: ");
  b.put(message);
  if (detail && *detail) {
    b.put(" ");
    b.put(detail);
  }
  if (error_number) {
    b.put(": ");
    b.put(strerrordesc_np(error_number) ? strerrordesc_np(error_number) : "unknown error");
  }
  b.put('\n');
  b.finish();
  [[maybe_unused]] ssize_t w = write(STDERR_FILENO, line, std::strlen(line));
}

namespace {

void write_manifest_line(const char* manifest, const char* path, bool closed, uint64_t unrecorded) {
  if (!manifest || !*manifest) return;
  const int fd = open(manifest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[2100];
  Builder b(line, sizeof line);
  b.put(path);
  if (closed) {
    b.put('\t');
    b.put(unrecorded);
  }
  b.put('\n');
  if (b.finish()) {
    [[maybe_unused]] ssize_t w = write(fd, line, std::strlen(line));
  }
  close(fd);
}

}  // namespace

void append_to_manifest(const char* manifest, const char* path) {
  write_manifest_line(manifest, path, false, 0);
}

void append_close_to_manifest(const char* manifest, const char* path, uint64_t unrecorded) {
  write_manifest_line(manifest, path, true, unrecorded);
}

}  // namespace mtreplay::recorder
