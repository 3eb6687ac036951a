// copyRanges: many short byte ranges of a DRAM buffer, in the order of a
// table, written one after another into a mapping and made durable: a sorted
// run's records copied from its input chunk to its run file. In native code
// for what JavaScript cannot do: streaming (non-temporal) stores, so that
// the mapping's lines are written without being read into the cache first,
// and one call for a table of hundreds of thousands of ranges.
#include "mapping/gather.h"

#include <libpmem.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/args.h"
#include "core/views.h"

namespace pmem {

namespace {

// The staging block: ranges are gathered here with ordinary stores (it
// stays in the L1 cache), then streamed to the mapping a block at a time.
constexpr size_t kStage = 16 * 1024;
// Table entries ahead whose source bytes are prefetched: the ranges are read
// from random places of the source, and each would otherwise wait for its
// load alone.
constexpr uint64_t kAhead = 16;

State* LiveState(const Napi::CallbackInfo& info) {
  State* s = static_cast<StatePtr*>(info.Data())->get();
  CheckWritable(info.Env(), s);
  return s;
}

// The data and byte length of a typed array argument of `type`, or a TypeError.
void TypedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want, const char* message,
              void** data, size_t* elements) {
  napi_env env = info.Env();
  bool typed = false;
  if (i < info.Length()) napi_is_typedarray(env, info[i], &typed);
  napi_typedarray_type type;
  if (!typed || napi_get_typedarray_info(env, info[i], &type, elements, data, nullptr, nullptr) != napi_ok ||
      type != want) {
    throw Napi::TypeError::New(env, message);
  }
}

// Streams `n` bytes of the staging block to `dst`: not fenced (the caller's
// one drain at the end orders every block).
void Stream(char* dst, const char* stage, size_t n) {
  pmem_memcpy(dst, stage, n, PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_NODRAIN);
}

// copyRanges(offset, src, table, count, stride, terminator) -> bytes
// written. Entry i of the Uint32Array `table` is the range [table[stride·i],
// table[stride·i + 1]) of the Uint8Array `src`; the entries' bytes, each
// followed by the byte `terminator` unless it is -1, are written to the
// mapping from `offset` on, in table order, and are durable when it
// returns. Every entry is checked, and the whole fits the mapping, before
// any byte is written; `src` must not overlap that range.
Napi::Value CopyRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = LiveState(info);
  const uint64_t off = ArgIndex(info, 0, "offset");
  void* srcData = nullptr;
  size_t srcLength = 0;
  TypedArg(info, 1, napi_uint8_array, "src must be a Buffer or Uint8Array", &srcData, &srcLength);
  void* tableData = nullptr;
  size_t cells = 0;
  TypedArg(info, 2, napi_uint32_array, "table must be a Uint32Array", &tableData, &cells);
  const uint64_t count = ArgIndex(info, 3, "count");
  const uint64_t stride = ArgIndex(info, 4, "stride");
  if (!info[5].IsNumber()) throw Napi::TypeError::New(env, "terminator must be a number");
  const double t = info[5].As<Napi::Number>().DoubleValue();
  if (!(t == -1 || (t >= 0 && t <= 255 && t == static_cast<int>(t)))) {
    throw Napi::RangeError::New(env, "terminator must be a byte (0..255), or -1 for none");
  }
  const bool terminated = t >= 0;
  const char term = static_cast<char>(terminated ? static_cast<int>(t) : 0);
  if (stride < 2) throw Napi::RangeError::New(env, "stride must be at least 2");
  if (count > 0 && (cells < 2 || (count - 1) > (cells - 2) / stride)) {
    throw Napi::RangeError::New(env, "the table holds fewer entries than count");
  }
  const uint32_t* table = static_cast<const uint32_t*>(tableData);
  const char* src = static_cast<const char*>(srcData);
  // Every entry checked, and the total summed, before anything is written.
  uint64_t total = 0;
  for (uint64_t i = 0; i < count; i++) {
    const uint32_t a = table[stride * i];
    const uint32_t b = table[stride * i + 1];
    if (a > b || b > srcLength) {
      throw Napi::RangeError::New(env, "entry " + std::to_string(i) + " [" + std::to_string(a) + ", " +
                                           std::to_string(b) + ") is not a range of src's " +
                                           std::to_string(srcLength) + " bytes");
    }
    total += b - a + (terminated ? 1 : 0);
  }
  CheckRange(env, off, total, s->length);
  char* const dst = s->addr + off;
  if (total > 0 && src < dst + total && dst < src + srcLength) {
    throw Napi::RangeError::New(env, "src overlaps the range written");
  }
  alignas(64) char stage[kStage];
  size_t fill = 0;
  uint64_t out = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (i + kAhead < count) __builtin_prefetch(src + table[stride * (i + kAhead)]);
    // Read once and checked again: a table over shared memory may change
    // under the call, and no store may then leave the checked range.
    const uint32_t a = table[stride * i];
    const uint32_t b = table[stride * i + 1];
    uint64_t n = b - a;
    if (a > b || b > srcLength || out + fill + n + (terminated ? 1 : 0) > total) {
      throw Napi::RangeError::New(env, "the table changed during copyRanges");
    }
    const char* p = src + a;
    while (n > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, kStage - fill));
      std::memcpy(stage + fill, p, k);
      fill += k;
      p += k;
      n -= k;
      if (fill == kStage) {
        Stream(dst + out, stage, fill);
        out += fill;
        fill = 0;
      }
    }
    if (terminated) {
      stage[fill++] = term;
      if (fill == kStage) {
        Stream(dst + out, stage, fill);
        out += fill;
        fill = 0;
      }
    }
  }
  if (fill > 0) Stream(dst + out, stage, fill);
  out += fill;
  // The run's bytes durable before copyRanges returns, so the caller may
  // publish them (a checkpoint naming the run file). The streaming stores
  // reach memory once fenced; libpmem flushed the partial lines it wrote
  // with ordinary stores. Without pmem, the fence orders those stores before
  // the msync that writes the pages back.
  pmem_drain();
  if (!s->isPmem && out > 0 && pmem_msync(dst, out) != 0) ThrowMsync(env, s);
  return Napi::Number::New(env, static_cast<double>(out));
}

}  // namespace

void AddGather(napi_env env, const StatePtr& state, Napi::Object handle) {
  BindMethod(Napi::Env(env), handle, "copyRanges", CopyRanges, state);
}

}  // namespace pmem
