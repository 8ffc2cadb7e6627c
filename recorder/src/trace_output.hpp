// Where a process's trace goes and what its header says: the output pattern expanded
// for this process, its executable and argv read from /proc/self. No allocation:
// static buffers only, because this runs inside the first hooked call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::recorder {

struct OutputNameInputs {
  const char* pattern = nullptr;
  uint32_t pid = 0;
  uint32_t generation = 0;  // how many execs this pid has been through (0: first image)
  bool root = true;         // the first traced process (not forked, not exec'd by us)
  const char* exe_basename = "";
};

// %p -> pid (plus ".<generation>" after an exec), %e -> executable name, %% -> %.
// A pattern without %p would make every process of a tree write the same file, so
// for any process but the root ".<pid>[.<generation>]" is inserted before a final
// ".mtr" (or appended). Relative patterns are made absolute (children may chdir).
// False if the result does not fit.
bool expand_output_name(const OutputNameInputs& in, char* out, size_t capacity);

// /proc/self/exe and /proc/self/cmdline, read once into static storage.
struct ProcessIdentity {
  const char* exe = "";
  const char* exe_basename = "";
  size_t argc = 0;
  const char* const* argv = nullptr;  // argc NUL-terminated strings
};
const ProcessIdentity& read_process_identity();

// One line on stderr (write(2), no stdio), prefixed "mhook: ".
void report(const char* message, const char* detail, int error_number);

// The manifest (MHOOK_MANIFEST) tells `mtreplay record` what the process tree wrote:
// "<path>\n" when a trace is opened, "<path>\t<unrecorded calls>\n" when it is
// closed. One write(2) per line with O_APPEND, so concurrent processes never
// interleave. Quietly does nothing if it cannot.
void append_to_manifest(const char* manifest, const char* path);
void append_close_to_manifest(const char* manifest, const char* path, uint64_t unrecorded);

}  // namespace mtreplay::recorder
