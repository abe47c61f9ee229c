// What value_codec.cc and value_codec_read.cc share beyond value_codec.h: small parsing
// and formatting helpers, not part of the codec's interface.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "loaders/common/value_codec.h"

namespace amp::loaders::internal {

// 10^0 .. 10^19 (the powers of ten that fit in 64 bits).
inline constexpr std::array<uint64_t, 20> kPow10 = [] {
  std::array<uint64_t, 20> p{};
  p[0] = 1;
  for (size_t k = 1; k < p.size(); ++k) p[k] = p[k - 1] * 10;
  return p;
}();

template <typename T>
inline void AppendInteger(T value, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, r.ptr);
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

template <typename T>
inline bool ParseWhole(std::string_view text, T* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

enum class Parsed { kOk, kMalformed, kOutOfRange };

/// The whole of `text` as date 'T' clock ['Z'] in units of 10^-digits seconds, telling a
/// malformed text from one outside int64.
Parsed ParseTimestampParts(std::string_view text, int digits, bool utc_suffix_required,
                           const JsonDialect& dialect, int64_t* value);

}  // namespace amp::loaders::internal
