// The fused calls of a log's hot path beside sealRecord: sealRecords (a
// batch of records in one call) and sealAndApply (a redo record's commit and
// its one write). Plain N-API on the mapping's call block, like the rest of
// the hot path (native/mapping/hotpath.cc, which registers them); the
// generic forms the crash simulator sees are in lib/core/records.ts.
#include "mapping/records.h"

#include <libpmem.h>

#include <immintrin.h>

#include <cstring>
#include <vector>

#include "core/args.h"
#include "core/crc32c.h"

namespace pmem {

// The longest write sealAndApply copies to the stack before its fence.
constexpr size_t kStagedApply = 1024;

// sealAndApply(), with call = [crcAt, end, seed, target, from, length]: a
// redo record's commit and its one write in one call. The record in
// [crcAt, end) is checksummed (as sealRecord, no src), flushed and fenced:
// that fence is the commit. Only then are the `length` bytes at `from` (the
// entry's new bytes, inside the record) copied to `target` and flushed, not
// fenced: the next fence makes them durable, and until then the record can
// redo them. Every number is checked before anything is written.
napi_value RawSealAndApply(napi_env env, napi_callback_info cbinfo) {
  void* data = nullptr;
  size_t argc = 0;
  napi_get_cb_info(env, cbinfo, &argc, nullptr, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  try {
    CheckWritable(Napi::Env(env), s);
    uint64_t crcAt, end, seed, target, from, len;
    if (!SafeIndex(env, s->call[0], "crcAt", &crcAt) || !SafeIndex(env, s->call[1], "end", &end) ||
        !SafeIndex(env, s->call[2], "seed", &seed) || !SafeIndex(env, s->call[3], "target", &target) ||
        !SafeIndex(env, s->call[4], "from", &from) || !SafeIndex(env, s->call[5], "length", &len)) {
      return nullptr;
    }
    if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
    CheckRange(Napi::Env(env), crcAt, end < crcAt ? 0 : end - crcAt, s->length);
    if (end < crcAt + 4) throw Napi::RangeError::New(env, "a record needs 4 bytes for its checksum");
    CheckRange(Napi::Env(env), target, len, s->length);
    CheckRange(Napi::Env(env), from, len, s->length);
    char* rec = s->addr + crcAt;
    const uint32_t crc = ~Crc32cRaw(rec + 4, end - crcAt - 4, ~static_cast<uint32_t>(seed));
    std::memcpy(rec, &crc, 4);
    // The new bytes are read now, while the checksum has just brought the
    // record's lines into the cache: after the flush below they may be out
    // of it (CLWB does not keep them on some CPUs: bench/c/clwb-readback.c),
    // and the apply would wait for memory. Writes of up to kStagedApply
    // bytes, on the stack; a longer one is read from the record after the
    // fence. The bytes are the same either way: nothing writes them between.
    alignas(64) char staged[kStagedApply];
    const bool isStaged = len <= sizeof staged;
    if (isStaged) std::memcpy(staged, s->addr + from, len);
    // The commit: the record durable before any byte of the target changes
    // (a crash before it finds the old bytes, and a record whole or failing
    // its checksum).
    if (s->isPmem) {
      pmem_persist(rec, end - crcAt);
    } else if (pmem_msync(rec, end - crcAt) != 0) {
      ThrowMsync(Napi::Env(env), s);
    }
    // Applied after the fence, flushed and not fenced: a crash from here on
    // may persist any subset of the target's lines, and the record redoes them.
    std::memmove(s->addr + target, isStaged ? staged : s->addr + from, len);
    if (len > 0) {
      if (s->isPmem) {
        pmem_flush(s->addr + target, len);
      } else if (pmem_msync(s->addr + target, len) != 0) {
        ThrowMsync(Napi::Env(env), s);
      }
    }
    return nullptr;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

namespace {

// One record of a sealRecords call, checked before anything is written.
struct BatchRecord {
  char* rec;       // the record's first byte, where its checksum goes
  char* end;       // one past its last byte
  const char* src; // bytes copied to [end - n, end), or null
  size_t n;
};

}  // namespace

// sealRecords(table, srcs), with call = [count, seed, persist]: sealRecord
// for `count` records in one call. table is a Float64Array of [crcAt, end,
// srcIndex] per record; srcIndex is -1 for a record whose bytes are already
// in place, else the index in the array srcs of a Uint8Array copied to the
// record's tail. The records must not overlap. Every record is checked
// before any is written, so bad arguments write nothing. Each record is
// copied and checksummed in one pass and its checksum stored, as
// sealRecord does; then every line written with ordinary stores is flushed
// once the stores to it are done (a run of records that touch shares its
// lines' flushes), and with persist one fence orders them all.
napi_value RawSealRecords(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value args[2] = {nullptr, nullptr};
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, args, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  // Reused from call to call: no allocation per batch once it has grown.
  static thread_local std::vector<BatchRecord> records;
  try {
    CheckWritable(Napi::Env(env), s);
    uint64_t count, seed;
    if (!SafeIndex(env, s->call[0], "count", &count) || !SafeIndex(env, s->call[1], "seed", &seed)) return nullptr;
    if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
    const bool persist = s->call[2] != 0;
    bool isTyped = false;
    napi_typedarray_type type;
    size_t cells = 0;
    void* base = nullptr;
    if (argc >= 1) napi_is_typedarray(env, args[0], &isTyped);
    if (isTyped) napi_get_typedarray_info(env, args[0], &type, &cells, &base, nullptr, nullptr);
    if (!isTyped || type != napi_float64_array) throw Napi::TypeError::New(env, "table must be a Float64Array");
    if (count > cells / 3) throw Napi::RangeError::New(env, "the table holds fewer records than count");
    const double* table = static_cast<const double*>(base);
    bool srcsIsArray = false;
    uint32_t srcCount = 0;
    if (argc >= 2) napi_is_array(env, args[1], &srcsIsArray);
    if (srcsIsArray) napi_get_array_length(env, args[1], &srcCount);
    records.resize(count);
    for (uint64_t i = 0; i < count; i++) {
      uint64_t crcAt, end;
      if (!SafeIndex(env, table[3 * i], "crcAt", &crcAt) || !SafeIndex(env, table[3 * i + 1], "end", &end)) return nullptr;
      CheckRange(Napi::Env(env), crcAt, end < crcAt ? 0 : end - crcAt, s->length);
      if (end < crcAt + 4) throw Napi::RangeError::New(env, "a record needs 4 bytes for its checksum");
      BatchRecord& r = records[i];
      r.rec = s->addr + crcAt;
      r.end = s->addr + end;
      r.src = nullptr;
      r.n = 0;
      const double index = table[3 * i + 2];
      if (index == -1) continue;
      if (!srcsIsArray || !(index >= 0) || index >= srcCount || index != static_cast<double>(static_cast<uint32_t>(index))) {
        throw Napi::RangeError::New(env, "a record's source index is not an index of srcs");
      }
      napi_value src;
      napi_get_element(env, args[1], static_cast<uint32_t>(index), &src);
      bool srcTyped = false;
      void* srcBase = nullptr;
      napi_is_typedarray(env, src, &srcTyped);
      if (srcTyped) napi_get_typedarray_info(env, src, &type, &r.n, &srcBase, nullptr, nullptr);
      if (!srcTyped || type != napi_uint8_array) throw Napi::TypeError::New(env, "srcs must hold Buffers or Uint8Arrays");
      if (r.n == 0) RefuseDetached(env, src, "srcs[]");
      r.src = static_cast<const char*>(srcBase);
      if (r.n > end - crcAt - 4) throw Napi::RangeError::New(env, "a source does not fit its record");
    }
    // [pending, pendingEnd): bytes stored with ordinary stores and not yet
    // flushed. It grows over records that follow each other, and is flushed
    // when the next record starts elsewhere (the ring wrapped), before a
    // record's streamed lines (everything before them is stored by then),
    // and at the end. A line is flushed only after every store to it.
    char* pending = nullptr;
    char* pendingEnd = nullptr;
    bool anyStreamed = false;
    auto flushPending = [&]() {
      if (pending == pendingEnd) return;
      if (s->isPmem) {
        pmem_flush(pending, static_cast<size_t>(pendingEnd - pending));
      } else {
        // Not pmem: msync is the flush, durable at once; streamed lines
        // must be globally visible before it.
        if (anyStreamed) _mm_sfence();
        if (pmem_msync(pending, static_cast<size_t>(pendingEnd - pending)) != 0) ThrowMsync(Napi::Env(env), s);
      }
      pending = pendingEnd = nullptr;
    };
    for (uint64_t i = 0; i < count; i++) {
      const BatchRecord& r = records[i];
      // A record that starts before the pending bytes end, or a line or
      // more after them, is elsewhere: what is pending is complete.
      if (pending != pendingEnd && (r.rec < pendingEnd || r.rec - pendingEnd >= 64)) flushPending();
      char* dst = r.end - r.n;
      uint32_t reg = Crc32cRaw(r.rec + 4, static_cast<size_t>(dst - r.rec - 4), ~static_cast<uint32_t>(seed));
      Span streamed;
      const uintptr_t srcAddr = reinterpret_cast<uintptr_t>(r.src), dstAddr = reinterpret_cast<uintptr_t>(dst);
      if (r.src != nullptr && srcAddr < dstAddr + r.n && dstAddr < srcAddr + r.n) {
        std::memmove(dst, r.src, r.n);
        reg = Crc32cRaw(dst, r.n, reg);
      } else if (r.n > 0) {
        // Whole lines as streaming stores, as in sealRecord: on pmem they
        // need no flush; the fence below (or the caller's drain) orders them.
        reg = CopyCrc32cRaw(dst, r.src, r.n, reg, s->isPmem || r.n >= kMsyncStreamMin, &streamed);
      }
      const uint32_t crc = ~reg;
      // The checksum last, as in sealRecord: it validates only bytes that
      // are all in place; a crash before the fence may leave any subset.
      std::memcpy(r.rec, &crc, 4);
      if (pending == pendingEnd) pending = r.rec;
      if (streamed.begin != streamed.end) {
        anyStreamed = true;
        if (s->isPmem) {
          // Every store before the streamed lines is done: flush up to them.
          pendingEnd = reinterpret_cast<char*>(streamed.begin);
          flushPending();
          pending = reinterpret_cast<char*>(streamed.end);
        }
      }
      pendingEnd = r.end;
    }
    flushPending();
    // With persist, the one fence: every record is durable on return (on
    // pmem; an msync already was). Without it the caller's drain orders them.
    if (persist && s->isPmem) pmem_drain();
    return nullptr;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

}  // namespace pmem
