// The kit's tests instantiated on ptmalloc's prefixed API.
#include "family_api.hpp"
#include "family_test.hpp"
#include "mtreplay/ptmalloc/ptmalloc.h"

namespace mtreplay::alloc::testing {

const FamilyApi kPtmalloc{"ptmalloc",       pt_malloc,       pt_free,     pt_calloc,
                          pt_realloc,       pt_reallocarray, pt_memalign, pt_posix_memalign,
                          pt_aligned_alloc, pt_valloc,       pt_pvalloc,  pt_malloc_usable_size,
                          pt_check_heaps};

INSTANTIATE_TEST_SUITE_P(Ptmalloc, FamilyTest, ::testing::Values(&kPtmalloc),
                         [](const auto&) { return std::string("prefixed"); });

}  // namespace mtreplay::alloc::testing
