#include "loaders/redis/redis_reader.h"

#include <arrow/api.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loaders/redis/key_layout.h"
#include "loaders/redis/table_description.h"

namespace amp::redis {
namespace {

// Index members per pipelined read.
constexpr size_t kReadChunk = 1000;

// Scores are doubles: exact for block numbers below 2^53.
constexpr uint64_t kExactScore = uint64_t{1} << 53;

// The requested columns must be stored with the same types.
Status CheckStoredColumns(const TableSpec& spec, const arrow::FieldVector& fields,
                          const std::map<std::string, std::string>& description) {
  const auto types = StoredColumnTypes(description).value_or(std::map<std::string, std::string>{});
  for (const auto& f : fields) {
    auto it = types.find(f->name());
    if (it == types.end() || it->second != f->type()->ToString()) {
      return FatalError("[redis] ReadRows of '" + spec.name + "': column '" + f->name() + "' " +
                            (it == types.end() ? std::string("does not exist")
                                               : "is " + it->second + ", not " + f->type()->ToString()),
                        "schema");
    }
  }
  return Status::OK();
}

// Builds the result a row at a time from its stored form, skipping rows outside `blocks`.
class RowAssembler {
 public:
  RowAssembler(arrow::FieldVector fields, BinaryForm binary, BlockInterval blocks)
      : fields_(std::move(fields)), binary_(binary), blocks_(blocks) {}

  Status Init() {
    for (const auto& f : fields_) {
      AMP_ASSIGN_OR_RETURN(auto b, arrow::MakeBuilder(f->type()));
      builders_.push_back(std::move(b));
    }
    return Status::OK();
  }

  // A hash or stream row: field -> stored text.
  Status AddFields(const std::map<std::string, std::string>& text, const std::string& where) {
    auto si = text.find(kBlockStart), ei = text.find(kBlockEnd);
    if (si == text.end() || ei == text.end()) {
      return FatalError("[redis] " + where + " has no " + kBlockStart + "/" + kBlockEnd, "data");
    }
    const uint64_t s = std::strtoull(si->second.c_str(), nullptr, 10);
    const uint64_t e = std::strtoull(ei->second.c_str(), nullptr, 10);
    if (!(s <= blocks_.end && e >= blocks_.start)) return Status::OK();
    for (size_t c = 0; c < fields_.size(); ++c) {
      const auto& f = fields_[c];
      auto it = text.find(f->name());
      Status st = it == text.end()
                      ? builders_[c]->AppendNull()
                      : AppendFromField(builders_[c].get(), *f->type(), it->second, binary_);
      AMP_RETURN_NOT_OK(Decoded(st, where, *f));
    }
    return starts_.Append(s);
  }

  // A string or collection row: its JSON document.
  Status AddDocument(const nlohmann::json& json, const std::string& where) {
    if (!json.is_object() || !json.contains(kBlockStart) || !json.contains(kBlockEnd)) {
      return FatalError("[redis] " + where + " is not a row document of the loader", "data");
    }
    const uint64_t s = json[kBlockStart].get<uint64_t>();
    const uint64_t e = json[kBlockEnd].get<uint64_t>();
    if (!(s <= blocks_.end && e >= blocks_.start)) return Status::OK();
    static const nlohmann::json kNull;
    for (size_t c = 0; c < fields_.size(); ++c) {
      const auto& f = fields_[c];
      auto it = json.find(f->name());
      Status st = AppendFromJson(builders_[c].get(), *f->type(), it == json.end() ? kNull : *it);
      AMP_RETURN_NOT_OK(Decoded(st, where, *f));
    }
    return starts_.Append(s);
  }

  Result<std::shared_ptr<arrow::Table>> Finish() {
    arrow::ArrayVector arrays;
    for (auto& b : builders_) {
      AMP_ASSIGN_OR_RETURN(auto a, b->Finish());
      arrays.push_back(std::move(a));
    }
    AMP_ASSIGN_OR_RETURN(auto start_array, starts_.Finish());
    const int64_t rows = start_array->length();
    arrays.push_back(std::move(start_array));
    arrow::FieldVector fields = fields_;
    fields.push_back(arrow::field(kBlockStart, arrow::uint64(), false));
    return arrow::Table::Make(arrow::schema(fields), arrays, rows);
  }

 private:
  static Status Decoded(const Status& st, const std::string& where, const arrow::Field& f) {
    if (st.ok()) return st;
    return FatalError("[redis] " + where + ", column '" + f.name() +
                          "': cannot decode the stored value: " + st.message(),
                      "data");
  }

