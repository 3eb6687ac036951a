#include "mapping/space.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/args.h"
#include "core/errors.h"

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

// The holes of [0, size) of a file, in order, from SEEK_HOLE/SEEK_DATA. A
// filesystem that cannot tell reports none (SEEK_HOLE finds only the
// implicit hole at the end of the file).
class Holes {
 public:
  Holes(int fd, uint64_t size) : fd_(fd), size_(size) {}

  // The next hole, clipped to [0, size); false when there is none left.
  // *endKnown is false when SEEK_DATA failed for another reason than ENXIO
  // (no data after the hole): the hole is then reported to `size`, and the
  // caller decides whether the rest may be taken for a hole.
  bool Next(Span64* hole, bool* endKnown) {
    if (pos_ >= size_) return false;
    off_t begin = lseek(fd_, static_cast<off_t>(pos_), SEEK_HOLE);
    if (begin < 0 || static_cast<uint64_t>(begin) >= size_) return false;
    off_t data = lseek(fd_, begin, SEEK_DATA);
    *endKnown = data >= 0 || errno == ENXIO;
    uint64_t end = data < 0 ? size_ : static_cast<uint64_t>(data);
    if (end > size_) end = size_;
    *hole = {static_cast<uint64_t>(begin), end};
    pos_ = end;
    return true;
  }

 private:
  int fd_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

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
  Holes holes(fd, size);
  Span64 h;
  bool endKnown;
  // A hole whose end is unknown is reserved to `size`: reserving blocks
  // under data changes no byte.
  while (holes.Next(&h, &endKnown)) {
    // A reader's shared mapping may fault a hole in (tmpfs allocates a page on
    // a read) while this walks: a span that came out empty reserves nothing.
    if (h.end <= h.begin) continue;
    int err = ReserveInside(fd, h.begin, h.end - h.begin, call);
    if (err != 0) {
      // A failed fallocate may keep what it allocated before it ran out
      // (ext4 keeps the unwritten extents it made; tmpfs undoes them
      // itself): the failed hole is punched again too, unless its end was
      // unknown, when it may reach over data.
      if (endKnown) filled.push_back(h);
      // The filled ranges were holes (zeros) a moment ago; punching them
      // again changes no byte and gives the space back.
      for (const Span64& f : filled) {
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(f.begin),
                  static_cast<off_t>(f.end - f.begin));
      }
      Restore(fd, before, size);
      return err;
    }
    filled.push_back(h);
  }
  return 0;
}

std::vector<Span64> PageHoles(int fd, uint64_t size, uint64_t page) {
  std::vector<Span64> holes;
  Holes walk(fd, size);
  Span64 h;
  bool endKnown;
  while (walk.Next(&h, &endKnown)) {
    // A hole whose end is unknown ends the walk, since a range taken for a
    // hole would be read as zeros.
    if (!endKnown) break;
    // Whole pages only: a page that is partly data must come from the file.
    uint64_t b = (h.begin + page - 1) / page * page;
    uint64_t e = h.end == size ? (size + page - 1) / page * page : h.end / page * page;
    if (e > b) holes.push_back({b, e});
  }
  return holes;
}

Napi::Value PunchHole(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "punchHole(path: string, offset: number, length: number)");
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const uint64_t off = ArgIndex(info, 1, "offset");
  const uint64_t len = ArgIndex(info, 2, "length");
  // off_t is signed: both ends must fit it.
  const uint64_t maxOff = static_cast<uint64_t>(INT64_MAX);
  if (off > maxOff || len > maxOff - off) throw Napi::RangeError::New(env, "offset + length must fit a file offset");
  if (len == 0) return Napi::Boolean::New(env, true);
  // O_WRONLY: fallocate needs a descriptor open for writing. O_NONBLOCK:
  // a FIFO without a reader fails (ENXIO) instead of blocking the open.
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) ThrowErrno(env, errno, "open", path, nullptr);
  int err = 0;
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
    err = errno;
  }
  close(fd);
  if (err == 0) return Napi::Boolean::New(env, true);
  if (Unsupported(err)) return Napi::Boolean::New(env, false);
  ThrowErrno(env, err, "fallocate", path, nullptr);
}

}  // namespace pmem
