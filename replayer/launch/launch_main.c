/* mtreplay-launch: runs one command and reports what it cost, for `mtreplay validate` and
   the allocator benchmarks' alloc_launch.

   mtreplay-launch --result FILE [--stdout FILE] [--preload SO] [--env NAME=VALUE]...
                   -- CMD [ARGS...]

   The command gets the launcher's environment without LD_PRELOAD, plus each --env,
   plus LD_PRELOAD=SO when --preload is given (the launcher itself never runs with the
   allocator under test). Its stdout goes to --stdout (default /dev/null; `-` keeps the
   launcher's own), stdin and stderr are the launcher's. When it has ended, FILE receives
   one line of JSON:
     {"exit_code":0,"signal":0,"wall_ns":N,"cpu_user_ns":N,"cpu_sys_ns":N,"peak_rss_bytes":N,
      "page_faults":N}
   or {"start_error":"..."} when it could not be started. page_faults counts minor and
   major faults: the pages the command touched first, and those it touched again after
   its allocator gave them back.

   Why a launcher: the kernel keeps a process's peak RSS (ru_maxrss) across exec, taking
   the high-water mark of the address space the exec replaced. A child started with
   vfork semantics (posix_spawn) from a large process replaces its parent's address
   space, so its ru_maxrss starts at the parent's peak; a fork of a large process starts
   at the copy's RSS. Started from this small program (plain C, a few hundred KiB
   resident), the figure is the command's own. wait4 reports the command's rusage
   (CPU summed over the descendants it waited for, peak RSS their maximum).

   Exit code: 0 when FILE was written (whatever the command did), 2 on bad arguments,
   4 when FILE cannot be written. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

enum { kExitOk = 0, kExitBadInput = 2, kExitInternal = 4 };

static const char kUsage[] =
    "usage: mtreplay-launch --result FILE [--stdout FILE] [--preload SO] [--env NAME=VALUE]... "
    "-- CMD [ARGS...]\n";

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t timeval_ns(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* Length of the name part of "NAME=VALUE" (the whole string when there is no '='). */
static size_t name_length(const char* assignment) {
  const char* eq = strchr(assignment, '=');
  return eq ? (size_t)(eq - assignment) : strlen(assignment);
}

static int same_name(const char* a, const char* b) {
  size_t n = name_length(a);
  return n == name_length(b) && strncmp(a, b, n) == 0;
}

/* Writes `text` as a JSON string body (quotes, backslashes, control characters escaped). */
static void write_json_text(FILE* out, const char* text) {
  for (const unsigned char* p = (const unsigned char*)text; *p; ++p) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
}

int main(int argc, char** argv) {
  const char* result_path = NULL;
  const char* stdout_path = "/dev/null";
  const char* preload = NULL;
  /* --env entries: at most argc of them. */
  const char** extra = calloc((size_t)argc + 1, sizeof *extra);
  size_t extra_count = 0;
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    int takes_value = strcmp(a, "--result") == 0 || strcmp(a, "--stdout") == 0 ||
                      strcmp(a, "--preload") == 0 || strcmp(a, "--env") == 0;
    if (!takes_value) {
      fprintf(stderr, "mtreplay-launch: unknown option '%s'\n%s", a, kUsage);
      return kExitBadInput;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "mtreplay-launch: %s needs a value\n%s", a, kUsage);
      return kExitBadInput;
    }
    const char* value = argv[++i];
    if (strcmp(a, "--result") == 0) result_path = value;
    if (strcmp(a, "--stdout") == 0) stdout_path = value;
    if (strcmp(a, "--preload") == 0) preload = value;
    if (strcmp(a, "--env") == 0) {
      if (!strchr(value, '=')) {
        fprintf(stderr, "mtreplay-launch: --env '%s' is not NAME=VALUE\n", value);
        return kExitBadInput;
      }
      extra[extra_count++] = value;
    }
  }
  if (!result_path || i >= argc) {
    fprintf(stderr, "mtreplay-launch: %s\n%s", result_path ? "no command given" : "no --result",
            kUsage);
    return kExitBadInput;
  }
  char** command = argv + i;

  /* The environment: ours minus LD_PRELOAD and anything --env sets, then --env, then
     the preload. */
  size_t env_count = 0;
  while (environ[env_count]) ++env_count;
  char** envp = calloc(env_count + extra_count + 2, sizeof *envp);
  char* preload_entry = NULL;
  size_t n = 0;
  for (size_t e = 0; e < env_count; ++e) {
    if (strncmp(environ[e], "LD_PRELOAD=", 11) == 0) continue;
    int overridden = 0;
    for (size_t x = 0; x < extra_count; ++x) overridden |= same_name(environ[e], extra[x]);
    if (!overridden) envp[n++] = environ[e];
  }
  for (size_t x = 0; x < extra_count; ++x) envp[n++] = (char*)extra[x];
  if (preload && *preload) {
    preload_entry = malloc(strlen(preload) + sizeof "LD_PRELOAD=");
    strcpy(preload_entry, "LD_PRELOAD=");
    strcat(preload_entry, preload);
    envp[n++] = preload_entry;
  }
  envp[n] = NULL;

  FILE* result = fopen(result_path, "w");
  if (!result) {
    fprintf(stderr, "mtreplay-launch: cannot write %s: %s\n", result_path, strerror(errno));
    return kExitInternal;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (strcmp(stdout_path, "-") != 0)
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const uint64_t start = now_ns();
  pid_t child = 0;
  int rc = posix_spawnp(&child, command[0], &actions, NULL, command, envp);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    fprintf(result, "{\"start_error\":\"cannot run '");
    write_json_text(result, command[0]);
    fprintf(result, "': ");
    write_json_text(result, strerror(rc));
    fprintf(result, "\"}\n");
    return fclose(result) == 0 ? kExitOk : kExitInternal;
  }
  int status = 0;
  struct rusage usage;
  memset(&usage, 0, sizeof usage);
  while (wait4(child, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "mtreplay-launch: wait4: %s\n", strerror(errno));
      return kExitInternal;
    }
  }
  const uint64_t wall = now_ns() - start;
  fprintf(result,
          "{\"exit_code\":%d,\"signal\":%d,\"wall_ns\":%llu,\"cpu_user_ns\":%llu,"
          "\"cpu_sys_ns\":%llu,\"peak_rss_bytes\":%llu,\"page_faults\":%llu}\n",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
          (unsigned long long)wall, (unsigned long long)timeval_ns(usage.ru_utime),
          (unsigned long long)timeval_ns(usage.ru_stime),
          (unsigned long long)usage.ru_maxrss * 1024u,
          (unsigned long long)(usage.ru_minflt + usage.ru_majflt));
  free(preload_entry);
  free(envp);
  free(extra);
  return fclose(result) == 0 ? kExitOk : kExitInternal;
}
