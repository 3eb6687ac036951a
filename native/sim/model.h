// The crash simulator's model of the persistence domain, in plain C++ (the
// image loader is in loader.h, the N-API surface in sim.cc, the policy in
// lib/testing/).
//
// Memory is cut into units: 64-byte cache lines ('adr', 'eadr') or 4096-byte
// pages ('page'). The model keeps the persisted image P beside the current
// view (the buffer JavaScript writes into) and finds dirty units by comparing
// the two. While recording, each crash point stores, compactly, every unit
// whose content at a crash may differ from the image at the start: its
// persisted content and the contents it may have reached the media with.
// A Loader (loader.h) then builds any crash image of any point into a target
// buffer, touching only the units that differ from the previous image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pmem {
namespace sim {

enum Mode : uint32_t { kAdr = 0, kEadr = 1, kPage = 2 };

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

}  // namespace sim
}  // namespace pmem
