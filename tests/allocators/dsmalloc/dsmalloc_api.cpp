// The kit's tests instantiated on dsmalloc's prefixed API.
#include "family_api.hpp"
#include "family_test.hpp"
#include "mtreplay/dsmalloc/dsmalloc.h"

namespace mtreplay::alloc::testing {

const FamilyApi kDsmalloc{"dsmalloc",       ds_malloc,       ds_free,     ds_calloc,
                          ds_realloc,       ds_reallocarray, ds_memalign, ds_posix_memalign,
                          ds_aligned_alloc, ds_valloc,       ds_pvalloc,  ds_malloc_usable_size,
                          ds_check_heap};

INSTANTIATE_TEST_SUITE_P(Dsmalloc, FamilyTest, ::testing::Values(&kDsmalloc),
                         [](const auto&) { return std::string("prefixed"); });

}  // namespace mtreplay::alloc::testing
