#include "flight/app_metadata.h"

#include <nlohmann/json.hpp>

#include "common/block_range_json.h"

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

// One range, its problem reported as a protocol violation quoting the whole metadata.
Result<BlockRange> ParseRange(const json& item, size_t index, std::string_view text) {
  auto range = BlockRangeFromJson(item, "ranges[" + std::to_string(index) + "]");
  if (!range.ok()) return Bad(range.status().message(), text);
  return std::move(*range);
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
    ranges.push_back(BlockRangeToJson(r));
  }
  json doc = {{"ranges", std::move(ranges)}, {"ranges_complete", metadata.ranges_complete}};
  return doc.dump();
}

}  // namespace amp::flight