  const arrow::FieldVector fields_;
  const BinaryForm binary_;
  const BlockInterval blocks_;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders_;
  arrow::UInt64Builder starts_;
};

// Set, sorted_set and list rows: the index member holds the document itself.
Status ReadCollectionMembers(const SharedState& shared, const std::string& table,
                             const std::vector<std::string>& members, RowAssembler& rows) {
  for (const std::string& member : members) {
    auto element = SplitCollectionMember(member);
    if (!element) return FatalError("[redis] malformed index member in " + shared.keys.Index(table), "data");
    auto doc = nlohmann::json::parse(element->element, nullptr, false);
    if (doc.is_discarded()) return FatalError("[redis] unreadable row in " + element->key, "data");
    AMP_RETURN_NOT_OK(rows.AddDocument(doc, "a row of " + element->key));
  }
  return Status::OK();
}

// Hash, string and stream rows: one pipelined read per kReadChunk index members.
Status ReadKeyedMembers(RedisConnection& conn, Structure structure,
                        const std::vector<std::string>& members, const std::string& table,
                        const SharedState& shared, const std::string& context, RowAssembler& rows) {
  for (size_t base = 0; base < members.size(); base += kReadChunk) {
    const size_t m = std::min(kReadChunk, members.size() - base);
    std::string buf;
    for (size_t k = base; k < base + m; ++k) {
      const std::string& member = members[k];
      if (structure == Structure::kHash) {
        AppendCommand(&buf, {"HGETALL", member});
      } else if (structure == Structure::kString) {
        AppendCommand(&buf, {"GET", member});
      } else {
        auto entry = SplitCollectionMember(member);
        if (!entry) return FatalError("[redis] malformed index member in " + shared.keys.Index(table), "data");
        AppendCommand(&buf, {"XRANGE", entry->key, entry->element, entry->element});
      }
    }
    AMP_RETURN_NOT_OK(conn.AppendRaw(buf));
    for (size_t k = base; k < base + m; ++k) {
      AMP_ASSIGN_OR_RETURN(auto r, conn.ReadReply(context));
      if (IsError(*r)) return conn.ServerError(ReplyText(*r), context + ": " + members[k]);
      if (structure == Structure::kHash) {
        if (r->elements == 0) continue;  // expired (ttl) or deleted behind our back
        AMP_RETURN_NOT_OK(rows.AddFields(ReplyToMap(*r), "key '" + members[k] + "'"));
      } else if (structure == Structure::kString) {
        if (IsNil(*r)) continue;
        auto doc = nlohmann::json::parse(ReplyText(*r), nullptr, false);
        if (doc.is_discarded()) return FatalError("[redis] key '" + members[k] + "' is not JSON", "data");
        AMP_RETURN_NOT_OK(rows.AddDocument(doc, "key '" + members[k] + "'"));
      } else {
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) continue;
        const redisReply& entry = *r->element[0];
        if (entry.elements < 2) continue;
        AMP_RETURN_NOT_OK(rows.AddFields(ReplyToMap(*entry.element[1]), "stream entry " + members[k]));
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> ReadTableRows(SharedState& shared, const TableSpec& spec,
                                                    const BlockInterval& blocks) {
  if (spec.schema == nullptr) return FatalError("[redis] ReadRows of '" + spec.name + "': no schema");
  AMP_ASSIGN_OR_RETURN(auto conn, Connect(shared));
  const std::string context = "read table '" + spec.name + "'";
  AMP_ASSIGN_OR_RETURN(auto meta_reply, conn->Command({"HGETALL", shared.keys.Description(spec.name)}, context));
  auto meta = ReplyToMap(*meta_reply);
  if (meta.empty()) {
    return WithErrorInfo(Status::KeyError("[redis] table '", spec.name, "' does not exist at ",
                                          shared.Target()),
                         ErrorClass::kFatal, kErrorSource, "no_table");
  }
  const auto structure = StructureFromName(meta["data_structure"]);
  if (!structure) {
    return FatalError("[redis] table '" + spec.name + "' is stored as data_structure=" +
                          meta["data_structure"] + ", which this ampsync does not know",
                      "schema");
  }
  AMP_ASSIGN_OR_RETURN(const BinaryForm binary, BinaryFormOf(meta, spec.name));
  arrow::FieldVector fields;
  for (const auto& f : spec.schema->fields()) {
    if (f->name() != kBlockStart && f->name() != kBlockEnd) fields.push_back(f);
  }
  AMP_RETURN_NOT_OK(CheckStoredColumns(spec, fields, meta));

  // Index members whose last block is >= blocks.start (first blocks checked per row).
  AMP_ASSIGN_OR_RETURN(auto reply, conn->Command({"ZRANGEBYSCORE", shared.keys.Index(spec.name),
                                                  std::to_string(std::min(blocks.start, kExactScore)),
                                                  "+inf"},
                                                 context));
  std::vector<std::string> members;
  for (size_t i = 0; i < reply->elements; ++i) members.emplace_back(ReplyText(*reply->element[i]));
  RowAssembler rows(std::move(fields), binary, blocks);
  AMP_RETURN_NOT_OK(rows.Init());
  if (KeyPerRow(*structure) || *structure == Structure::kStream) {
    AMP_RETURN_NOT_OK(ReadKeyedMembers(*conn, *structure, members, spec.name, shared, context, rows));
  } else {
    AMP_RETURN_NOT_OK(ReadCollectionMembers(shared, spec.name, members, rows));
  }
  return rows.Finish();
}

}  // namespace amp::redis
