#include "sim/sim.h"

#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/views.h"

#include "core/args.h"
#include "sim/loader.h"
#include "sim/model.h"

namespace pmem {

namespace {

// Largest region the simulator models (it keeps several copies of it).
constexpr uint64_t kMaxSize = uint64_t{1} << 30;
constexpr uint64_t kPageSize = 4096;

// new Sim(size, mode, tracked): one simulated region. Its buffer is rounded
// up to whole pages, so every unit lies inside it; JavaScript sees the first
// `size` bytes. An untracked Sim (the target that recovery runs on) checks
// its arguments and models nothing.
class Sim : public Napi::ObjectWrap<Sim> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Sim",
                       {InstanceAccessor<&Sim::Buffer>("buffer"),
                        InstanceMethod<&Sim::Flush>("flush"),
                        InstanceMethod<&Sim::Drain>("drain"),
                        InstanceMethod<&Sim::DirtyJs>("dirty"),
                        InstanceMethod<&Sim::Persisted>("persisted"),
                        InstanceMethod<&Sim::StartRecording>("startRecording"),
                        InstanceMethod<&Sim::StopRecording>("stopRecording"),
                        InstanceMethod<&Sim::RecordPoint>("point"),
                        InstanceMethod<&Sim::PointCount>("pointCount"),
                        InstanceMethod<&Sim::SetSchedule>("schedule"),
                        InstanceMethod<&Sim::ImageCount>("imageCount"),
                        InstanceMethod<&Sim::LoadImage>("loadImage"),
                        InstanceMethod<&Sim::Detach>("detach"),
                        InstanceMethod<&Sim::Release>("release")});
  }

  explicit Sim(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sim>(info) {
    Napi::Env env = info.Env();
    length_ = ArgIndex(info, 0, "size");
    if (length_ == 0 || length_ > kMaxSize) {
      throw Napi::RangeError::New(env, "size must be 1.." + std::to_string(kMaxSize));
    }
    uint64_t mode = ArgIndex(info, 1, "mode");
    if (mode > sim::kPage) throw Napi::RangeError::New(env, "mode must be 0, 1 or 2");
    if (!info[2].IsBoolean()) throw Napi::TypeError::New(env, "tracked must be a boolean");
    size_t rounded = static_cast<size_t>((length_ + kPageSize - 1) / kPageSize * kPageSize);
    mem_ = std::make_shared<Memory>(rounded);
    if (mem_->data == nullptr) throw Napi::Error::New(env, "cannot allocate the simulator's " + std::to_string(rounded) + " bytes");
    // An external ArrayBuffer holding one share of the bytes: a transfer of
    // it (structuredClone, postMessage) moves that share, and the model's
    // pointer, which holds the other, stays valid whatever becomes of it.
    auto* hint = new std::shared_ptr<Memory>(mem_);
    napi_value ab;
    if (napi_create_external_arraybuffer(env, mem_->data, rounded, DeleteSharedHint<Memory>, hint, &ab) != napi_ok) {
      delete hint;
      throw Napi::Error::New(env, "cannot create the simulator's buffer");
    }
    buf_ = Napi::Persistent(Napi::ArrayBuffer(env, ab));
    if (info[2].As<Napi::Boolean>().Value()) {
      model_ = std::make_unique<sim::Model>(mem_->data, rounded, static_cast<sim::Mode>(mode));
    }
  }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo&) { return buf_.Value(); }

  sim::Model& Tracked(Napi::Env env) {
    if (!model_) throw Napi::Error::New(env, "this simulator does not track persistence");
    return *model_;
  }

  sim::Model& Recorded(Napi::Env env) {
    sim::Model& m = Tracked(env);
    if (m.recording()) throw Napi::Error::New(env, "the simulator is still recording");
    return m;
  }

  size_t PointArg(const Napi::CallbackInfo& info, size_t i) {
    uint64_t p = ArgIndex(info, i, "point");
    if (p >= Tracked(info.Env()).points()) {
      throw Napi::RangeError::New(info.Env(), "no crash point " + std::to_string(p));
    }
    return static_cast<size_t>(p);
  }

  void Flush(const Napi::CallbackInfo& info) {
    uint64_t off = ArgIndex(info, 0, "offset");
    uint64_t len = ArgIndex(info, 1, "length");
    CheckRange(info.Env(), off, len, length_);
    if (!model_ || len == 0) return;
    model_->Flush(off / model_->unit(), (off + len - 1) / model_->unit());
  }

  void Drain(const Napi::CallbackInfo&) {
    if (model_) model_->Drain();
  }

  Napi::Value DirtyJs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), Tracked(info.Env()).Dirty());
  }

  // A copy of the persisted image P.
  Napi::Value Persisted(const Napi::CallbackInfo& info) {
    const sim::Model& m = Tracked(info.Env());
    return Napi::Buffer<uint8_t>::Copy(info.Env(), m.persisted(), static_cast<size_t>(length_));
  }

  void StartRecording(const Napi::CallbackInfo& info) {
    loader_.reset();  // it points into the recording
    Tracked(info.Env()).StartRecording();
  }

  void StopRecording(const Napi::CallbackInfo& info) { Tracked(info.Env()).StopRecording(); }

  Napi::Value RecordPoint(const Napi::CallbackInfo& info) {
    sim::Model& m = Tracked(info.Env());
    if (!m.recording()) throw Napi::Error::New(info.Env(), "the simulator is not recording");
    return Napi::Number::New(info.Env(), m.RecordPoint());
  }

  Napi::Value PointCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Tracked(info.Env()).points()));
  }

  // schedule(seed, randomImages, torn, exhaustiveLimit, pairLimit)
  void SetSchedule(const Napi::CallbackInfo& info) {
    sim::Model& m = Recorded(info.Env());
    sim::Schedule s;
    s.seed = ArgIndex(info, 0, "seed");
    s.randomImages = ArgIndex(info, 1, "randomImages");
    if (!info[2].IsBoolean()) throw Napi::TypeError::New(info.Env(), "torn must be a boolean");
    s.torn = info[2].As<Napi::Boolean>().Value();
    s.exhaustiveLimit = ArgIndex(info, 3, "exhaustiveLimit");
    s.pairLimit = ArgIndex(info, 4, "pairLimit");
    if (s.randomImages > kMaxSize || s.exhaustiveLimit > kMaxSize || s.pairLimit > kMaxSize) {
      throw Napi::RangeError::New(info.Env(), "image counts must be at most 2^30");
    }
    loader_ = std::make_unique<sim::Loader>(m, s);
  }

  sim::Loader& Scheduled(Napi::Env env) {
    Recorded(env);
    if (!loader_) throw Napi::Error::New(env, "no schedule set");
    return *loader_;
  }

  Napi::Value ImageCount(const Napi::CallbackInfo& info) {
    sim::Loader& l = Scheduled(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(l.Count(PointArg(info, 0))));
  }

  // loadImage(point, index, target: ArrayBuffer) -> ImageKind. Builds the
  // image into another Sim's buffer.
  Napi::Value LoadImage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sim::Loader& l = Scheduled(env);
    size_t point = PointArg(info, 0);
    uint64_t index = ArgIndex(info, 1, "index");
    if (index >= l.Count(point)) {
      throw Napi::RangeError::New(env, "crash point " + std::to_string(point) + " has no image " +
                                           std::to_string(index));
    }
    if (!info[2].IsArrayBuffer()) throw Napi::TypeError::New(env, "target must be an ArrayBuffer");
    Napi::ArrayBuffer target = info[2].As<Napi::ArrayBuffer>();
    // A detached target has no bytes, and is refused here with the rest.
    if (target.ByteLength() < model_->size() || target.Data() == mem_->data) {
      throw Napi::RangeError::New(env, "target must be another simulator's buffer of this size");
    }
    sim::ImageKind kind = l.Load(point, index, static_cast<uint8_t*>(target.Data()));
    return Napi::Number::New(env, kind);
  }

  // detach(): JavaScript loses its view of the bytes (every view of the
  // buffer reads as empty), once the recording is over. The model keeps its
  // share of the memory, so its images are still built; a late store can no
  // longer reach it, and a recovery that reads this region instead of its
  // image fails instead of reading the live bytes.
  void Detach(const Napi::CallbackInfo&) {
    Napi::ArrayBuffer ab = buf_.Value();
    if (ab.IsDetached()) return;
    ab.Detach();
    detached_ = true;
  }

  // release(): frees the model, its images and, once detach() cut
  // JavaScript off them, the bytes, without waiting for the collector:
  // finalizers run only when the event loop turns, and a synchronous loop of
  // crash tests would otherwise hold every run's copies of its region (six
  // of them) until it ends. Bytes whose buffer was detached by a transfer
  // may live on in the buffer it moved to, and are left to the finalizer.
  void Release(const Napi::CallbackInfo&) {
    loader_.reset();  // it points into the model
    model_.reset();
    if (detached_) mem_->Free();
  }

  // The simulated region's bytes, zeroed: owned by this Sim and by the
  // ArrayBuffer JavaScript sees, and freed when both have let go.
  struct Memory {
    explicit Memory(size_t n) : data(static_cast<uint8_t*>(std::calloc(n, 1))) {}
    ~Memory() { Free(); }
    void Free() {
      std::free(data);
      data = nullptr;
    }
    Memory(const Memory&) = delete;
    Memory& operator=(const Memory&) = delete;
    uint8_t* data;
  };

  uint64_t length_ = 0;
  std::shared_ptr<Memory> mem_;
  bool detached_ = false;  // detach() detached the buffer: no JavaScript reaches the bytes
  Napi::Reference<Napi::ArrayBuffer> buf_;
  std::unique_ptr<sim::Model> model_;
  std::unique_ptr<sim::Loader> loader_;
};

}  // namespace

void InitSim(Napi::Env env, Napi::Object exports) {
  exports.Set("Sim", Sim::Define(env));
}

}  // namespace pmem
