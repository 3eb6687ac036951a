// Builds the crash images of a recorded Model (model.h): the schedule of
// images per crash point and the loading of one into a target buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/model.h"

namespace pmem {
namespace sim {

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
