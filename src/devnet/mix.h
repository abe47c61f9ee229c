// The devnet's deterministic randomness: the splitmix64 finaliser (a bijection on 64 bits
// with full avalanche) and the golden-ratio increment, shared by the chain's block hashes
// and the tables' row generators so both derive from the seed the same way.
#pragma once

#include <cstdint>

namespace amp::devnet {

inline constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace amp::devnet
