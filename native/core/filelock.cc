#include "core/filelock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "core/args.h"
#include "core/errors.h"

namespace pmem {
namespace {

// The byte of a KVStore file whose shared lock is a reader's pin: far past
// any file's end (a lock may lie past it), so that it never covers a byte of
// the store, and open file description locks (F_OFD_*), so that a reader in
// the writer's own process, or a second reader there, is a lock of its own:
// classic POSIX locks would merge within a process and go with any close of
// the file. Independent of the flock of lockFile on Linux's local
// filesystems.
constexpr off_t kPinByte = off_t{1} << 62;

// The byte next to it: the writer's mark. Every exclusive lockFile takes a
// shared open file description lock of it before its flock, so that a
// writer of this version holds its mark whenever its flock can be seen. A
// KVStore reader that finds the file's flock held and no mark knows the
// writer for one of an earlier version, which publishes nothing a reader
// can follow (writerMarked; lib/kv/follow.ts). A lock past the end of the
// file, like the pin: it covers no byte of any structure.
constexpr off_t kMarkByte = kPinByte + 1;

// Reads (path, exclusive, create), opens the file (creating an empty one
// with `create`) and takes LOCK_EX or LOCK_SH without waiting. Returns the
// locked descriptor.
int OpenLocked(const Napi::CallbackInfo& info, const char* usage, std::string* path) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
    throw Napi::TypeError::New(env, std::string(usage) + "(path: string, exclusive: boolean, create: boolean)");
  }
  *path = info[0].As<Napi::String>().Utf8Value();
  const bool exclusive = info[1].As<Napi::Boolean>().Value();
  const bool create = info[2].As<Napi::Boolean>().Value();
  // O_NONBLOCK: a read-only open of a FIFO returns at once instead of
  // waiting, perhaps forever, for a writer to open it; the caller refuses
  // it by its type (fstat of this descriptor). On a regular file it
  // changes nothing.
  int flags = (exclusive ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0);
  int fd = open(path->c_str(), flags, 0644);
  if (fd < 0) ThrowErrno(env, errno, "open", *path, nullptr);
  if (exclusive) {
    // The mark, before the flock. Where there are no such locks (an old
    // kernel, a filesystem without byte-range locks) it is not taken, and
    // a reader there cannot ask for it either (writerMarked).
    struct flock fl = {};
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = kMarkByte;
    fl.l_len = 1;
    (void)fcntl(fd, F_OFD_SETLK, &fl);
  }
  if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      throw MakePmemError(env, "ERR_PMEM_LOCKED",
                          std::string("'") + *path + "' is open " +
                              (exclusive ? "in another process or handle" : "for writing elsewhere"),
                          err, "flock", path);
    }
    ThrowErrno(env, err, "flock", *path, nullptr);
  }
  return fd;
}

// One held lock. Shared by the handle object and its release function;
// whichever of release(), the last finalizer and the cleanup hook comes
// first closes the descriptor, which drops the lock.
struct Lock {
  napi_env env = nullptr;
  int fd = -1;
  bool hookActive = false;

  ~Lock() { Release(); }

  void Release() {
    if (hookActive) {
      napi_remove_env_cleanup_hook(env, CleanupHook, this);
      hookActive = false;
    }
    if (fd >= 0) close(fd);
    fd = -1;
  }

  static void CleanupHook(void* arg) {
    // The environment (a worker, say) is going away: drop the lock now, or
    // the descriptor and its lock would live until the process exits.
    Lock* self = static_cast<Lock*>(arg);
    self->hookActive = false;
    if (self->fd >= 0) close(self->fd);
    self->fd = -1;
  }
};

using LockPtr = std::shared_ptr<Lock>;

void DeleteLockPtr(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<LockPtr*>(data); }

// release(): drops the lock. Releasing twice does nothing.
Napi::Value Release(const Napi::CallbackInfo& info) {
  static_cast<LockPtr*>(info.Data())->get()->Release();
  return info.Env().Undefined();
}

// { fd, release() } over an open descriptor, which it now owns.
Napi::Object NewHandle(Napi::Env env, int fd) {
  auto lock = std::make_shared<Lock>();
  lock->env = env;
  lock->fd = fd;
  napi_add_env_cleanup_hook(env, Lock::CleanupHook, lock.get());
  lock->hookActive = true;
  Napi::Object h = Napi::Object::New(env);
  auto* forObject = new LockPtr(lock);
  napi_add_finalizer(env, h, forObject, DeleteLockPtr, nullptr, nullptr);
  auto* forRelease = new LockPtr(lock);
  Napi::Function release = Napi::Function::New(env, Release, "release", forRelease);
  napi_add_finalizer(env, release, forRelease, DeleteLockPtr, nullptr, nullptr);
  h.Set("release", release);
  // The descriptor, read-only, so that JavaScript reads the file through the
  // handle. It is valid until release(); nothing else closes it while the
  // handle is reachable. Only the handle's own release, finalizer or hook
  // closes it, each at most once (Lock::fd = -1 after), so a number that a
  // later open reuses is never closed under that open.
  h.DefineProperty(Napi::PropertyDescriptor::Value("fd", Napi::Number::New(env, lock->fd), napi_enumerable));
  return h;
}

