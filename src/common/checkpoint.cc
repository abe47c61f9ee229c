// The stored spelling of the durable records of amp/checkpoint.h. The StreamCheckpoint
// JSON is the format every destination already holds; the typed records are views of it.
#include "amp/checkpoint.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "common/block_range_json.h"

namespace amp {
namespace {

constexpr const char* kPartitionInfix = "/range/";
constexpr const char* kHandoffSuffix = "/plan";
constexpr size_t kPartitionDigits = 20;

Status BadCheckpoint(const std::string& what, const std::string& why) {
  return WithErrorInfo(Status::Invalid("invalid ", what, ": ", why), ErrorClass::kFatal, "loader",
                       "BAD_CHECKPOINT");
}

// 64-bit FNV-1a; two independent lanes make the 128-bit stream id.
uint64_t Fnv1a(std::string_view data, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool EndsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The partition record's key block: the 20 digits after the last "/range/".
std::optional<std::pair<std::string, BlockNumber>> SplitPartitionId(const std::string& id) {
  const size_t at = id.rfind(kPartitionInfix);
  if (at == std::string::npos || at == 0) return std::nullopt;
  const std::string digits = id.substr(at + std::char_traits<char>::length(kPartitionInfix));
  if (digits.size() != kPartitionDigits ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  errno = 0;
  const unsigned long long start = std::strtoull(digits.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return std::pair<std::string, BlockNumber>(id.substr(0, at), start);
}

}  // namespace

// --- StreamCheckpoint. ---

std::string StreamCheckpoint::ToJson() const {
  nlohmann::json j;
  j["version"] = 1;
  j["stream_id"] = stream_id;
  j["cursor"] = nlohmann::json::parse(cursor.ToJson());
  j["recent_ranges"] = nlohmann::json::array();
  for (const auto& r : recent_ranges) j["recent_ranges"].push_back(BlockRangeToJson(r));
  j["transaction_id"] = transaction_id;
  return j.dump();
}

Result<StreamCheckpoint> StreamCheckpoint::FromJson(const std::string& json) {
  auto fail = [](const std::string& why) { return BadCheckpoint("stream checkpoint", why); };
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  if (!j.contains("version") || !j["version"].is_number_unsigned() || j["version"].get<uint64_t>() != 1) {
    return fail("unsupported or missing version (expected 1)");
  }
  if (!j.contains("stream_id") || !j["stream_id"].is_string()) return fail("missing stream_id");
  if (!j.contains("cursor") || !j["cursor"].is_object()) return fail("missing cursor");
  if (!j.contains("transaction_id") || !j["transaction_id"].is_number_unsigned()) {
    return fail("missing transaction_id");
  }
  StreamCheckpoint cp;
  cp.stream_id = j["stream_id"].get<std::string>();
  auto cursor = Cursor::FromJson(j["cursor"].dump());
  if (!cursor.ok()) return fail(cursor.status().message());
  cp.cursor = std::move(*cursor);
  if (j.contains("recent_ranges")) {
    if (!j["recent_ranges"].is_array()) return fail("recent_ranges is not an array");
    const auto& ranges = j["recent_ranges"];
    for (size_t i = 0; i < ranges.size(); ++i) {
      // A hand-off record keeps the head of a source that reported no network.
      auto range = BlockRangeFromJson(ranges[i], "recent_ranges[" + std::to_string(i) + "]",
                                      /*network_may_be_empty=*/true);
      if (!range.ok()) return fail(range.status().message());
      cp.recent_ranges.push_back(std::move(*range));
    }
  }
  cp.transaction_id = j["transaction_id"].get<uint64_t>();
  return cp;
}

std::string MakeStreamId(const std::string& query, const std::string& table) {
  // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
  const std::string input = std::to_string(query.size()) + ":" + query + "|" +
                            std::to_string(table.size()) + ":" + table;
  const uint64_t lanes[2] = {Fnv1a(input, 0xcbf29ce484222325ULL),
                             Fnv1a(input, 0x84222325cbf29ce4ULL ^ 0x9e3779b97f4a7c15ULL)};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint64_t lane : lanes) {
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(lane >> shift) & 15]);
  }
  return out;
}

// --- PartitionProgress. ---

std::string PartitionProgress::StreamIdPrefix(const std::string& job) {
  return job + kPartitionInfix;
}

std::string PartitionProgress::StreamId(const std::string& job, BlockNumber start) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(start));
  return StreamIdPrefix(job) + digits;
}

