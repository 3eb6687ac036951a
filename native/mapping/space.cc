#include "mapping/space.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pmem {

void Restore(int fd, const struct stat& before, uint64_t end) {
  const off_t old = before.st_size;
  if (ftruncate(fd, old) == 0 && end > static_cast<uint64_t>(old)) {
    // ext4 may keep blocks that a failed FALLOC_FL_KEEP_SIZE allocated past
    // the end; tmpfs undoes them itself. Best effort: the size is what counts.
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, old,
              static_cast<off_t>(end - static_cast<uint64_t>(old)));
  }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  futimens(fd, times);
}

namespace {

bool Unsupported(int err) { return err == EOPNOTSUPP || err == ENOSYS; }

// Reserves [off, off + len) inside the file's size.
int ReserveInside(int fd, uint64_t off, uint64_t len, const char** call) {
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off), static_cast<off_t>(len)) == 0) return 0;
  int err = errno;
  if (!Unsupported(err)) {
    *call = "fallocate";
    return err;
  }
  // No fallocate here (some network and FUSE filesystems): glibc writes a
  // zero into each block that reads as zero, which never changes a byte.
  *call = "posix_fallocate";
  return posix_fallocate(fd, static_cast<off_t>(off), static_cast<off_t>(len));
}

}  // namespace

int ExtendReserved(int fd, const struct stat& before, uint64_t size, bool sparse, const char** call) {
  const uint64_t old = static_cast<uint64_t>(before.st_size);
  if (size <= old) return 0;
  bool reserved = sparse;
  if (!sparse) {
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(old), static_cast<off_t>(size - old)) == 0) {
      reserved = true;
    } else if (!Unsupported(errno)) {
      int err = errno;
      Restore(fd, before, size);
      *call = "fallocate";
      return err;
    }
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    Restore(fd, before, size);
    *call = "ftruncate";
    return err;
  }
  if (!reserved) {
    // The filesystem has no fallocate: the size is set first, and nothing
    // maps the new range until the blocks are there.
    int err = posix_fallocate(fd, static_cast<off_t>(old), static_cast<off_t>(size - old));
    if (err != 0) {
      Restore(fd, before, size);
      *call = "posix_fallocate";
      return err;
    }
  }
  return 0;
}

int ReserveHoles(int fd, const struct stat& before, uint64_t size, const char** call) {
  std::vector<Span64> filled;
  uint64_t pos = 0;
  while (pos < size) {
    off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    // A filesystem that cannot tell reports no hole (the end of the file).
    if (hole < 0 || static_cast<uint64_t>(hole) >= size) break;
    off_t data = lseek(fd, hole, SEEK_DATA);
    uint64_t end = data < 0 ? size : static_cast<uint64_t>(data);  // ENXIO: a hole to the end
    if (end > size) end = size;
    int err = ReserveInside(fd, static_cast<uint64_t>(hole), end - static_cast<uint64_t>(hole), call);
    if (err != 0) {
      // The filled ranges were holes (zeros) a moment ago; punching them
      // again changes no byte and gives the space back.
      for (const Span64& f : filled) {
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(f.begin),
                  static_cast<off_t>(f.end - f.begin));
      }
      Restore(fd, before, size);
      return err;
    }
    filled.push_back({static_cast<uint64_t>(hole), end});
    pos = end;
  }
  return 0;
}

std::vector<Span64> PageHoles(int fd, uint64_t size, uint64_t page) {
  std::vector<Span64> holes;
  uint64_t pos = 0;
  while (pos < size) {
    off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    if (hole < 0 || static_cast<uint64_t>(hole) >= size) break;
    off_t data = lseek(fd, hole, SEEK_DATA);
    // ENXIO: no data after the hole. Any other failure: stop, since a range
    // taken for a hole would be read as zeros.
    if (data < 0 && errno != ENXIO) break;
    uint64_t end = data < 0 ? size : static_cast<uint64_t>(data);
    if (end > size) end = size;
    // Whole pages only: a page that is partly data must come from the file.
    uint64_t b = (static_cast<uint64_t>(hole) + page - 1) / page * page;
    uint64_t e = end == size ? (size + page - 1) / page * page : end / page * page;
    if (e > b) holes.push_back({b, e});
    pos = end;
  }
  return holes;
}

}  // namespace pmem
