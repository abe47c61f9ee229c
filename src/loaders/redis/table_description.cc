#include "loaders/redis/table_description.h"

#include <arrow/api.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "loaders/common/names.h"
#include "loaders/common/table_spec.h"
#include "loaders/redis/key_layout.h"

namespace amp::redis {
namespace {

constexpr const char* kCurrentFormat = "2";

const loaders::StoreLimits& Limits() {
  static const loaders::StoreLimits kLimits{.destination = "redis",
                                            .names = &loaders::RedisNameRules(),
                                            .block_column_types = loaders::IntegerBlockTypes()};
  return kLimits;
}

std::string NewTableId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

// [{"name":..,"type":..}, ...]
std::string ColumnsJson(const arrow::Schema& schema) {
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& f : schema.fields()) {
    cols.push_back({{"name", f->name()}, {"type", f->type()->ToString()}});
  }
  return cols.dump();
}

Status IncompatibleTable(const SharedState& shared, const std::string& table, const std::string& why) {
  return FatalError("[redis] table '" + table + "' at " + shared.Target() +
                        " exists and is incompatible with the query: " + why +
                        "; nothing was changed",
                    "schema");
}

// Compares the stored description with `spec`; an error names the first differing column.
Status CheckExisting(const SharedState& shared, const TableSpec& spec,
                     const std::map<std::string, std::string>& meta, Structure structure) {
  auto it = meta.find("data_structure");
  if (it != meta.end() && it->second != StructureName(structure)) {
    return IncompatibleTable(shared, spec.name,
                             "it is stored as data_structure=" + it->second +
                                 ", the loader is configured for " + StructureName(structure));
  }
  if (meta.find("columns") == meta.end()) {
    return IncompatibleTable(shared, spec.name, "its description has no columns");
  }
  auto parsed = StoredColumnTypes(meta);
  if (!parsed) return IncompatibleTable(shared, spec.name, "its description is unreadable");
  const std::map<std::string, std::string>& stored = *parsed;
  std::set<std::string> seen;
  for (const auto& f : spec.schema->fields()) {
    seen.insert(f->name());
    auto s = stored.find(f->name());
    if (s == stored.end()) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + f->name() + "' (" + f->type()->ToString() +
                                   ") is not in the existing table");
    }
    if (s->second != f->type()->ToString()) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + f->name() + "' is stored as " + s->second +
                                   ", the query has " + f->type()->ToString());
    }
  }
  for (const auto& [name, type] : stored) {
    if (!seen.count(name)) {
      return IncompatibleTable(shared, spec.name,
                               "column '" + name + "' (" + type + ") of the existing table is "
                               "not produced by the query");
    }
  }
  return Status::OK();
}

// The key pattern of the table, checked against the mode (upserts need keys made of
// their key columns).
Result<KeyPattern> TablePattern(const Settings& settings, const TableSpec& spec) {
  auto fatal = [&](const std::string& why) { return loaders::TableSpecError(Limits(), spec, why); };
  const std::string pattern =
      settings.key_pattern.empty() ? DefaultKeyPattern(settings.structure, spec) : settings.key_pattern;
  auto parsed = KeyPattern::Parse(pattern, *spec.schema, spec.name);
  if (!parsed.ok()) return fatal(parsed.status().message());
  if (spec.mode == LoadMode::kUpsert) {
    for (const auto& k : spec.key_columns) {
      if (!parsed->UsesColumn(k)) {
        return fatal("key_pattern '" + pattern + "' must contain every upsert key column; {" + k +
                     "} is missing");
      }
    }
    if (parsed->Uses(KeyPattern::Source::kSeq)) {
      return fatal("key_pattern '" + pattern + "' uses {_amp_seq}, which never repeats: upserts "
                   "need a key made of the key columns");
    }
  }
  return std::move(*parsed);
}

// What every store checks (loaders/common/table_spec.h: names, schema, block column,
// upsert keys), then what Redis adds: storable types, upserts only where a row has a key
// of its own, the key pattern, the score column.
Status ValidateSpec(const Settings& settings, const TableSpec& spec, TableInfo* info) {
  AMP_RETURN_NOT_OK(loaders::ValidateTableSpec(spec, Limits()));
  auto fatal = [&](const std::string& why) { return loaders::TableSpecError(Limits(), spec, why); };
  for (const auto& f : spec.schema->fields()) {
    Status st = CheckSupportedType(*f->type());
    if (!st.ok()) return fatal("column '" + f->name() + "': " + st.message());
  }
  info->structure = settings.structure;
  if (spec.mode == LoadMode::kUpsert && !KeyPerRow(settings.structure)) {
    return fatal(std::string("mode upsert needs data_structure hash or string (rows of a ") +
                 StructureName(settings.structure) + " have no key of their own)");
  }
  AMP_ASSIGN_OR_RETURN(info->pattern, TablePattern(settings, spec));
  if (settings.structure == Structure::kSortedSet && !settings.score_column.empty()) {
    const int i = spec.schema->GetFieldIndex(settings.score_column);
    if (i < 0) return fatal("score_column '" + settings.score_column + "' is not a column");
    const auto& t = *spec.schema->field(i)->type();
    if (!arrow::is_integer(t.id()) && !arrow::is_floating(t.id())) {
      return fatal("score_column '" + settings.score_column + "' has type " + t.ToString() +
                   ", expected an integer or floating-point column");
    }
    info->score_column = i;
  }
  return Status::OK();
}

