#include "sim/loader.h"

#include <algorithm>
#include <cstring>

namespace pmem {
namespace sim {

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
}  // namespace pmem
