// A small real program for `mtreplay validate` tests: allocates about --mib MiB in
// blocks of 16 B to 64 KiB, writes every byte, frees half, allocates again, and prints
// a checksum of what it wrote (the same under every allocator).
//   --fork           a forked child does the same with half the memory (two traces)
//   --print-preload  also prints LD_PRELOAD: an output that depends on the allocator
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

uint64_t churn(size_t mib) {
  std::vector<unsigned char*> blocks;
  std::vector<size_t> sizes;
  size_t total = 0, i = 0;
  while (total < mib << 20) {
    size_t size = size_t{16} << (i++ % 13);  // 16 B .. 64 KiB
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    if (!p) std::abort();
    std::memset(p, static_cast<int>(i & 0xff), size);
    blocks.push_back(p);
    sizes.push_back(size);
    total += size;
  }
  for (size_t k = 0; k < blocks.size(); k += 2) {
    std::free(blocks[k]);
    blocks[k] = static_cast<unsigned char*>(std::malloc(sizes[k] / 2 + 1));
    std::memset(blocks[k], 7, sizes[k] / 2 + 1);
  }
  uint64_t sum = 0;
  for (size_t k = 0; k < blocks.size(); ++k) {
    sum = sum * 31 + blocks[k][0];
    std::free(blocks[k]);
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 16;
  bool fork_child = false, print_preload = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
      mib = std::strtoul(argv[++i], nullptr, 10);
    else if (std::strcmp(argv[i], "--fork") == 0)
      fork_child = true;
    else if (std::strcmp(argv[i], "--print-preload") == 0)
      print_preload = true;
    else {
      std::fprintf(stderr, "validate_subject: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (fork_child) {
    pid_t pid = fork();
    if (pid == 0) {
      std::printf("child %llu\n", static_cast<unsigned long long>(churn(mib / 2)));
      std::fflush(stdout);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  std::printf("checksum %llu\n", static_cast<unsigned long long>(churn(mib)));
  if (print_preload) {
    const char* preload = std::getenv("LD_PRELOAD");
    std::printf("preload %s\n", preload ? preload : "none");
  }
  return 0;
}
