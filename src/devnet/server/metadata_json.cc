#include "devnet/server/metadata_json.h"

#include <nlohmann/json.hpp>

namespace amp::devnet::server {

std::string EncodeAppMetadata(const std::vector<BlockRange>& ranges, bool ranges_complete) {
  // nlohmann::json objects are std::map-backed: keys come out sorted, like serde_json's
  // default BTreeMap, and dump() without indent is compact.
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : ranges) {
    nlohmann::json range = {
        {"hash", r.hash.ToHex()},
        {"network", r.network},
        {"numbers", {{"start", r.start}, {"end", r.end}}},
        {"prev_hash", r.prev_hash.ToHex()},
    };
    if (r.timestamp.has_value()) range["timestamp"] = *r.timestamp;
    list.push_back(std::move(range));
  }
  nlohmann::json doc = {{"ranges", std::move(list)}, {"ranges_complete", ranges_complete}};
  return doc.dump();
}

}  // namespace amp::devnet::server
