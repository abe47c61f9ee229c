#include "flight/app_metadata.h"

#include <nlohmann/json.hpp>

namespace amp::flight {
namespace {

using nlohmann::json;

constexpr size_t kMaxQuoted = 300;

std::string Quote(std::string_view text) {
  if (text.size() <= kMaxQuoted) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kMaxQuoted)) + "…' (" + std::to_string(text.size()) +
         " bytes)";
}

Status Bad(std::string_view what, std::string_view text) {
  return ProtocolError("invalid app_metadata: " + std::string(what) + "; got " + Quote(text));
}

// Reads an unsigned integer member of `obj`; `where` names it in errors.
Result<uint64_t> GetBlockNumber(const json& obj, const char* key, std::string_view where,
                                std::string_view text) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(std::string(where) + " has no \"" + key + "\"", text);
  if (!it->is_number_unsigned()) {
    return Bad(std::string(where) + " \"" + key + "\" is not an unsigned integer", text);
  }
  return it->get<uint64_t>();
}

Result<BlockHash> GetHash(const json& obj, const char* key, bool required,
                          std::string_view where, std::string_view text) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Bad(std::string(where) + " has no \"" + key + "\"", text);
    return BlockHash{};
  }
  if (!it->is_string()) return Bad(std::string(where) + " \"" + key + "\" is not a string", text);
  auto hash = BlockHash::FromHex(it->get<std::string>());
  if (!hash.ok()) {
    return Bad(std::string(where) + " \"" + key + "\" is not a 0x-prefixed 32-byte hex hash",
               text);
  }
  return *hash;
}

Result<BlockRange> ParseRange(const json& item, size_t index, std::string_view text) {
  std::string where = "ranges[" + std::to_string(index) + "]";
  if (!item.is_object()) return Bad(where + " is not an object", text);
  BlockRange range;
  auto network = item.find("network");
  if (network == item.end() || !network->is_string() || network->get<std::string>().empty()) {
    return Bad(where + " has no \"network\" string", text);
  }
  range.network = network->get<std::string>();

  auto numbers = item.find("numbers");
  if (numbers != item.end()) {
    if (!numbers->is_object()) return Bad(where + " \"numbers\" is not an object", text);
    AMP_ASSIGN_OR_RETURN(range.start, GetBlockNumber(*numbers, "start", where + ".numbers", text));
    AMP_ASSIGN_OR_RETURN(range.end, GetBlockNumber(*numbers, "end", where + ".numbers", text));
  } else if (item.contains("start") || item.contains("end")) {
    // Flat form, as amp-python's BlockRange.from_dict accepts.
    AMP_ASSIGN_OR_RETURN(range.start, GetBlockNumber(item, "start", where, text));
    AMP_ASSIGN_OR_RETURN(range.end, GetBlockNumber(item, "end", where, text));
  } else {
    return Bad(where + " has no \"numbers\" {\"start\", \"end\"}", text);
  }
  if (range.start > range.end) {
    return Bad(where + " starts after it ends (start " + std::to_string(range.start) +
                   " > end " + std::to_string(range.end) + ")",
               text);
  }
  AMP_ASSIGN_OR_RETURN(range.hash, GetHash(item, "hash", /*required=*/true, where, text));
  AMP_ASSIGN_OR_RETURN(range.prev_hash,
                       GetHash(item, "prev_hash", /*required=*/false, where, text));
  auto ts = item.find("timestamp");
  if (ts != item.end() && !ts->is_null()) {
    if (!ts->is_number_unsigned()) {
      return Bad(where + " \"timestamp\" is not an unsigned integer", text);
    }
    range.timestamp = ts->get<uint64_t>();
  }
  return range;
}

}  // namespace

Status ProtocolError(std::string message) {
  return WithErrorInfo(Status::Invalid("[flight] Amp protocol violation: ", std::move(message)),
                       ErrorClass::kFatal, "flight", "PROTOCOL_ERROR");
}

Result<BatchMetadata> ParseAppMetadata(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("not valid JSON", text);
  if (!doc.is_object()) return Bad("not a JSON object", text);
  auto ranges = doc.find("ranges");
  if (ranges == doc.end()) return Bad("no \"ranges\" key", text);
  if (!ranges->is_array()) return Bad("\"ranges\" is not an array", text);

  BatchMetadata metadata;
  metadata.ranges.reserve(ranges->size());
  for (size_t i = 0; i < ranges->size(); ++i) {
    AMP_ASSIGN_OR_RETURN(auto range, ParseRange((*ranges)[i], i, text));
    metadata.ranges.push_back(std::move(range));
  }
  auto complete = doc.find("ranges_complete");
  if (complete != doc.end() && !complete->is_null()) {
    if (!complete->is_boolean()) return Bad("\"ranges_complete\" is not a boolean", text);
    metadata.ranges_complete = complete->get<bool>();
  }
  return metadata;
}

std::string FormatAppMetadata(const BatchMetadata& metadata) {
  // nlohmann::json objects are std::maps, so keys come out sorted like serde_json's.
  json ranges = json::array();
  for (const auto& r : metadata.ranges) {
    json range = {{"hash", r.hash.ToHex()},
                  {"network", r.network},
                  {"numbers", {{"start", r.start}, {"end", r.end}}},
                  {"prev_hash", r.prev_hash.ToHex()}};
    if (r.timestamp) range["timestamp"] = *r.timestamp;
    ranges.push_back(std::move(range));
  }
  json doc = {{"ranges", std::move(ranges)}, {"ranges_complete", metadata.ranges_complete}};
  return doc.dump();
}

}  // namespace amp::flight
