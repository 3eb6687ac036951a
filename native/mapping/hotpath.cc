// The hot path: flush, drain, persist and sealRecord (sealRecords and sealAndApply
// are in native/mapping/records.cc), which run once per durable
// store or record. They are plain N-API (no node-addon-api wrappers) and
// take their numeric arguments from the mapping's call block (State::call,
// a Float64Array in lib/core/mapping.ts) instead of as JavaScript arguments:
// reading numbers through N-API costs more than the rest of a short call
// (docs/bench.md, "Measurements behind design choices").
// lib/core/mapping.ts writes the block and calls at once, on the one thread that
// uses the mapping; the values are checked here as args.h checks arguments.
#include <libpmem.h>

#include <immintrin.h>

#include <cstring>
#include <string>

#include "core/args.h"
#include "core/crc32c.h"
#include "mapping/records.h"
#include "mapping/state.h"

namespace pmem {
namespace {

// flush(), call = [offset, length]: start writing back [offset, +length).
// persist(): the same, then the fence. On memory that is not pmem there is
// no cache-line write-back that reaches the media, so both are an msync,
// which is already durable; drain then has nothing left to wait for.
template <bool kPersist>
napi_value RawFlushOrPersist(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 0;
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, nullptr, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  try {
    CheckWritable(Napi::Env(env), s);
    uint64_t off, len;
    if (!SafeIndex(env, s->call[0], "offset", &off) || !SafeIndex(env, s->call[1], "length", &len)) return nullptr;
    CheckRange(Napi::Env(env), off, len, s->length);
    if (s->isPmem) {
      // CLWB of every line in the range; persist adds the SFENCE.
      if (kPersist) pmem_persist(s->addr + off, len); else pmem_flush(s->addr + off, len);
    } else if (len > 0 && pmem_msync(s->addr + off, len) != 0) {
      // Not pmem: msync is the flush and is durable at once.
      ThrowMsync(Napi::Env(env), s);
    }
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
  return nullptr;
}

// drain(): the SFENCE that waits for this thread's earlier flushes and
// streaming stores (a caller that flushed without persist orders them
// here). Not pmem: nothing to wait for, as flush was an msync. No argument,
// and nothing of the mapping is touched, so no check: a closed mapping is
// refused in lib/core/mapping.ts.
napi_value RawDrain(napi_env env, napi_callback_info cbinfo) {
  void* data = nullptr;
  size_t argc = 0;
  napi_get_cb_info(env, cbinfo, &argc, nullptr, nullptr, &data);
  if (static_cast<StatePtr*>(data)->get()->isPmem) pmem_drain();
  return nullptr;
}

// Starts loading the cache line at the address in call[kPrefetchHint], put
// there by lib/core/mapping.ts's prefetchAtSeal, and clears it. A hint:
// PREFETCHT0 never faults and changes no byte, so any address will do, and
// a value that is no address in [1, 2^64) (a NaN, a negative, an infinity)
// is skipped, as converting it would be undefined.
inline void TakePrefetchHint(State* s) {
  const double at = s->call[kPrefetchHint];
  if (at == 0) return;
  s->call[kPrefetchHint] = 0;
  if (at >= 1 && at < 18446744073709551616.0) {
    _mm_prefetch(reinterpret_cast<const char*>(static_cast<uintptr_t>(at)), _MM_HINT_T0);
  }
}

// sealRecord(src?), with call = [crcAt, end, seed, persist, srcLength],
// leaving the checksum in call[0]:
// finishes a checksummed record in [crcAt, end) in one call. src, if given,
// is copied to the record's tail [end - src.length, end) first; with
// srcLength other than -1 it must be that long, else nothing is written (the
// caller planned the record for the length it read before, and a
// length-tracking view of a SharedArrayBuffer may have grown since). The crc32c of
// [crcAt + 4, end), seeded with seed, is stored at crcAt (u32 LE), the record
// is flushed, and with persist it is drained. It computes what
// sealRecord() in lib/core/region.ts does through bytes, flush and drain,
// reading src once: the copy, the checksum and the streaming stores for the
// whole lines (on pmem always, before an msync from 4 KiB) are one pass.
// It takes the prefetch hint first (TakePrefetchHint): a put's index slot,
// which then loads while the record is copied, checksummed and flushed.
napi_value RawSealRecord(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value srcArg = nullptr;
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, &srcArg, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  TakePrefetchHint(s);
  try {
    CheckWritable(Napi::Env(env), s);
    uint64_t crcAt, end, seed;
    if (!SafeIndex(env, s->call[0], "crcAt", &crcAt) || !SafeIndex(env, s->call[1], "end", &end) ||
        !SafeIndex(env, s->call[2], "seed", &seed)) {
      return nullptr;
    }
    if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
    const bool persist = s->call[3] != 0;
    CheckRange(Napi::Env(env), crcAt, end < crcAt ? 0 : end - crcAt, s->length);
    if (end < crcAt + 4) throw Napi::RangeError::New(env, "a record needs 4 bytes for its checksum");
    // srcLength is checked as an index whenever it is given, src or not,
    // as the generic form checks it.
    const bool lengthPlanned = s->call[4] != -1;
    uint64_t planned = 0;
    if (lengthPlanned && !SafeIndex(env, s->call[4], "srcLength", &planned)) return nullptr;
    const char* src = nullptr;
    size_t n = 0;
    // The typed array's info is asked for first: it fails, setting no
    // exception, for anything else, and the usual src answers in one call.
    napi_typedarray_type type = napi_int8_array;
    void* base = nullptr;
    const bool isTyped = argc >= 1 && napi_get_typedarray_info(env, srcArg, &type, &n, &base, nullptr, nullptr) == napi_ok;
    napi_valuetype t = napi_object;
    if (!isTyped && argc >= 1) napi_typeof(env, srcArg, &t);
    if (argc >= 1 && (isTyped || t != napi_undefined)) {
      if (!isTyped || type != napi_uint8_array) throw Napi::TypeError::New(env, "src must be a Buffer or Uint8Array");
      if (n == 0) RefuseDetached(env, srcArg, "src");
      src = static_cast<const char*>(base);
      if (lengthPlanned && n != planned) {
        throw Napi::RangeError::New(env, "src is " + std::to_string(n) + " bytes, not the " + std::to_string(planned) +
                                             " the record was planned for (its buffer changed)");
      }
      if (n > end - crcAt - 4) {
        throw Napi::RangeError::New(env, "a " + std::to_string(n) + "-byte src does not fit the record's " +
                                             std::to_string(end - crcAt - 4) + " bytes after the checksum");
      }
    }
    char* rec = s->addr + crcAt;
    char* dst = s->addr + end - n;
    uint32_t reg = Crc32cRaw(rec + 4, static_cast<size_t>(dst - rec - 4), ~static_cast<uint32_t>(seed));
    Span streamed;
    const uintptr_t srcAddr = reinterpret_cast<uintptr_t>(src), dstAddr = reinterpret_cast<uintptr_t>(dst);
    if (src != nullptr && srcAddr < dstAddr + n && dstAddr < srcAddr + n) {
      // src is (part of) this record: copy as memmove, then checksum in place.
      std::memmove(dst, src, n);
      reg = Crc32cRaw(dst, n, reg);
    } else if (n > 0) {
      // Whole lines go out with streaming stores, which skip reading the
      // lines first. On pmem they need no flush, and the fence below (or
      // the caller's drain) orders them like flushed lines. Before an msync
      // they pay off only for long copies, from kMsyncStreamMin (docs/bench.md).
      reg = CopyCrc32cRaw(dst, src, n, reg, s->isPmem || n >= kMsyncStreamMin, &streamed);
    } else {
      reg = Crc32cRaw(dst, 0, reg);
    }
    uint32_t crc = ~reg;
    // The checksum is stored last; it only validates the bytes it covers,
    // and they are all in place. Nothing here orders it before them: a
    // crash before the fence may leave any subset, which the checksum rejects.
    std::memcpy(rec, &crc, 4);
    if (s->isPmem) {
      // CLWB of every line written with ordinary stores: the header and
      // whatever of the payload was not streamed.
      if (streamed.begin == streamed.end) {
        pmem_flush(rec, end - crcAt);
      } else {
        pmem_flush(rec, streamed.begin - reinterpret_cast<uintptr_t>(rec));
        pmem_flush(reinterpret_cast<char*>(streamed.end), reinterpret_cast<uintptr_t>(s->addr + end) - streamed.end);
      }
      // With persist, the SFENCE: the whole record is durable on return.
      // Without it the caller's drain is the ordering point.
      if (persist) pmem_drain();
    } else {
      // Not pmem: msync writes the pages back and is durable at once. The
      // streaming stores must be globally visible first: SFENCE.
      if (streamed.begin != streamed.end) _mm_sfence();
      if (pmem_msync(rec, end - crcAt) != 0) ThrowMsync(Napi::Env(env), s);
    }
    // The checksum goes back through the call block, not as a return value:
    // a crc of 2^31 or more is no small integer to V8, and returning it
    // would allocate a heap number on every other seal (docs/bench.md).
    s->call[0] = crc;
    return nullptr;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

// readInto(target), with call = [offset, length]: copies [offset, +length)
// of the mapping to the start of target (a Uint8Array of at least length
// bytes). A plain read: nothing is flushed or fenced. It makes no JavaScript
// object, where a copy through a view would make the view
// (KVStore.getInto's promise: docs/api.md).
napi_value RawReadInto(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value targetArg = nullptr;
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, &targetArg, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  try {
    CheckMapped(Napi::Env(env), s);
    uint64_t off, len;
    if (!SafeIndex(env, s->call[0], "offset", &off) || !SafeIndex(env, s->call[1], "length", &len)) return nullptr;
    CheckRange(Napi::Env(env), off, len, s->length);
    bool isTyped = false;
    napi_typedarray_type type;
    size_t n = 0;
    void* base = nullptr;
    if (argc >= 1) napi_is_typedarray(env, targetArg, &isTyped);
    if (isTyped) napi_get_typedarray_info(env, targetArg, &type, &n, &base, nullptr, nullptr);
    if (!isTyped || type != napi_uint8_array) throw Napi::TypeError::New(env, "target must be a Buffer or Uint8Array");
    if (len > n) {
      throw Napi::RangeError::New(env, "target is " + std::to_string(n) + " bytes; the range is " + std::to_string(len));
    }
    // memmove: target may be a view of this same mapping.
    if (len > 0) std::memmove(base, s->addr + off, len);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
  return nullptr;
}

}  // namespace

void AddHotPath(napi_env env, const StatePtr& state, Napi::Object handle) {
  // The block lives in the State; the ArrayBuffer over it keeps the State
  // alive. close() leaves it attached: the calls then throw ERR_PMEM_CLOSED.
  auto* hint = new StatePtr(state);
  napi_value block;
  napi_status st =
      napi_create_external_arraybuffer(env, state->call, sizeof(state->call), DeleteSharedHint<State>, hint, &block);
  if (st != napi_ok) {
    delete hint;
    throw Napi::Error::New(env, "cannot create the mapping's call block");
  }
  handle.Set("call", Napi::Value(env, block));
  struct Entry {
    const char* name;
    napi_callback fn;
  };
  const Entry entries[] = {
      {"flush", RawFlushOrPersist<false>},
      {"persist", RawFlushOrPersist<true>},
      {"drain", RawDrain},
      {"sealRecord", RawSealRecord},
      {"sealRecords", RawSealRecords},
      {"sealAndApply", RawSealAndApply},
      {"readInto", RawReadInto}};
  for (const Entry& e : entries) {
    auto* data = new StatePtr(state);
    napi_value fn;
    if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, data, &fn) != napi_ok) {
      delete data;
      throw Napi::Error::New(env, std::string("cannot create ") + e.name);
    }
    napi_add_finalizer(env, fn, data, DeleteSharedData<State>, nullptr, nullptr);
    handle.Set(e.name, Napi::Value(env, fn));
  }
}

}  // namespace pmem
