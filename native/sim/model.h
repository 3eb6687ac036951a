// The crash simulator's model of the persistence domain, in plain C++ (the
// N-API surface is in sim.cc, the policy in lib/testing/).
//
// Memory is cut into units: 64-byte cache lines ('adr', 'eadr') or 4096-byte
// pages ('page'). The model keeps the persisted image P beside the current
// view (the buffer JavaScript writes into) and finds dirty units by comparing
// the two. While recording, each crash point stores, compactly, every unit
// whose content at a crash may differ from the image at the start: its
// persisted content and the contents it may have reached the media with.
// A Loader then builds any crash image of any point into a target buffer,
// touching only the units that differ from the previous image.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pmem {
namespace sim {

enum Mode : uint32_t { kAdr = 0, kEadr = 1, kPage = 2 };

// What an image is, as reported by Loader::Load (keep in step with
// IMAGE_KINDS in lib/testing/sim.ts).
enum ImageKind : uint32_t {
  kExhaustive = 0,  // one combination of every dirty unit's choices
  kPersisted = 1,   // P alone
  kFullView = 2,    // every unit at its current content
  kSingle = 3,      // one dirty unit at its snapshot or current content
  kPair = 4,        // two dirty units
  kRandom = 5,      // a seeded random choice per dirty unit
  kView = 6,        // eADR: the current view
};

struct Schedule {
  uint64_t seed = 1;
  uint64_t randomImages = 16;
  bool torn = false;
  uint64_t exhaustiveLimit = 4096;
  uint64_t pairLimit = 4096;
};

// One unit at one crash point. `data` indexes the arena: the persisted
// content, then `choices` contents that may have reached the media instead
// (the flushed snapshot and/or the current content). A unit with no choices
// is fixed: persisted since the last point, and not dirty. A point holds its
// dirty units and the units persisted since the point before, so P at a
// point is P at the start plus the entries of every point up to it.
struct Entry {
  uint32_t unit;
  uint8_t choices;  // 0, 1 or 2
  uint8_t current;  // which choice is the current content; 0 when it equals P
  size_t data;
};

struct Point {
  size_t first;  // into entries
  size_t count;
  uint32_t dirty;
};

class Model {
 public:
  Model(uint8_t* view, size_t size, Mode mode);

  size_t size() const { return size_; }
  size_t unit() const { return unit_; }
  const uint8_t* persisted() const { return p_.data(); }

  // CLWB in 'adr' (snapshots the dirty lines), msync in 'page' (the pages
  // are durable at once), nothing in 'eadr'. Units [first, last].
  void Flush(size_t first, size_t last);
  // SFENCE: pending snapshots reach P ('adr'); the whole view does ('eadr').
  void Drain();
  uint32_t Dirty() const;

  void StartRecording();
  void StopRecording() { recording_ = false; }
  bool recording() const { return recording_; }
  // Records a crash point; returns its number of dirty units.
  uint32_t RecordPoint();
  size_t points() const { return points_.size(); }
  const Point& point(size_t i) const { return points_[i]; }
  const Entry& entry(size_t i) const { return entries_[i]; }
  const uint8_t* data(size_t off) const { return arena_.data() + off; }
  const uint8_t* start() const { return start_.data(); }
  Mode mode() const { return mode_; }

 private:
  bool Same(const uint8_t* a, const uint8_t* b) const;
  void Persist(size_t u, const uint8_t* src);
  size_t Store(const uint8_t* src);

  uint8_t* view_;
  size_t size_, unit_, units_;
  Mode mode_;
  std::vector<uint8_t> p_;
  std::vector<int32_t> slot_;  // per unit: index of its pending snapshot, or -1
  std::vector<uint8_t> snaps_;
  std::vector<uint32_t> pending_;

  bool recording_ = false;
  std::vector<uint8_t> start_;    // P when recording started
  std::vector<uint8_t> changed_;  // per unit: P written since the last point
  std::vector<Entry> entries_;
  std::vector<uint8_t> arena_;
  std::vector<Point> points_;
};

// Builds crash images of a recorded Model into one target buffer, reusing it
// from image to image: it restores what the last recovery wrote, then swaps
// only the units whose content changes.
class Loader {
 public:
  Loader(const Model& m, const Schedule& s) : m_(m), s_(s) {}
  // Images of `point` under the schedule, in the order Load numbers them.
  uint64_t Count(size_t point) const;
  ImageKind Load(size_t point, uint64_t index, uint8_t* target);

 private:
  void Open(size_t point, uint8_t* target);
  void Put(uint32_t unit, const uint8_t* src, uint8_t* target);
  void PutTorn(uint32_t unit, const uint8_t* neu, uint64_t* rng, uint8_t* target);
  void Choose(size_t dirtyIndex, unsigned choice, uint8_t* target);
  uint64_t Pairs() const;

  const Model& m_;
  Schedule s_;
  uint8_t* target_ = nullptr;
  std::vector<uint8_t> base_;    // P at point applied_ - 1
  std::vector<uint8_t> shadow_;  // what the target must hold
  std::vector<uint32_t> imageUnits_;
  size_t applied_ = 0;  // points whose entries base_ holds
  size_t open_ = SIZE_MAX;
  std::vector<const Entry*> dirty_;
  std::vector<uint64_t> prefix_;  // prefix_[i]: choices of dirty units before i
  std::vector<uint64_t> pairEnd_;  // cumulative pair images per first unit
  uint64_t product_ = 1;           // saturated at exhaustiveLimit + 1
};

}  // namespace sim
}  // namespace pmem

namespace pmem {

// Registers the native Sim class (see lib/testing/sim.ts).
void InitSim(Napi::Env env, Napi::Object exports);

}  // namespace pmem
