// Where the "redis" loader keeps things (docs/loaders/redis.md, "Layout"). Every key starts
// with the `prefix` option:
//   rows            key_pattern, by default {table}:{_amp_block_start}:{_amp_seq} (hash,
//                   string), {table}:{k1}:{k2}... for upserts, {table} for collections
//   amp:table:<t>   the table's description (hash: columns, data_structure, format, id, rows)
//   amp:idx:<t>     the block index (sorted set: member = row key or collection member,
//                   score = the row's last block); amp:idxs:<t> the first blocks of members
//                   whose span has more than one block
//   amp:seq:<t>     the counter behind {_amp_seq} and list members
//   amp:state:<s>   the checkpoint of stream s; amp:streams lists the streams;
//                   amp:state_tables:<s> the tables (by id) its last commit wrote;
//                   amp:table_streams:<t> the streams that wrote table t; amp:tables the tables
// A collection element's index member is "<len(key)>:<key><element>", so the undo script
// and the reader find the collection without another lookup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "loaders/redis/redis_codec.h"
#include "loaders/redis/redis_options.h"

namespace arrow {
class Array;
}

namespace amp::redis {

class KeyLayout {
 public:
  explicit KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }
  std::string Key(const std::string& suffix) const { return prefix_ + suffix; }
  std::string Description(const std::string& table) const { return Key("amp:table:" + table); }
  std::string Index(const std::string& table) const { return Key("amp:idx:" + table); }
  std::string IndexStarts(const std::string& table) const { return Key("amp:idxs:" + table); }
  std::string Seq(const std::string& table) const { return Key("amp:seq:" + table); }
  std::string TableStreams(const std::string& table) const {
    return Key("amp:table_streams:" + table);
  }
  std::string State(const std::string& stream_id) const { return Key("amp:state:" + stream_id); }
  /// Hash: table -> the table's `id` when the stream's checkpoint last wrote it.
  std::string StateTables(const std::string& stream_id) const {
    return Key("amp:state_tables:" + stream_id);
  }
  std::string Streams() const { return Key("amp:streams"); }
  std::string Tables() const { return Key("amp:tables"); }

 private:
  std::string prefix_;
};

/// The key pattern a table gets when the `key_pattern` option is empty.
std::string DefaultKeyPattern(Structure structure, const TableSpec& spec);

/// What a row's key is made of besides the pattern's literal text.
struct RowKeyValues {
  const std::string& table;
  const std::string& block_start;  ///< decimal text
  const std::string& block_end;
  uint64_t seq = 0;
  /// The batch's columns in the table's order (nullptr: not in the batch, keyed as null).
  const std::vector<const arrow::Array*>& columns;
  int64_t row = 0;
};

/// Appends the key of one row (hash, string) or of its collection.
void AppendRowKey(const KeyPattern& pattern, const RowKeyValues& values, std::string* key);

/// Whether every key a unit writes with `pattern` can be type-checked before anything is
/// sent: row keys made with {_amp_seq} are new by construction, and a collection key
/// without per-row placeholders is known up front.
bool KnownUpFront(Structure structure, const KeyPattern& pattern);

/// The collection key of a pattern without per-row placeholders (see KnownUpFront).
std::string ConstantKey(const KeyLayout& keys, const KeyPattern& pattern, const std::string& table);

/// The index member of `element` in the collection `key`, and its inverse (nullopt for a
/// member not made so).
std::string CollectionMember(const std::string& key, const std::string& element);
struct CollectionElement {
  std::string key;
  std::string element;
};
std::optional<CollectionElement> SplitCollectionMember(const std::string& member);

}  // namespace amp::redis
