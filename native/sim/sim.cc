#include "sim/sim.h"

#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/args.h"

namespace pmem {
namespace sim {

// --- Model ----------------------------------------------------------------

Model::Model(uint8_t* view, size_t size, Mode mode)
    : view_(view), size_(size), unit_(mode == kPage ? 4096 : 64), mode_(mode) {
  units_ = size_ / unit_;
  p_.assign(size_, 0);
  slot_.assign(units_, -1);
  changed_.assign(units_, 0);
}

bool Model::Same(const uint8_t* a, const uint8_t* b) const {
  return std::memcmp(a, b, unit_) == 0;
}

void Model::Persist(size_t u, const uint8_t* src) {
  std::memcpy(&p_[u * unit_], src, unit_);
  changed_[u] = 1;
}

size_t Model::Store(const uint8_t* src) {
  size_t off = arena_.size();
  arena_.insert(arena_.end(), src, src + unit_);
  return off;
}

void Model::Flush(size_t first, size_t last) {
  for (size_t u = first; u <= last; u++) {
    const uint8_t* cur = view_ + u * unit_;
    if (mode_ == kPage) {
      // msync: the page is durable when the call returns.
      if (!Same(cur, &p_[u * unit_])) Persist(u, cur);
    } else if (mode_ == kAdr) {
      // CLWB takes the line as it is now; a later store dirties it again,
      // and the fence guarantees only this snapshot.
      if (slot_[u] < 0) {
        if (Same(cur, &p_[u * unit_])) continue;
        slot_[u] = static_cast<int32_t>(pending_.size());
        pending_.push_back(static_cast<uint32_t>(u));
        snaps_.resize(pending_.size() * unit_);
      }
      std::memcpy(&snaps_[static_cast<size_t>(slot_[u]) * unit_], cur, unit_);
    }
  }
}

void Model::Drain() {
  if (mode_ == kAdr) {
    for (size_t i = 0; i < pending_.size(); i++) {
      Persist(pending_[i], &snaps_[i * unit_]);
      slot_[pending_[i]] = -1;
    }
    pending_.clear();
    snaps_.clear();
  } else if (mode_ == kEadr) {
    for (size_t u = 0; u < units_; u++) {
      if (!Same(view_ + u * unit_, &p_[u * unit_])) Persist(u, view_ + u * unit_);
    }
  }
}

uint32_t Model::Dirty() const {
  uint32_t n = 0;
  for (size_t u = 0; u < units_; u++) {
    const uint8_t* p = &p_[u * unit_];
    bool snap = slot_[u] >= 0 && !Same(&snaps_[static_cast<size_t>(slot_[u]) * unit_], p);
    if (snap || !Same(view_ + u * unit_, p)) n++;
  }
  return n;
}

void Model::StartRecording() {
  recording_ = true;
  start_ = p_;
  changed_.assign(units_, 0);
  entries_.clear();
  arena_.clear();
  points_.clear();
}

uint32_t Model::RecordPoint() {
  Point pt{entries_.size(), 0, 0};
  for (size_t u = 0; u < units_; u++) {
    const uint8_t* p = &p_[u * unit_];
    const uint8_t* cur = view_ + u * unit_;
    if (mode_ == kEadr) {
      // Caches are persistent: whatever is visible at a crash is durable.
      if (!Same(cur, p)) {
        pt.dirty++;
        Persist(u, cur);
      }
    }
    const uint8_t* snap = slot_[u] >= 0 ? &snaps_[static_cast<size_t>(slot_[u]) * unit_] : nullptr;
    bool snapNew = snap != nullptr && !Same(snap, p);
    bool curNew = !Same(cur, p) && !(snapNew && Same(cur, snap));
    Entry e{static_cast<uint32_t>(u), 0, 0, 0};
    if (snapNew || curNew) {
      pt.dirty++;
      e.data = Store(p);
      if (snapNew) {
        Store(snap);
        e.choices++;
        if (Same(cur, snap)) e.current = 1;
      }
      if (curNew) {
        Store(cur);
        e.choices++;
        e.current = e.choices;
      }
    } else if (changed_[u]) {
      e.data = Store(p);  // fixed: persisted since the last point
    } else {
      continue;
    }
    changed_[u] = 0;
    entries_.push_back(e);
    pt.count++;
  }
  points_.push_back(pt);
  return pt.dirty;
}

// --- Loader ---------------------------------------------------------------

namespace {

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void Loader::Put(uint32_t unit, const uint8_t* src, uint8_t* target) {
  size_t off = static_cast<size_t>(unit) * m_.unit();
  std::memcpy(&shadow_[off], src, m_.unit());
  std::memcpy(target + off, src, m_.unit());
}

// Each 8-byte word of the unit independently at its persisted or new value:
// only aligned 8-byte stores are atomic.
void Loader::PutTorn(uint32_t unit, const uint8_t* neu, uint64_t* rng, uint8_t* target) {
  size_t off = static_cast<size_t>(unit) * m_.unit();
  const uint8_t* old = &base_[off];
  uint64_t bits = 0;
  for (size_t w = 0; w < m_.unit() / 8; w++) {
    if (w % 64 == 0) bits = SplitMix(rng);
    const uint8_t* src = ((bits >> (w % 64)) & 1) ? neu + w * 8 : old + w * 8;
    std::memcpy(&shadow_[off + w * 8], src, 8);
    std::memcpy(target + off + w * 8, src, 8);
  }
}

void Loader::Choose(size_t i, unsigned choice, uint8_t* target) {
  const Entry* e = dirty_[i];
  if (choice == 0) return;
  Put(e->unit, m_.data(e->data + choice * m_.unit()), target);
  imageUnits_.push_back(e->unit);
}

// Moves the target to the persisted image of `point`, from wherever it is.
// P at a point is P at the one before plus that point's entries, so going
// forward applies only those; going back starts again from the start.
void Loader::Open(size_t point, uint8_t* target) {
  size_t size = m_.size(), unit = m_.unit();
  if (target != target_ || applied_ > point + 1) {
    target_ = target;
    base_.assign(m_.start(), m_.start() + size);
    shadow_ = base_;
    std::memcpy(target, base_.data(), size);
    imageUnits_.clear();
    applied_ = 0;
    open_ = SIZE_MAX;
  } else if (std::memcmp(target, shadow_.data(), size) != 0) {
    // The last recovery wrote to the image: undo it, unit by unit.
    for (size_t off = 0; off < size; off += unit) {
      if (std::memcmp(target + off, &shadow_[off], unit) != 0) {
        std::memcpy(target + off, &shadow_[off], unit);
      }
    }
  }
  for (uint32_t u : imageUnits_) Put(u, &base_[u * unit], target);
  imageUnits_.clear();
  if (point == open_) return;
  for (; applied_ <= point; applied_++) {
    const Point& pt = m_.point(applied_);
    for (size_t i = pt.first; i < pt.first + pt.count; i++) {
      const Entry& e = m_.entry(i);
      std::memcpy(&base_[e.unit * unit], m_.data(e.data), unit);
      Put(e.unit, m_.data(e.data), target);
    }
  }
  dirty_.clear();
  prefix_.assign(1, 0);
  product_ = 1;
  const Point& pt = m_.point(point);
  for (size_t i = pt.first; i < pt.first + pt.count; i++) {
    const Entry& e = m_.entry(i);
    if (e.choices == 0) continue;
    dirty_.push_back(&e);
    prefix_.push_back(prefix_.back() + e.choices);
    if (product_ <= s_.exhaustiveLimit) product_ *= e.choices + 1u;
  }
  // Pair images: for units i < j, each choice of i times each choice of j.
  pairEnd_.clear();
  uint64_t total = 0, all = prefix_.back();
  for (size_t i = 0; i < dirty_.size(); i++) {
    total += dirty_[i]->choices * (all - prefix_[i + 1]);
    pairEnd_.push_back(total);
  }
  open_ = point;
}

uint64_t Loader::Pairs() const {
  uint64_t n = pairEnd_.empty() ? 0 : pairEnd_.back();
  return std::min(n, s_.pairLimit);
}

uint64_t Loader::Count(size_t point) const {
  if (m_.mode() == kEadr) return 1;
  const Point& pt = m_.point(point);
  uint64_t product = 1, choices = 0, pairs = 0;
  for (size_t i = pt.first; i < pt.first + pt.count; i++) {
    uint64_t k = m_.entry(i).choices;
    if (k == 0) continue;
    pairs += k * choices;
    choices += k;
    if (product <= s_.exhaustiveLimit) product *= k + 1;
  }
  if (product <= s_.exhaustiveLimit) return product + (s_.torn ? s_.randomImages : 0);
  return 2 + choices + std::min(pairs, s_.pairLimit) + s_.randomImages;
}

ImageKind Loader::Load(size_t point, uint64_t index, uint8_t* target) {
  Open(point, target);
  if (m_.mode() == kEadr) return kView;
  size_t d = dirty_.size();
  if (product_ <= s_.exhaustiveLimit) {
    if (index < product_) {
      // Mixed radix: digit i is unit i's choice (0 = not persisted).
      for (size_t i = 0; i < d; i++) {
        unsigned radix = dirty_[i]->choices + 1u;
        Choose(i, static_cast<unsigned>(index % radix), target);
        index /= radix;
      }
      return kExhaustive;
    }
    index -= product_;
  } else {
    if (index == 0) return kPersisted;
    if (index == 1) {
      for (size_t i = 0; i < d; i++) Choose(i, dirty_[i]->current, target);
      return kFullView;
    }
    index -= 2;
    if (index < prefix_.back()) {
      size_t i = std::upper_bound(prefix_.begin(), prefix_.end(), index) - prefix_.begin() - 1;
      Choose(i, static_cast<unsigned>(index - prefix_[i]) + 1, target);
      return kSingle;
    }
    index -= prefix_.back();
    if (index < Pairs()) {
      size_t i = std::upper_bound(pairEnd_.begin(), pairEnd_.end(), index) - pairEnd_.begin();
      uint64_t o = index - (i == 0 ? 0 : pairEnd_[i - 1]);
      uint64_t rest = prefix_.back() - prefix_[i + 1];  // choices of units after i
      uint64_t r = o % rest;
      size_t j = std::upper_bound(prefix_.begin(), prefix_.end(), prefix_[i + 1] + r) -
                 prefix_.begin() - 1;
      Choose(i, static_cast<unsigned>(o / rest) + 1, target);
      Choose(j, static_cast<unsigned>(prefix_[i + 1] + r - prefix_[j]) + 1, target);
      return kPair;
    }
    index -= Pairs();
  }
  // Random: every unit independently not persisted, snapshot or current;
  // with `torn`, a persisted choice may keep some of its old words.
  uint64_t rng = s_.seed * 0x9e3779b97f4a7c15ULL ^ (point + 1) * 0xc2b2ae3d27d4eb4fULL ^
                 (index + 1) * 0x165667b19e3779f9ULL;
  for (size_t i = 0; i < d; i++) {
    const Entry* e = dirty_[i];
    unsigned choice = static_cast<unsigned>(SplitMix(&rng) % (e->choices + 1u));
    if (choice == 0) continue;
    const uint8_t* neu = m_.data(e->data + choice * m_.unit());
    if (s_.torn) {
      PutTorn(e->unit, neu, &rng, target);
    } else {
      Put(e->unit, neu, target);
    }
    imageUnits_.push_back(e->unit);
  }
  return kRandom;
}

}  // namespace sim

// --- N-API ------------------------------------------------------------------

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
                        InstanceMethod<&Sim::LoadImage>("loadImage")});
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
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, rounded);
    std::memset(buf.Data(), 0, rounded);
    buf_ = Napi::Persistent(buf);
    if (info[2].As<Napi::Boolean>().Value()) {
      model_ = std::make_unique<sim::Model>(static_cast<uint8_t*>(buf.Data()), rounded,
                                            static_cast<sim::Mode>(mode));
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
    if (target.ByteLength() < model_->size() || target.Data() == buf_.Value().Data()) {
      throw Napi::RangeError::New(env, "target must be another simulator's buffer of this size");
    }
    sim::ImageKind kind = l.Load(point, index, static_cast<uint8_t*>(target.Data()));
    return Napi::Number::New(env, kind);
  }

  uint64_t length_ = 0;
  Napi::Reference<Napi::ArrayBuffer> buf_;
  std::unique_ptr<sim::Model> model_;
  std::unique_ptr<sim::Loader> loader_;
};

}  // namespace

void InitSim(Napi::Env env, Napi::Object exports) {
  exports.Set("Sim", Sim::Define(env));
}

}  // namespace pmem
