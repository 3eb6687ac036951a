// File space: reserve blocks before a file is extended or mapped, so that no
// mapped page lacks the blocks behind it. A store (or, on tmpfs, even a read)
// into a page without blocks on a full filesystem is a SIGBUS; these turn
// that into an errno at open time instead.
#pragma once

#include <napi.h>
#include <sys/stat.h>

#include <cstdint>
#include <vector>

namespace pmem {

// A byte range [begin, end) of a file.
struct Span64 {
  uint64_t begin;
  uint64_t end;
};

// Puts back what a failed reservation may have changed: the size of
// `before`, blocks past it up to `end`, and the timestamps (ftruncate and
// fallocate touch mtime). Best effort: it runs on a failure path.
void Restore(int fd, const struct stat& before, uint64_t end);

// Grows the open file `fd` (described by `before`) to `size` bytes: reserves
// the new range first (fallocate FALLOC_FL_KEEP_SIZE; where the filesystem
// cannot, extend and posix_fallocate), and only then sets the size. With
// `sparse` nothing is reserved. On failure the file is back to its size and
// timestamps of `before`, *call names the failed call, and errno is returned.
int ExtendReserved(int fd, const struct stat& before, uint64_t size, bool sparse, const char** call);

// Reserves blocks for every hole in [0, size) of `fd` without changing its
// size. On failure the holes it filled are punched again, the timestamps of
// `before` restored, and the errno returned (*call names the failed call).
int ReserveHoles(int fd, const struct stat& before, uint64_t size, const char** call);

// punchHole(path, offset, length): gives back the storage of [offset,
// offset + length) of the file at `path` (FALLOC_FL_PUNCH_HOLE, the size
// kept): the range reads as zeros from then on, and its blocks (on tmpfs,
// its pages) are free for any file. Whole pages are freed; bytes of a page
// the range only partly covers are zeroed. True when done; false when the
// filesystem cannot punch holes (nothing changed).
Napi::Value PunchHole(const Napi::CallbackInfo& info);

// The holes of [0, size), shrunk inward to whole pages of `page` bytes.
// Empty when the file has none or the filesystem cannot tell.
std::vector<Span64> PageHoles(int fd, uint64_t size, uint64_t page);

}  // namespace pmem
