// libdsmalloc.so: the malloc family, exported under the standard names. With
// DSMALLOC_STATS set, the metadata cost is reported on stderr when the program exits.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include "mtreplay/alloc_common/export_malloc.hpp"
#include "mtreplay/dsmalloc/dsmalloc.h"

MTREPLAY_EXPORT_MALLOC_FAMILY(ds_)

namespace {

__attribute__((destructor)) void report_metadata() {
  if (!getenv("DSMALLOC_STATS")) return;
  size_t peak = ds_peak_live_blocks(), meta_peak = ds_metadata_bytes_at_peak();
  size_t live = ds_live_blocks(), meta = ds_metadata_bytes();
  char line[256];
  int len =
      snprintf(line, sizeof line,
               "dsmalloc: peak %zu live blocks, %zu metadata bytes (%.3f per block); "
               "at exit %zu blocks, %zu bytes\n",
               peak, meta_peak, peak ? static_cast<double>(meta_peak) / peak : 0.0, live, meta);
  if (len > 0) [[maybe_unused]]
    auto ignored = write(2, line, static_cast<size_t>(len));
}

}  // namespace
