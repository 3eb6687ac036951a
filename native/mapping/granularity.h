// The store granularity of a mapped file: what a store needs to become
// persistent (libpmem2's view), as reported to JavaScript.
#pragma once

#include <string>

namespace pmem {

enum Granularity { kByte, kCacheLine, kPage };

// "byte", "cache-line" or "page".
const char* GranularityName(Granularity g);

// Asks libpmem2 what a store to the file at `path` needs to become
// persistent; false when it cannot tell (see granularity.cc).
bool ProbeGranularity(const std::string& path, Granularity* out);

}  // namespace pmem
