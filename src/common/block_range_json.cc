#include "common/block_range_json.h"

namespace amp {
namespace {

using nlohmann::json;

Status Bad(std::string_view where, const std::string& what) {
  return Status::Invalid(std::string(where), what);
}

Result<uint64_t> GetBlockNumber(const json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(where, std::string(" has no \"") + key + "\"");
  if (!it->is_number_unsigned()) {
    return Bad(where, std::string(" \"") + key + "\" is not an unsigned integer");
  }
  return it->get<uint64_t>();
}

Result<BlockHash> GetHash(const json& obj, const char* key, bool required, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Bad(where, std::string(" has no \"") + key + "\"");
    return BlockHash{};
  }
  if (!it->is_string()) return Bad(where, std::string(" \"") + key + "\" is not a string");
  auto hash = BlockHash::FromHex(it->get<std::string>());
  if (!hash.ok()) {
    return Bad(where, std::string(" \"") + key + "\" is not a 0x-prefixed 32-byte hex hash");
  }
  return *hash;
}

}  // namespace

json BlockRangeToJson(const BlockRange& range) {
  json out = {{"hash", range.hash.ToHex()},
              {"network", range.network},
              {"numbers", {{"start", range.start}, {"end", range.end}}},
              {"prev_hash", range.prev_hash.ToHex()}};
  if (range.timestamp) out["timestamp"] = *range.timestamp;
  return out;
}

Result<BlockRange> BlockRangeFromJson(const json& item, std::string_view where,
                                      bool network_may_be_empty) {
  if (!item.is_object()) return Bad(where, " is not an object");
  BlockRange range;
  auto network = item.find("network");
  if (network == item.end() || !network->is_string() ||
      (!network_may_be_empty && network->get<std::string>().empty())) {
    return Bad(where, " has no \"network\" string");
  }
  range.network = network->get<std::string>();

  const std::string numbers_where = std::string(where) + ".numbers";
  auto numbers = item.find("numbers");
  if (numbers != item.end()) {
    if (!numbers->is_object()) return Bad(where, " \"numbers\" is not an object");
    AMP_ASSIGN_OR_RETURN(range.start, GetBlockNumber(*numbers, "start", numbers_where));
    AMP_ASSIGN_OR_RETURN(range.end, GetBlockNumber(*numbers, "end", numbers_where));
  } else if (item.contains("start") || item.contains("end")) {
    AMP_ASSIGN_OR_RETURN(range.start, GetBlockNumber(item, "start", where));
    AMP_ASSIGN_OR_RETURN(range.end, GetBlockNumber(item, "end", where));
  } else {
    return Bad(where, " has no \"numbers\" {\"start\", \"end\"}");
  }
  if (range.start > range.end) {
    return Bad(where, " starts after it ends (start " + std::to_string(range.start) + " > end " +
                          std::to_string(range.end) + ")");
  }
  AMP_ASSIGN_OR_RETURN(range.hash, GetHash(item, "hash", /*required=*/true, where));
  AMP_ASSIGN_OR_RETURN(range.prev_hash, GetHash(item, "prev_hash", /*required=*/false, where));
  auto ts = item.find("timestamp");
  if (ts != item.end() && !ts->is_null()) {
    if (!ts->is_number_unsigned()) return Bad(where, " \"timestamp\" is not an unsigned integer");
    range.timestamp = ts->get<uint64_t>();
  }
  return range;
}

}  // namespace amp