Status CreateDescription(SharedState& shared, RedisConnection& conn, TableInfo& info) {
  const TableSpec& spec = info.spec;
  info.binary = BinaryForm::kRaw;
  info.id = NewTableId();
  std::string buf;
  AppendCommand(&buf, {"MULTI"});
  AppendCommand(&buf, {"HSET", info.meta, "columns", ColumnsJson(*spec.schema), "data_structure",
                       StructureName(info.structure), "key_pattern", info.pattern.text(),
                       "block_column", spec.block_column, "format", kCurrentFormat, "id", info.id});
  AppendCommand(&buf, {"SADD", shared.keys.Tables(), spec.name});
  AppendCommand(&buf, {"EXEC"});
  AMP_RETURN_NOT_OK(conn.AppendRaw(buf));
  for (int i = 0; i < 4; ++i) {
    AMP_ASSIGN_OR_RETURN(auto r, conn.ReadReply("create table '" + spec.name + "'"));
    if (IsError(*r)) return conn.ServerError(ReplyText(*r), "create table '" + spec.name + "'");
  }
  return Status::OK();
}

Status AdoptDescription(const SharedState& shared, RedisConnection& conn,
                        const std::map<std::string, std::string>& meta, TableInfo& info) {
  const TableSpec& spec = info.spec;
  AMP_RETURN_NOT_OK(CheckExisting(shared, spec, meta, info.structure));
  AMP_ASSIGN_OR_RETURN(info.binary, BinaryFormOf(meta, spec.name));
  if (auto it = meta.find("id"); it != meta.end()) {
    info.id = it->second;
    return Status::OK();
  }
  // A table created by a release that did not give tables an id: give it one now
  // (HSETNX: a concurrent EnsureTable may have just done so; read back the winner).
  const std::string context = "give table '" + spec.name + "' an id";
  AMP_RETURN_NOT_OK(conn.Command({"HSETNX", info.meta, "id", NewTableId()}, context).status());
  AMP_ASSIGN_OR_RETURN(auto id, conn.Command({"HGET", info.meta, "id"}, context));
  info.id = std::string(ReplyText(*id));
  return Status::OK();
}

}  // namespace

Result<BinaryForm> BinaryFormOf(const std::map<std::string, std::string>& description,
                                const std::string& table) {
  auto it = description.find("format");
  if (it == description.end() || it->second == "1") return BinaryForm::kHex;
  if (it->second == "2") return BinaryForm::kRaw;
  return FatalError("[redis] table '" + table + "' has description format " + it->second +
                        ", which this ampsync does not know (it reads formats 1 and 2)",
                    "schema");
}

std::optional<std::map<std::string, std::string>> StoredColumnTypes(
    const std::map<std::string, std::string>& description) {
  auto it = description.find("columns");
  if (it == description.end()) return std::nullopt;
  auto cols = nlohmann::json::parse(it->second, nullptr, false);
  if (cols.is_discarded() || !cols.is_array()) return std::nullopt;
  std::map<std::string, std::string> stored;
  for (const auto& c : cols) {
    if (!c.is_object() || !c.contains("name") || !c.contains("type")) continue;
    stored[c["name"].get<std::string>()] = c["type"].get<std::string>();
  }
  return stored;
}

Result<std::shared_ptr<TableInfo>> TableFromSpec(const SharedState& shared, const TableSpec& spec) {
  auto info = std::make_shared<TableInfo>();
  info->spec = spec;
  AMP_RETURN_NOT_OK(ValidateSpec(shared.settings, spec, info.get()));
  info->meta = shared.keys.Description(spec.name);
  info->idx = shared.keys.Index(spec.name);
  info->idxs = shared.keys.IndexStarts(spec.name);
  info->seq = shared.keys.Seq(spec.name);
  info->streams_of_table = shared.keys.TableStreams(spec.name);
  return info;
}

Status ReadOrCreateDescription(SharedState& shared, RedisConnection& conn, TableInfo& info) {
  AMP_ASSIGN_OR_RETURN(auto reply, conn.Command({"HGETALL", info.meta},
                                                "read the description of table '" + info.spec.name + "'"));
  const auto meta = ReplyToMap(*reply);
  if (meta.empty()) return CreateDescription(shared, conn, info);
  return AdoptDescription(shared, conn, meta, info);
}

}  // namespace amp::redis
