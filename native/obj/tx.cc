// Transactions on an ObjPool: the native half of lib/obj/tx.ts.
//
// libpmemobj transactions are per thread and undo-logged. This file uses
// only their non-longjmp error path: pmemobj_tx_begin with a NULL jmp_buf,
// POBJ_TX_FAILURE_RETURN, and the *_NO_ABORT flags, so a failure returns an
// error code here and never longjmps across N-API frames. lib/obj/tx.ts ends
// every transaction it begins (commit or abort, both followed by
// pmemobj_tx_end) before the JavaScript call that began it returns or throws.
//
// A transaction is begun lazily by its first operation, so an update is one
// native call per operation plus one for the commit.
#include <cerrno>
#include <cstring>

#include "core/args.h"
#include "core/errors.h"
#include "obj/pool.h"

namespace pmem {
namespace obj {
namespace {

// Begins this pool's transaction on this thread, unless it is already open.
void Begin(Napi::Env env, Pool* p) {
  if (p->inTx) return;
  if (pmemobj_tx_stage() != TX_STAGE_NONE) {
    // Another pool's transaction (libpmemobj cannot span pools), or one a
    // C caller left open on this thread.
    throw MakePmemError(env, "ERR_PMEM_INVALID",
                        "another libpmemobj transaction is open on this thread");
  }
  if (pmemobj_tx_begin(p->pop, nullptr, TX_PARAM_NONE) != 0) {
    int err = errno;
    if (pmemobj_tx_stage() != TX_STAGE_NONE) pmemobj_tx_end();
    ThrowObjError(env, ObjOp::kTx, "pmemobj_tx_begin", p->path, err);
  }
  // Failures inside this transaction return an error to the caller instead
  // of aborting it; lib/obj/tx.ts then aborts when the error leaves the
  // transaction function.
  pmemobj_tx_set_failure_behavior(POBJ_TX_FAILURE_RETURN);
  p->inTx = true;
}

// Snapshots [dst, dst+len) into the undo log. The snapshot is durable
// before this returns, so a crash after any later store to the range rolls
// it back on the next open.
void AddRange(Napi::Env env, Pool* p, char* dst, uint64_t len) {
  if (len == 0) return;
  if (pmemobj_tx_xadd_range_direct(dst, len, POBJ_XADD_NO_ABORT) != 0) {
    ThrowObjError(env, ObjOp::kTx, "pmemobj_tx_add_range", p->path, errno);
  }
}

// txAdd(off, len) -> false when the range is not inside an object.
Napi::Value TxAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t len = ArgIndex(info, 1, "length");
  char* dst = InObject(p, off, len);
  if (dst == nullptr) return Napi::Boolean::New(env, false);
  Begin(env, p);
  AddRange(env, p, dst, len);
  return Napi::Boolean::New(env, true);
}

// txWrite(off, data) -> false when the range is not inside an object, else
// snapshot, then store. The store needs no flush here:
// pmemobj_tx_commit flushes every range added to the transaction before it
// discards the undo log.
Napi::Value TxWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  const char* data;
  size_t len;
  char* dst = WriteArgs(info, p, &data, &len);
  if (dst == nullptr) return Napi::Boolean::New(env, false);
  Begin(env, p);
  AddRange(env, p, dst, len);
  if (len > 0) std::memmove(dst, data, len);
  return Napi::Boolean::New(env, true);
}

// txAlloc(size, zero) -> offset. The allocation is reserved now and made
// durable by the commit; an abort (or a crash before the commit) frees it.
Napi::Value TxAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t size = ArgIndex(info, 0, "size");
  bool zero = info[1].ToBoolean().Value();
  if (size == 0 || size > PMEMOBJ_MAX_ALLOC_SIZE) {
    throw Napi::RangeError::New(env, "size must be 1.." + std::to_string(PMEMOBJ_MAX_ALLOC_SIZE));
  }
  Begin(env, p);
  uint64_t flags = POBJ_XALLOC_NO_ABORT | (zero ? POBJ_XALLOC_ZERO : 0);
  PMEMoid oid = pmemobj_tx_xalloc(size, 0, flags);
  if (OID_IS_NULL(oid)) ThrowObjError(env, ObjOp::kTx, "pmemobj_tx_alloc", p->path, errno);
  p->objects[oid.off] = pmemobj_alloc_usable_size(oid);
  p->txAdded.push_back(oid.off);
  return Napi::Number::New(env, static_cast<double>(oid.off));
}

// txFree(off) -> false when off is not a live object start (or is the
// root). Otherwise the object is freed by the commit; an abort keeps it. It is
// gone from the object table at once, so the rest of the transaction
// cannot use it.
Napi::Value TxFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t usable = ObjectAt(p, off);
  if (usable == 0 || off == p->rootOff) return Napi::Boolean::New(env, false);
  Begin(env, p);
  if (pmemobj_tx_xfree(Oid(p, off), POBJ_XFREE_NO_ABORT) != 0) {
    ThrowObjError(env, ObjOp::kTx, "pmemobj_tx_free", p->path, errno);
  }
  p->objects.erase(off);
  p->txRemoved.emplace_back(off, usable);
  return Napi::Boolean::New(env, true);
}

// txCommit(). pmemobj_tx_commit makes the transaction durable in three
// steps: (1) it flushes every added range and new object, and persists the
// redo log of allocator changes; (2) it applies ("publishes") that log to
// the heap's metadata; (3) it persists the end of the transaction by
// invalidating the undo log. A crash before (3) rolls the whole transaction
// back on the next open; after it, all of it is kept.
Napi::Value TxCommit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  if (!p->inTx) return env.Undefined();  // nothing was done: nothing to commit
  if (pmemobj_tx_stage() != TX_STAGE_WORK) {
    // libpmemobj aborted it itself; roll our table back and say so.
    p->AbortOpenTx();
    throw MakePmemError(env, "ERR_PMEM_TX_ENDED", "the transaction was aborted by libpmemobj", 0,
                        nullptr, &p->path);
  }
  pmemobj_tx_commit();
  int err = pmemobj_tx_end();
  p->inTx = false;
  p->txAdded.clear();
  p->txRemoved.clear();
  if (err != 0) ThrowObjError(env, ObjOp::kTx, "pmemobj_tx_end", p->path, err);
  return env.Undefined();
}

// txAbort(): roll back every added range and every allocation, now.
Napi::Value TxAbort(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  p->AbortOpenTx();
  return info.Env().Undefined();
}

}  // namespace

void InitObjTx(Napi::Env env, Napi::Object handle, const PoolPtr& pool) {
  BindMethod(env, handle, "txAdd", TxAdd, pool);
  BindMethod(env, handle, "txWrite", TxWrite, pool);
  BindMethod(env, handle, "txAlloc", TxAlloc, pool);
  BindMethod(env, handle, "txFree", TxFree, pool);
  BindMethod(env, handle, "txCommit", TxCommit, pool);
  BindMethod(env, handle, "txAbort", TxAbort, pool);
}

}  // namespace obj
}  // namespace pmem