Result<StreamCheckpoint> PartitionProgress::ToCheckpoint() const {
  if (done_through < start) {
    return Status::Invalid("partition progress of '", job, "' at block ", start,
                           " is done through block ", done_through, ", before its start");
  }
  StreamCheckpoint row;
  row.stream_id = StreamId(job, start);
  BlockRange done;
  done.network = network;
  done.start = start;
  done.end = done_through;
  row.recent_ranges.push_back(std::move(done));
  row.transaction_id = transaction_id;
  return row;
}

Result<PartitionProgress> PartitionProgress::FromCheckpoint(const StreamCheckpoint& checkpoint) {
  const std::string what = "partition progress '" + checkpoint.stream_id + "'";
  auto key = SplitPartitionId(checkpoint.stream_id);
  if (!key) return BadCheckpoint(what, "its id is not \"<job>/range/<20 digits>\"");
  if (checkpoint.recent_ranges.size() != 1) {
    return BadCheckpoint(what, "it holds " + std::to_string(checkpoint.recent_ranges.size()) +
                                   " ranges, not 1");
  }
  const BlockRange& done = checkpoint.recent_ranges.front();
  if (done.start != key->second) {
    return BadCheckpoint(what, "its range " + done.ToString() + " does not start at its key block");
  }
  PartitionProgress progress;
  progress.job = key->first;
  progress.start = done.start;
  progress.done_through = done.end;
  progress.network = done.network;
  progress.transaction_id = checkpoint.transaction_id;
  return progress;
}

// --- HandoffRecord. ---

std::string HandoffRecord::StreamId(const std::string& job) { return job + kHandoffSuffix; }

Result<StreamCheckpoint> HandoffRecord::ToCheckpoint() const {
  StreamCheckpoint row;
  row.stream_id = StreamId(job);
  if (handoff && !head) {
    return Status::Invalid("hand-off record of '", job, "' has a hand-off block but no head");
  }
  if (head) {
    if (head->number < from) {
      return Status::Invalid("hand-off record of '", job, "': head ", head->number,
                             " is below the first block ", from);
    }
    BlockRange covered;
    covered.network = network;
    covered.start = from;
    covered.end = head->number;
    covered.hash = head->hash;
    row.recent_ranges.push_back(std::move(covered));
  }
  if (handoff) row.cursor.networks[network] = *handoff;
  return row;
}

Result<HandoffRecord> HandoffRecord::FromCheckpoint(const StreamCheckpoint& checkpoint) {
  const std::string what = "hand-off record '" + checkpoint.stream_id + "'";
  if (!EndsWith(checkpoint.stream_id, kHandoffSuffix) ||
      checkpoint.stream_id.size() == std::char_traits<char>::length(kHandoffSuffix)) {
    return BadCheckpoint(what, "its id is not \"<job>/plan\"");
  }
  if (checkpoint.recent_ranges.size() > 1) {
    return BadCheckpoint(what, "it holds " + std::to_string(checkpoint.recent_ranges.size()) +
                                   " ranges, not at most 1");
  }
  HandoffRecord record;
  record.job = checkpoint.stream_id.substr(
      0, checkpoint.stream_id.size() - std::char_traits<char>::length(kHandoffSuffix));
  if (!checkpoint.recent_ranges.empty()) {
    const BlockRange& covered = checkpoint.recent_ranges.front();
    record.network = covered.network;
    record.from = covered.start;
    record.head = NetworkCursor{covered.end, covered.hash};
  }
  const auto& networks = checkpoint.cursor.networks;
  if (networks.size() > 1 || (!networks.empty() && !record.head) ||
      (!networks.empty() && networks.begin()->first != record.network)) {
    return BadCheckpoint(what, "its hand-off cursor is not one block on the head's network");
  }
  if (!networks.empty()) record.handoff = networks.begin()->second;
  return record;
}

}  // namespace amp
