// The check of a pool this process may read but not write.
//
// pmemobj_check maps the pool privately (POOL_OPEN_COW: nothing it does
// reaches the file), but PMDK 1.12.1 opens every part O_RDWR before it maps
// it (util_part_open, src/common/set.c), so a pool on a read-only
// filesystem, or a file this user may only read, fails with EROFS or EACCES
// before anything is checked. Such a pool is copied into an anonymous
// memory file (memfd_create) and the copy is checked: the same bytes, so
// the same verdict. Pages of zeros are not copied (the copy's holes read as
// zeros), so the copy takes memory for the pool's written pages only.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "obj/pool.h"

namespace pmem {
namespace obj {

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kChunk = 1 << 20;

bool AllZero(const char* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

// Why a copy step failed: the system call, its errno, and whether it was
// the copy's side (memory) or the file's.
struct CopyError {
  const char* call = nullptr;
  int err = 0;
  bool memory = false;
};

// Copies [from, to) of `src` into `dst` at the same offsets, each run of
// pages that are not all zeros with one write.
bool CopyRange(int src, int dst, off_t from, off_t to, std::vector<char>& buf, CopyError* e) {
  while (from < to) {
    size_t want = static_cast<size_t>(std::min<off_t>(to - from, static_cast<off_t>(kChunk)));
    ssize_t got = pread(src, buf.data(), want, from);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *e = {"pread", got < 0 ? errno : EIO, false};  // 0: the file shrank under the copy
      return false;
    }
    size_t n = static_cast<size_t>(got);
    size_t at = 0;
    while (at < n) {
      size_t page = std::min(kPage, n - at);
      if (AllZero(buf.data() + at, page)) {
        at += page;
        continue;
      }
      size_t end = at + page;
      while (end < n && !AllZero(buf.data() + end, std::min(kPage, n - end))) end += std::min(kPage, n - end);
      for (size_t done = at; done < end;) {
        ssize_t put = pwrite(dst, buf.data() + done, end - done, from + static_cast<off_t>(done));
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
          *e = {"pwrite", put < 0 ? errno : ENOSPC, true};
          return false;
        }
        done += static_cast<size_t>(put);
      }
      at = end;
    }
    from += got;
  }
  return true;
}

// Copies the regular file `fd` of `size` bytes into `mem`, extent by extent
// (SEEK_DATA/SEEK_HOLE: a sparse pool's holes are neither read nor copied).
bool CopyFile(int fd, int mem, off_t size, CopyError* e) {
  if (ftruncate(mem, size) != 0) {
    *e = {"ftruncate", errno, true};
    return false;
  }
  std::vector<char> buf(kChunk);
  off_t at = 0;
  while (at < size) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) return true;  // only a hole is left
    off_t hole = data < 0 ? size : lseek(fd, data, SEEK_HOLE);
    if (data < 0) data = at;  // no SEEK_DATA here (EINVAL): all of it is data
    if (hole < 0) hole = size;
    if (!CopyRange(fd, mem, data, std::min(hole, size), buf, e)) return false;
    at = hole;
  }
  return true;
}

std::string ErrnoName(int err) {
  switch (err) {
    case EROFS: return "EROFS: a read-only filesystem";
    case EACCES: return "EACCES: not writable by this user";
    case EPERM: return "EPERM: not writable here";
    default: return std::strerror(err);
  }
}

}  // namespace

int PrivateCopyForCheck(Napi::Env env, const std::string& path, std::string* why) {
  int rw = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (rw >= 0) {
    close(rw);
    return -1;
  }
  int denied = errno;
  if (denied != EROFS && denied != EACCES && denied != EPERM) return -1;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;  // not readable either: pmemobj_check reports why
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  // Copied under a shared flock: libpmemobj holds an exclusive one while
  // the pool is open, in this process or another (a file this user may only
  // read can be its owner's open pool), and such a pool is ERR_PMEM_LOCKED,
  // as pmemobj_check would find it, rather than copied while it changes.
  // A filesystem without flock is copied without it.
  if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    int err = errno;
    close(fd);
    throw MakePmemError(env, "ERR_PMEM_LOCKED", "'" + path + "' is open in another process or handle",
                        err, "flock", &path);
  }
  *why = ErrnoName(denied);
  CopyError e;
  int mem = memfd_create("pmem-check", MFD_CLOEXEC);
  if (mem < 0) {
    e = {"memfd_create", errno, true};
  } else if (!CopyFile(fd, mem, st.st_size, &e)) {
    close(mem);
    mem = -1;
  }
  close(fd);  // and its flock: the copy is whole
  if (mem < 0) {
    // Memory that runs out under a memfd is ENOSPC or ENOMEM; any other
    // errno (EFBIG past a file size limit, EIO reading the file) is the
    // system's, through the one errno table.
    const char* code =
        e.memory && (e.err == ENOSPC || e.err == ENOMEM) ? "ERR_PMEM_NO_MEMORY" : CodeForErrno(e.err);
    throw MakePmemError(env, code,
                        "cannot check '" + path + "': it is not writable here (" + *why +
                            "), and pmemobj_check opens the file to write, so it is checked through "
                            "a private copy in memory, which failed: " + e.call + ": " +
                            std::strerror(e.err),
                        e.err, e.call, &path);
  }
  return mem;
}

}  // namespace obj
}  // namespace pmem
