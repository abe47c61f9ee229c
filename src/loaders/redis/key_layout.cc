#include "loaders/redis/key_layout.h"

#include <cstdlib>

namespace amp::redis {

std::string DefaultKeyPattern(Structure structure, const TableSpec& spec) {
  if (!KeyPerRow(structure)) return "{table}";
  if (spec.mode != LoadMode::kUpsert) return "{table}:{_amp_block_start}:{_amp_seq}";
  std::string pattern = "{table}";
  for (const auto& k : spec.key_columns) pattern += ":{" + k + "}";
  return pattern;
}

void AppendRowKey(const KeyPattern& pattern, const RowKeyValues& values, std::string* key) {
  for (const auto& part : pattern.parts()) {
    switch (part.source) {
      case KeyPattern::Source::kLiteral: *key += part.text; break;
      case KeyPattern::Source::kTable: AppendEscapedKeyText(values.table, key); break;
      case KeyPattern::Source::kBlockStart: *key += values.block_start; break;
      case KeyPattern::Source::kBlockEnd: *key += values.block_end; break;
      case KeyPattern::Source::kSeq: *key += std::to_string(values.seq); break;
      case KeyPattern::Source::kColumn: {
        const arrow::Array* column = values.columns[static_cast<size_t>(part.column)];
        if (column == nullptr) {
          *key += "%N";
        } else {
          AppendKeyComponent(*column, values.row, key);
        }
        break;
      }
    }
  }
}

bool KnownUpFront(Structure structure, const KeyPattern& pattern) {
  if (KeyPerRow(structure)) return pattern.Uses(KeyPattern::Source::kSeq);
  for (const auto& part : pattern.parts()) {
    if (part.source != KeyPattern::Source::kLiteral && part.source != KeyPattern::Source::kTable) {
      return false;
    }
  }
  return true;
}

std::string ConstantKey(const KeyLayout& keys, const KeyPattern& pattern, const std::string& table) {
  std::string key = keys.prefix();
  for (const auto& part : pattern.parts()) {
    if (part.source == KeyPattern::Source::kLiteral) key += part.text;
    if (part.source == KeyPattern::Source::kTable) AppendEscapedKeyText(table, &key);
  }
  return key;
}

std::string CollectionMember(const std::string& key, const std::string& element) {
  return std::to_string(key.size()) + ":" + key + element;
}

std::optional<CollectionElement> SplitCollectionMember(const std::string& member) {
  const size_t colon = member.find(':');
  const size_t len = std::strtoull(member.c_str(), nullptr, 10);
  if (colon == std::string::npos || colon + 1 + len > member.size()) return std::nullopt;
  return CollectionElement{member.substr(colon + 1, len), member.substr(colon + 1 + len)};
}

}  // namespace amp::redis
