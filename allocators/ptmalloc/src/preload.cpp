// libptmalloc.so: the malloc family, exported under the standard names.
#include "mtreplay/alloc_common/export_malloc.hpp"
#include "mtreplay/ptmalloc/ptmalloc.h"

MTREPLAY_EXPORT_MALLOC_FAMILY(pt_)
