#include "mapping/granularity.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <unistd.h>

namespace pmem {

const char* GranularityName(Granularity g) {
  switch (g) {
    case kByte: return "byte";
    case kCacheLine: return "cache-line";
    default: return "page";
  }
}

// Asks libpmem2 what a store to this file needs to become persistent. It
// maps one alignment unit read-only, reads the granularity and unmaps it.
// Returns false when libpmem2 cannot tell (a file smaller than its
// alignment, say); the caller then falls back to libpmem's is_pmem.
bool ProbeGranularity(const std::string& path, Granularity* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = false;
  pmem2_source* src = nullptr;
  pmem2_config* cfg = nullptr;
  pmem2_map* map = nullptr;
  size_t align = 0, size = 0;
  if (pmem2_source_from_fd(&src, fd) == 0 && pmem2_source_alignment(src, &align) == 0 &&
      pmem2_source_size(src, &size) == 0 && align > 0 && size >= align &&
      pmem2_config_new(&cfg) == 0 &&
      pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
      pmem2_config_set_length(cfg, align) == 0 &&
      pmem2_config_set_protection(cfg, PMEM2_PROT_READ) == 0 &&
      pmem2_map_new(&map, cfg, src) == 0) {
    switch (pmem2_map_get_store_granularity(map)) {
      case PMEM2_GRANULARITY_BYTE: *out = kByte; break;
      case PMEM2_GRANULARITY_CACHE_LINE: *out = kCacheLine; break;
      default: *out = kPage; break;
    }
    pmem2_map_delete(&map);
    ok = true;
  }
  if (cfg != nullptr) pmem2_config_delete(&cfg);
  if (src != nullptr) pmem2_source_delete(&src);
  close(fd);
  return ok;
}

}  // namespace pmem
