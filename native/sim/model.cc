#include "sim/model.h"

#include <cstring>

namespace pmem {
namespace sim {

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

}  // namespace sim
}  // namespace pmem
