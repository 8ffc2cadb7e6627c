#include "backend_check.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <cstdlib>
#include <memory>
#include <string_view>

namespace mtreplay::alloctest {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string{} : std::string{value};
}

std::string canonical(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> resolved{::realpath(path.c_str(), nullptr), &::free};
  return resolved ? std::string{resolved.get()} : path;
}

bool is_glibc_object(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return base.starts_with("libc.so") || base.starts_with("libc-2.");
}

}  // namespace

ExpectedBackend expected_backend() {
  return {env_or_empty("MTREPLAY_EXPECT_ALLOCATOR"),
          env_or_empty("MTREPLAY_EXPECT_ALLOCATOR_PATH")};
}

std::string object_defining(const char* symbol) {
  void* address = ::dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr) return {};
  Dl_info info{};
  if (::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return {};
  return canonical(info.dli_fname);
}

std::string backend_mismatch(const ExpectedBackend& expected) {
  if (expected.name.empty()) {
    return "MTREPLAY_EXPECT_ALLOCATOR is not set: run this binary through CTest, which "
           "sets it with LD_PRELOAD";
  }
  const std::string actual = object_defining("malloc");
  if (expected.path.empty()) {
    if (is_glibc_object(actual)) return {};
    return fmt::format("expected glibc's malloc, but malloc resolves into {}", actual);
  }
  const std::string wanted = canonical(expected.path);
  if (actual == wanted) return {};
  return fmt::format("expected malloc from {} ({}), but it resolves into {}", expected.name, wanted,
                     actual.empty() ? "nothing" : actual);
}

bool served_with_malloc(const char* symbol) {
  return object_defining(symbol) == object_defining("malloc");
}

std::string family_gap(const char* symbol) {
  if (served_with_malloc(symbol)) return {};
  // glibc's reallocarray only checks the product and calls realloc through the PLT, so
  // the backend's realloc serves it even when the backend does not export it (checked:
  // jemalloc, tcmalloc and scudo export none and pass the reallocarray tests).
  if (std::string_view{symbol} == "reallocarray" && is_glibc_object(object_defining(symbol))) {
    return {};
  }
  const std::string provider = object_defining(symbol);
  return fmt::format(
      "known gap: {} does not export {}; it resolves into {}, whose block the backend's "
      "free cannot take",
      expected_backend().name, symbol, provider.empty() ? "nothing" : provider);
}

}  // namespace mtreplay::alloctest
