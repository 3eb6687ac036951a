// PMDK walks /sys/bus/nd/devices with fts(3) to learn whether a mapping's
// region flushes on power failure (libpmem2's pmem2_auto_flush, reached from
// pmem_init at load, from pmem2_map_new in ProbeGranularity, and from
// libpmemobj's pool open). It opens the walk without FTS_NOCHDIR, so glibc's
// fts_read fchdir()s the whole process into each directory it reads and
// back at fts_close. A working directory is process-wide: while one thread
// opens a mapping, a relative path resolved on any other thread (the main
// thread, a worker_thread, a child spawned then) lands under /sys, and two
// walks that overlap can leave the process there for good.
//
// PMDK is linked statically (binding.gyp), so its call to fts_open binds to
// this definition, which is hidden: it stays inside pmem.node and interposes
// nothing else in the process. It adds FTS_NOCHDIR and calls glibc's
// fts_open. With FTS_NOCHDIR fts reads by full path and never changes the
// working directory; PMDK reads only fts_path and fts_name of each entry,
// which are the same either way.
//
// Node builds addons with _FILE_OFFSET_BITS=64, under which <fts.h> renames
// fts_open to fts64_open. PMDK's objects were compiled without it and call
// fts_open (nm -D shows fts_open@GLIBC_2.2.5 before this file existed), so
// this file declares fts_open as PMDK sees it.
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fts.h>

namespace {

using FtsOpen = FTS* (*)(char* const*, int, int (*)(const FTSENT**, const FTSENT**));

FtsOpen GlibcFtsOpen() {
  // RTLD_NEXT: the next fts_open after pmem.node in its lookup order,
  // libc's. Should that find none (a loader that scopes pmem.node oddly),
  // the global lookup, which cannot return this one: it is not exported.
  static const FtsOpen next = [] {
    void* f = dlsym(RTLD_NEXT, "fts_open");
    if (f == nullptr) f = dlsym(RTLD_DEFAULT, "fts_open");
    return reinterpret_cast<FtsOpen>(f);
  }();
  return next;
}

}  // namespace

extern "C" __attribute__((visibility("hidden"))) FTS* fts_open(
    char* const* paths, int options, int (*compar)(const FTSENT**, const FTSENT**)) {
  FtsOpen next = GlibcFtsOpen();
  if (next == nullptr) {
    // PMDK treats a failed walk as "cannot tell", as it does an absent /sys.
    errno = ENOSYS;
    return nullptr;
  }
  return next(paths, options | FTS_NOCHDIR, compar);
}
