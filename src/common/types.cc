#include "amp/types.h"

#include <nlohmann/json.hpp>

namespace amp {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<BlockHash> BlockHash::FromHex(std::string_view text) {
  std::string_view digits = text;
  if (digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  if (digits.size() != 64) {
    return Status::Invalid("block hash must be 32 bytes as 64 hex digits, got '", text, "'");
  }
  BlockHash hash;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(digits[2 * i]);
    int lo = HexValue(digits[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Invalid("block hash has a non-hex digit: '", text, "'");
    hash.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return hash;
}

std::string BlockHash::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out.reserve(66);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool BlockHash::IsZero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string BlockRange::ToString() const {
  return network + "[" + std::to_string(start) + "..=" + std::to_string(end) + "]";
}

Cursor Cursor::FromRanges(const std::vector<BlockRange>& ranges) {
  Cursor cursor;
  for (const auto& r : ranges) cursor.networks[r.network] = NetworkCursor{r.end, r.hash};
  return cursor;
}

Result<Cursor> Cursor::FromJson(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Invalid("resume cursor is not a JSON object: ", json);
  }
  Cursor cursor;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const auto& v = it.value();
    if (!v.is_object() || !v.contains("number") || !v.contains("hash") ||
        !v["number"].is_number_unsigned() || !v["hash"].is_string()) {
      return Status::Invalid("resume cursor entry for network '", it.key(),
                             "' must be {\"number\": <u64>, \"hash\": \"0x…\"}");
    }
    AMP_ASSIGN_OR_RETURN(auto hash, BlockHash::FromHex(v["hash"].get<std::string>()));
    cursor.networks[it.key()] = NetworkCursor{v["number"].get<uint64_t>(), hash};
  }
  return cursor;
}

std::string Cursor::ToJson() const {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& [network, c] : networks) {
    doc[network] = {{"number", c.number}, {"hash", c.hash.ToHex()}};
  }
  return doc.dump();
}

}  // namespace amp
