// ASCII case folding for names the protocol and the configuration treat case-insensitively
// (URI schemes, option values, load modes). Locale-free on purpose: std::tolower with a
// user's locale would fold bytes of UTF-8 names.
#pragma once

#include <string>

namespace amp {

inline std::string AsciiLower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

}  // namespace amp
