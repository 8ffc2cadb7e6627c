// A big-integer program in the style of the classic factoring benchmarks: every value
// is an immutable heap object (a length and 32-bit limbs), every arithmetic result a new
// allocation, and the temporaries die young. It factors `count` semiprimes of two
// ~`prime-bits`-bit primes with Pollard's rho (Floyd cycle finding), the remainder
// computed by shift-and-subtract long division, one allocation per step.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "workload.hpp"

namespace {

struct Big {
  std::uint32_t length;  // limbs in use; 0 is zero
  std::uint32_t limbs[1];
};

Big* make(std::uint32_t length) {
  auto* b = static_cast<Big*>(
      std::malloc(sizeof(Big) + sizeof(std::uint32_t) * (length ? length - 1 : 0)));
  if (b == nullptr) std::abort();
  b->length = length;
  return b;
}
void trim(Big* b) {
  while (b->length > 0 && b->limbs[b->length - 1] == 0) --b->length;
}
Big* from(std::uint64_t v) {
  Big* b = make(2);
  b->limbs[0] = static_cast<std::uint32_t>(v);
  b->limbs[1] = static_cast<std::uint32_t>(v >> 32);
  trim(b);
  return b;
}
int compare(const Big* a, const Big* b) {
  if (a->length != b->length) return a->length < b->length ? -1 : 1;
  for (std::uint32_t i = a->length; i-- > 0;)
    if (a->limbs[i] != b->limbs[i]) return a->limbs[i] < b->limbs[i] ? -1 : 1;
  return 0;
}
Big* add(const Big* a, const Big* b) {
  const std::uint32_t n = (a->length > b->length ? a->length : b->length) + 1;
  Big* r = make(n);
  std::uint64_t carry = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    carry += (i < a->length ? a->limbs[i] : 0ull) + (i < b->length ? b->limbs[i] : 0ull);
    r->limbs[i] = static_cast<std::uint32_t>(carry);
    carry >>= 32;
  }
  trim(r);
  return r;
}
Big* subtract(const Big* a, const Big* b) {  // a >= b
  Big* r = make(a->length);
  std::int64_t borrow = 0;
  for (std::uint32_t i = 0; i < a->length; ++i) {
    std::int64_t d = std::int64_t{a->limbs[i]} - (i < b->length ? b->limbs[i] : 0) - borrow;
    borrow = d < 0;
    r->limbs[i] = static_cast<std::uint32_t>(d + (borrow << 32));
  }
  trim(r);
  return r;
}
Big* multiply(const Big* a, const Big* b) {
  Big* r = make(a->length + b->length);
  std::memset(r->limbs, 0, sizeof(std::uint32_t) * r->length);
  for (std::uint32_t i = 0; i < a->length; ++i) {
    std::uint64_t carry = 0;
    for (std::uint32_t j = 0; j < b->length; ++j) {
      carry += std::uint64_t{a->limbs[i]} * b->limbs[j] + r->limbs[i + j];
      r->limbs[i + j] = static_cast<std::uint32_t>(carry);
      carry >>= 32;
    }
    r->limbs[i + b->length] = static_cast<std::uint32_t>(carry);
  }
  trim(r);
  return r;
}
bool bit(const Big* a, std::uint32_t i) {
  return (a->limbs[i / 32] >> (i % 32)) & 1;
}
// a mod m, bit by bit from the top: r = 2r + bit, minus m when it reaches m.
Big* remainder(const Big* a, const Big* m) {
  Big* r = make(0);
  for (std::uint32_t i = a->length * 32; i-- > 0;) {
    Big* doubled = add(r, r);
    std::free(r);
    if (bit(a, i)) {
      Big* one = from(1);
      r = add(doubled, one);
      std::free(one);
      std::free(doubled);
    } else {
      r = doubled;
    }
    if (compare(r, m) >= 0) {
      Big* less = subtract(r, m);
      std::free(r);
      r = less;
    }
  }
  return r;
}
Big* gcd(Big* a, Big* b) {  // consumes both
  while (b->length != 0) {
    Big* r = remainder(a, b);
    std::free(a);
    a = b;
    b = r;
  }
  std::free(b);
  return a;
}
// f(x) = x^2 + c mod n
Big* step(const Big* x, const Big* c, const Big* n) {
  Big* square = multiply(x, x);
  Big* sum = add(square, c);
  Big* r = remainder(sum, n);
  std::free(square);
  std::free(sum);
  return r;
}
std::uint64_t rho(std::uint64_t value, std::uint64_t c_value) {
  Big* n = from(value);
  Big* c = from(c_value);
  Big* x = from(2);
  Big* y = from(2);
  std::uint64_t factor = 1;
  for (int iteration = 0; iteration < 1'000'000 && factor == 1; ++iteration) {
    Big* x2 = step(x, c, n);
    std::free(x);
    x = x2;
    Big* y1 = step(y, c, n);
    Big* y2 = step(y1, c, n);
    std::free(y1);
    std::free(y);
    y = y2;
    Big* diff = compare(x, y) >= 0 ? subtract(x, y) : subtract(y, x);
    if (diff->length == 0) {
      std::free(diff);
      break;
    }
    Big* n_copy = add(n, diff);  // n + d keeps gcd(n, d) and gives gcd its own copy
    Big* g = gcd(n_copy, diff);
    factor =
        g->length == 0 ? 0 : g->limbs[0] | (g->length > 1 ? std::uint64_t{g->limbs[1]} << 32 : 0);
    std::free(g);
  }
  std::free(n);
  std::free(c);
  std::free(x);
  std::free(y);
  return factor;
}
bool is_prime(std::uint64_t v) {
  if (v < 2) return false;
  for (std::uint64_t d = 2; d * d <= v; ++d)
    if (v % d == 0) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  workload::Options options(argc, argv, "alloc_bigint_factor");
  const long count = options.get("count", 12);
  const long prime_bits = options.get("prime-bits", 22);
  options.check();
  workload::Random random(99);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t check = 0;
  for (long i = 0; i < count; ++i) {
    std::uint64_t p;
    std::uint64_t q;
    do p = (random.next() & ((1ull << prime_bits) - 1)) | (1ull << (prime_bits - 1));
    while (!is_prime(p));
    do q = (random.next() & ((1ull << prime_bits) - 1)) | (1ull << (prime_bits - 1));
    while (!is_prime(q));
    check += rho(p * q, 1 + i % 3);
  }
  workload::report("bigint_factor", workload::seconds_since(start), check);
  return 0;
}
