// One place where native failures become JavaScript errors.
//
// lib/core/errors.ts hands its PmemError class to the addon at load time
// (setErrorClass); every native failure is thrown as an instance of it, with
// a stable code, and errno/syscall/path where they apply.
#pragma once

#include <napi.h>

#include <string>

namespace pmem {

// Per-environment state: one per main thread or worker (napi instance data).
struct AddonData {
  Napi::FunctionReference errorClass;
};

AddonData* GetAddonData(Napi::Env env);

// Builds a PmemError. `err` is an errno value (0 when none applies).
Napi::Error MakePmemError(Napi::Env env, const char* code, const std::string& message,
                          int err = 0, const char* syscall = nullptr,
                          const std::string* path = nullptr);

// Maps an errno from a libpmem/libpmem2/libpmemobj call to a stable code and
// throws it, with the library's own message appended.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const std::string& path, const char* libraryMessage);

// Stable code for an errno: the one errno table.
const char* CodeForErrno(int err);

// Whether the file at `path` starts with `sig` (a header's signature).
bool HasSignature(const std::string& path, const char* sig, size_t n);

// The code of a file that libpmemobj refuses as malformed: ERR_PMEM_CORRUPT
// when it starts with a libpmemobj signature (a damaged pool), else
// ERR_PMEM_NOT_POOL.
const char* ObjFormatCode(const std::string& path);

// The one place where libpmemobj failures become PmemErrors (the table is
// in errors.cc). `op` is what was being done; `err` the errno after `call`.
enum class ObjOp { kOpen, kCreate, kCheck, kAlloc, kTx, kOther };
// Empties libpmemobj's per-thread message, so that the next failure's is its own.
void ClearObjErrorMessage();

// `alias`, when given, is another name the call was given for `path` (a
// private copy's /proc/self/fd name), replaced by `path` in libpmemobj's
// message; `note` is appended to the message.
[[noreturn]] void ThrowObjError(Napi::Env env, ObjOp op, const char* call, const std::string& path,
                                int err, const std::string& alias = std::string(),
                                const std::string& note = std::string());

void InitErrors(Napi::Env env, Napi::Object exports);

}  // namespace pmem
