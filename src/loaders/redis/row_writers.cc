#include "loaders/redis/row_writers.h"

#include <arrow/api.h>
#include <arrow/util/ubsan.h>

#include <charconv>

#include "loaders/redis/block_index.h"
#include "loaders/redis/key_layout.h"

namespace amp::redis {
namespace {

// XADD with a server-made id, and the index entry for it, in one step.
// ARGV: stream key, idx, idxs ('' when the span is one block), last block, first block,
// field, value, ...
constexpr const char* kXaddScript = R"lua(
local id = redis.call('XADD', ARGV[1], '*', unpack(ARGV, 6))
local m = string.len(ARGV[1]) .. ':' .. ARGV[1] .. id
redis.call('ZADD', ARGV[2], ARGV[4], m)
if ARGV[3] ~= '' then redis.call('ZADD', ARGV[3], ARGV[5], m) end
return id
)lua";

double ScoreAt(const arrow::Array& column, int64_t i) {
  switch (column.type_id()) {
    case arrow::Type::INT8: return static_cast<const arrow::Int8Array&>(column).Value(i);
    case arrow::Type::INT16: return static_cast<const arrow::Int16Array&>(column).Value(i);
    case arrow::Type::INT32: return static_cast<const arrow::Int32Array&>(column).Value(i);
    case arrow::Type::INT64: return static_cast<double>(static_cast<const arrow::Int64Array&>(column).Value(i));
    case arrow::Type::UINT8: return static_cast<const arrow::UInt8Array&>(column).Value(i);
    case arrow::Type::UINT16: return static_cast<const arrow::UInt16Array&>(column).Value(i);
    case arrow::Type::UINT32: return static_cast<const arrow::UInt32Array&>(column).Value(i);
    case arrow::Type::UINT64: return static_cast<double>(static_cast<const arrow::UInt64Array&>(column).Value(i));
    case arrow::Type::FLOAT: return static_cast<const arrow::FloatArray&>(column).Value(i);
    case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(column).Value(i);
    default: return 0;
  }
}

std::string ScoreText(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Hash and stream rows: field/value pairs of the non-null columns, then the block span.
class FieldRowWriter : public RowWriter {
 protected:
  explicit FieldRowWriter(const WriterContext& context) : context_(context) {}

  // Fills value_ with the pairs and null_columns_ with the columns left out; returns the
  // number of pairs.
  size_t EncodeFields(const RowPlace& place) {
    const auto& schema = *context_.info.spec.schema;
    size_t fields = 0;
    null_columns_.clear();
    value_.clear();
    for (size_t c = 0; c < context_.columns.size(); ++c) {
      const arrow::Array* col = context_.columns[c];
      if (col == nullptr || col->IsNull(place.row)) {
        null_columns_.push_back(static_cast<int>(c));
        continue;
      }
      AppendBulk(&value_, schema.field(static_cast<int>(c))->name());
      text_.clear();
      AppendField(*col, place.row, context_.info.binary, &text_);
      AppendBulk(&value_, text_);
      ++fields;
    }
    AppendBulk(&value_, kBlockStart);
    AppendBulk(&value_, place.start_text);
    AppendBulk(&value_, kBlockEnd);
    AppendBulk(&value_, place.end_text);
    return fields + 2;
  }

  const WriterContext& context_;
  std::string value_, text_;
  std::vector<int> null_columns_;
};

class HashRowWriter final : public FieldRowWriter {
 public:
  explicit HashRowWriter(const WriterContext& context)
      : FieldRowWriter(context), ttl_text_(std::to_string(context.ttl)) {}

  void Write(const RowPlace& place, const std::string& key, UnitBody& body) override {
    const size_t fields = EncodeFields(place);
    const auto& schema = *context_.info.spec.schema;
    if (context_.may_exist && !null_columns_.empty()) {
      // The key may hold an older version of the row: drop its now-null fields.
      AppendArrayHeader(&body.text(), 2 + null_columns_.size());
      AppendBulk(&body.text(), "HDEL");
      AppendBulk(&body.text(), key);
      for (int c : null_columns_) AppendBulk(&body.text(), schema.field(c)->name());
      body.Counted();
    }
    AppendArrayHeader(&body.text(), 2 + 2 * fields);
    AppendBulk(&body.text(), "HSET");
    AppendBulk(&body.text(), key);
    body.text() += value_;
    body.Counted();
    AddIndexEntry(body, context_.info, key, place.start, place.end, place.start_text, place.end_text);
    if (context_.ttl > 0) body.Command({"EXPIRE", key, ttl_text_});
    if (context_.check_row_keys) body.ExpectType("hash", key);
  }

 private:
  const std::string ttl_text_;
};

// XADD through kXaddScript: the entry id is the server's, and the index member made of it
// is added in the same step.
class StreamRowWriter final : public FieldRowWriter {
 public:
  explicit StreamRowWriter(const WriterContext& context) : FieldRowWriter(context) {}

  void Write(const RowPlace& place, const std::string& key, UnitBody& body) override {
    const size_t fields = EncodeFields(place);
    const TableInfo& info = context_.info;
    AppendArrayHeader(&body.text(), 8 + 2 * fields);
    AppendBulk(&body.text(), "EVALSHA");
    AppendBulk(&body.text(), context_.xadd_sha);
    AppendBulk(&body.text(), "0");
    AppendBulk(&body.text(), key);
    AppendBulk(&body.text(), info.idx);
    AppendBulk(&body.text(), place.start != place.end ? info.idxs : "");
    AppendBulk(&body.text(), place.end_text);
    AppendBulk(&body.text(), place.start_text);
    body.text() += value_;
    body.Counted();
    body.AddContainer("stream", key);
    body.ExpectType("zset", info.idx);
  }
};

// String, set, sorted_set and list rows: a JSON document of the row.
class DocumentRowWriter : public RowWriter {
 protected:
  DocumentRowWriter(const WriterContext& context, bool with_seq)
      : context_(context), with_seq_(with_seq) {}

  const std::string& EncodeDocument(const RowPlace& place) {
    const auto& schema = *context_.info.spec.schema;
    value_.clear();
    value_.push_back('{');
    for (size_t c = 0; c < context_.columns.size(); ++c) {
      if (c > 0) value_.push_back(',');
      AppendJsonString(schema.field(static_cast<int>(c))->name(), &value_);
      value_.push_back(':');
      const arrow::Array* col = context_.columns[c];
      if (col == nullptr) {
        value_ += "null";
      } else {
        AppendJson(*col, place.row, &value_);
      }
    }
    if (!context_.columns.empty()) value_.push_back(',');
    value_ += "\"_amp_block_start\":" + place.start_text + ",\"_amp_block_end\":" + place.end_text;
    if (with_seq_) value_ += ",\"_amp_seq\":" + std::to_string(place.seq);
    value_.push_back('}');
    return value_;
  }

  const WriterContext& context_;
  const bool with_seq_;
  std::string value_;
};

class StringRowWriter final : public DocumentRowWriter {
 public:
  explicit StringRowWriter(const WriterContext& context)
      : DocumentRowWriter(context, false), ttl_text_(std::to_string(context.ttl)) {}

  void Write(const RowPlace& place, const std::string& key, UnitBody& body) override {
    const std::string& doc = EncodeDocument(place);
    if (context_.ttl > 0) {
      body.Command({"SET", key, doc, "EX", ttl_text_});
    } else {
      body.Command({"SET", key, doc});
    }
    AddIndexEntry(body, context_.info, key, place.start, place.end, place.start_text, place.end_text);
    if (context_.check_row_keys) body.ExpectType("string", key);
  }

 private:
  const std::string ttl_text_;
};

// Set, sorted_set and list rows are elements of the collection at `key`; the index member
// names the collection and the element (CollectionMember). Set and list elements go in
// with one command of the element alone (SADD, RPUSH); list documents carry _amp_seq so
// that equal rows stay distinct elements.
class CollectionRowWriter : public DocumentRowWriter {
 public:
  CollectionRowWriter(const WriterContext& context, const char* verb, bool with_seq)
      : DocumentRowWriter(context, with_seq), verb_(verb) {}

  void Write(const RowPlace& place, const std::string& key, UnitBody& body) override {
    const std::string& doc = EncodeDocument(place);
    AddElement(place, key, doc, body);
    AddIndexEntry(body, context_.info, CollectionMember(key, doc), place.start, place.end,
                  place.start_text, place.end_text);
    body.AddContainer(RedisType(context_.info.structure), key);
  }

 protected:
  virtual void AddElement(const RowPlace&, const std::string& key, const std::string& doc,
                          UnitBody& body) {
    body.Command({verb_, key, doc});
  }

 private:
  const char* const verb_;
};

// The score is the `score_column` value, or the row's first block.
class SortedSetRowWriter final : public CollectionRowWriter {
 public:
  explicit SortedSetRowWriter(const WriterContext& context)
      : CollectionRowWriter(context, "ZADD", false) {}

 private:
  void AddElement(const RowPlace& place, const std::string& key, const std::string& doc,
                  UnitBody& body) override {
    double score = static_cast<double>(place.start);
    if (context_.info.score_column >= 0) {
      const arrow::Array* col = context_.columns[static_cast<size_t>(context_.info.score_column)];
      if (col != nullptr && !col->IsNull(place.row)) score = ScoreAt(*col, place.row);
    }
    body.Command({"ZADD", key, ScoreText(score), doc});
  }
};

}  // namespace

std::string_view XaddScript() { return kXaddScript; }

Result<uint64_t> BlockAt(const arrow::Array& column, int64_t i, const std::string& name) {
  if (column.IsNull(i)) {
    return FatalError("[redis] block column '" + name + "' is null in row " + std::to_string(i),
                      "null_block");
  }
  switch (column.type_id()) {
    case arrow::Type::UINT64:
      return arrow::util::SafeLoad(static_cast<const arrow::UInt64Array&>(column).raw_values() + i);
    case arrow::Type::UINT32:
      return arrow::util::SafeLoad(static_cast<const arrow::UInt32Array&>(column).raw_values() + i);
    case arrow::Type::INT64: {
      int64_t v = arrow::util::SafeLoad(static_cast<const arrow::Int64Array&>(column).raw_values() + i);
      if (v < 0) return FatalError("[redis] negative block number in '" + name + "'", "block");
      return static_cast<uint64_t>(v);
    }
    case arrow::Type::INT32: {
      int32_t v = arrow::util::SafeLoad(static_cast<const arrow::Int32Array&>(column).raw_values() + i);
      if (v < 0) return FatalError("[redis] negative block number in '" + name + "'", "block");
      return static_cast<uint64_t>(v);
    }
    default:
      return FatalError("[redis] block column '" + name + "' is not an integer column", "block");
  }
}

Result<std::vector<const arrow::Array*>> ColumnsInTableOrder(const TableInfo& info,
                                                             const arrow::RecordBatch& batch) {
  const auto& schema = *info.spec.schema;
  const std::string& table = info.spec.name;
  std::vector<const arrow::Array*> columns(static_cast<size_t>(schema.num_fields()), nullptr);
  for (int i = 0; i < batch.num_columns(); ++i) {
    const auto& field = batch.schema()->field(i);
    const int s = schema.GetFieldIndex(field->name());
    if (s < 0) {
      return FatalError("[redis] append to table '" + table + "': column '" + field->name() +
                            "' is not in the table",
                        "schema");
    }
    if (!schema.field(s)->type()->Equals(*field->type())) {
      return FatalError("[redis] append to table '" + table + "': column '" + field->name() +
                            "' has type " + field->type()->ToString() + ", the table has " +
                            schema.field(s)->type()->ToString(),
                        "schema");
    }
    columns[static_cast<size_t>(s)] = batch.column(i).get();
  }
  return columns;
}

std::unique_ptr<RowWriter> MakeRowWriter(const WriterContext& context) {
  switch (context.info.structure) {
    case Structure::kHash: return std::make_unique<HashRowWriter>(context);
    case Structure::kStream: return std::make_unique<StreamRowWriter>(context);
    case Structure::kString: return std::make_unique<StringRowWriter>(context);
    case Structure::kSet: return std::make_unique<CollectionRowWriter>(context, "SADD", false);
    case Structure::kSortedSet: return std::make_unique<SortedSetRowWriter>(context);
    case Structure::kList: return std::make_unique<CollectionRowWriter>(context, "RPUSH", true);
  }
  return nullptr;
}

}  // namespace amp::redis