// lockFile(path, exclusive, create) -> { fd, release() }
Napi::Value LockFile(const Napi::CallbackInfo& info) {
  std::string path;
  return NewHandle(info.Env(), OpenLocked(info, "lockFile", &path));
}

// openFile(path) -> { fd, release() }: a read-only descriptor and no lock
// (a KVStore reader beside a writer, which must never make the writer's
// flock fail), released as a lock is: a reader dropped without close(), or
// a worker that exits holding one, does not leak the descriptor.
// O_NONBLOCK as in OpenLocked: a FIFO is opened at once, to be refused by
// its type.
Napi::Value OpenFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "openFile(path: string)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) ThrowErrno(env, errno, "open", path, nullptr);
  return NewHandle(env, fd);
}

// The descriptor argument of the pin calls: an integer from 0 up.
int FdArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), usage);
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 0x7fffffff) || d != static_cast<int>(d)) {
    throw Napi::RangeError::New(info.Env(), std::string(usage) + ": fd must be an integer from 0 to 2^31 - 1");
  }
  return static_cast<int>(d);
}

// Whether another open file description holds a lock of the one byte at
// `byte` of the file open as `fd`, asked as a writer would ask (F_WRLCK:
// any lock conflicts) without taking anything: 1 or 0, or -1 with errno
// set when it cannot be asked.
int OtherHolds(int fd, off_t byte) {
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
  return fl.l_type != F_UNLCK ? 1 : 0;
}

// Whether a failure of the pin's fcntl means only that there is no pin to
// be had here: every errno but EBADF (an old kernel's EINVAL, a filesystem
// or device without byte-range locks, ENOLCK when the kernel has none
// left, a network filesystem's own errors). A reader then reads again as
// it would without the pin, and a writer's put never fails for it.
bool PinUnsupported(int err) { return err != EBADF; }

// A closed descriptor (EBADF): a caller's mistake, not the file's. `what`
// names the byte asked about: "a reader's pin" or "the writer's mark".
Napi::Error PinError(Napi::Env env, int err, const char* cmd, const char* what = "a reader's pin") {
  return MakePmemError(env, CodeForErrno(err), std::string("fcntl(") + cmd + ") of " + what + " failed: " + std::strerror(err),
                       err, "fcntl");
}

// holdPin(fd, hold) -> boolean: takes (hold) or drops the shared lock of the
// pin byte on `fd`, without waiting. True when it is held after the call.
// Taken only by a reader whose read was done again because the writer's
// cleaning freed segments under it: the writer's paced cleaning leaves its
// next free for later while any reader holds it (pinHeld, lib/kv/compact.ts).
// The lock goes with the descriptor's close and with the process, so a
// killed reader leaves no pin behind.
Napi::Value HoldPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "holdPin(fd: number, hold: boolean)";
  int fd = FdArg(info, 0, usage);
  if (info.Length() < 2 || !info[1].IsBoolean()) throw Napi::TypeError::New(env, usage);
  const bool hold = info[1].As<Napi::Boolean>().Value();
  struct flock fl = {};
  fl.l_type = hold ? F_RDLCK : F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kPinByte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return Napi::Boolean::New(env, hold);
  int err = errno;
  // EAGAIN/EACCES: a conflicting lock (NFS emulates the writer's flock with
  // a whole-file fcntl lock), so no pin.
  if (err == EAGAIN || err == EACCES || PinUnsupported(err)) return Napi::Boolean::New(env, false);
  throw PinError(env, err, "F_OFD_SETLK");
}

// pinHeld(fd) -> boolean: whether another open of the file holds the pin
// byte (any reader's holdPin), asked through the writer's descriptor
// without taking anything (F_OFD_GETLK). False where there are no such
// locks.
Napi::Value PinHeld(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "pinHeld(fd: number)");
  int held = OtherHolds(fd, kPinByte);
  if (held >= 0) return Napi::Boolean::New(env, held == 1);
  int err = errno;
  if (PinUnsupported(err)) return Napi::Boolean::New(env, false);
  throw PinError(env, err, "F_OFD_GETLK");
}

// writerMarked(fd) -> boolean: whether another open of the file holds the
// writer's mark (an exclusive lockFile of this version), asked through a
// reader's descriptor without taking anything. True where it cannot be
// asked (no such locks here): the reader then follows as it would anyway.
Napi::Value WriterMarked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "writerMarked(fd: number)");
  int held = OtherHolds(fd, kMarkByte);
  if (held >= 0) return Napi::Boolean::New(env, held == 1);
  int err = errno;
  if (PinUnsupported(err)) return Napi::Boolean::New(env, true);
  throw PinError(env, err, "F_OFD_GETLK", "the writer's mark");
}

}  // namespace

void InitFileLock(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile, "lockFile"));
  exports.Set("openFile", Napi::Function::New(env, OpenFile, "openFile"));
  exports.Set("holdPin", Napi::Function::New(env, HoldPin, "holdPin"));
  exports.Set("pinHeld", Napi::Function::New(env, PinHeld, "pinHeld"));
  exports.Set("writerMarked", Napi::Function::New(env, WriterMarked, "writerMarked"));
}

}  // namespace pmem
