#include "loaders/common/table_spec.h"

#include <arrow/type.h>

#include <algorithm>
#include <set>

namespace amp::loaders {
namespace {

// Arrow's own names of type ids are upper case ("UINT64"); messages use the C++ spelling.
std::string TypeIdName(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::UINT64: return "UInt64";
    case arrow::Type::INT64: return "Int64";
    case arrow::Type::UINT32: return "UInt32";
    case arrow::Type::INT32: return "Int32";
    default: return arrow::internal::ToString(id);
  }
}

std::string TypeList(const std::vector<arrow::Type::type>& types) {
  std::string out;
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string name = TypeIdName(types[i]);
    out += i == 0 ? name : (i == 1 ? " (or " : "/") + name;
  }
  if (types.size() > 1) out += ")";
  return out;
}

}  // namespace

const std::vector<arrow::Type::type>& IntegerBlockTypes() {
  static const std::vector<arrow::Type::type> kTypes = {arrow::Type::UINT64, arrow::Type::INT64,
                                                        arrow::Type::UINT32, arrow::Type::INT32};
  return kTypes;
}

Status TableSpecError(const StoreLimits& limits, const TableSpec& spec, const std::string& why) {
  return WithErrorInfo(Status::Invalid("[", limits.destination, "] table '", spec.name, "': ", why),
                       ErrorClass::kFatal, limits.destination, "spec");
}

Status ValidateTableSpec(const TableSpec& spec, const StoreLimits& limits) {
  if (limits.names != nullptr) AMP_RETURN_NOT_OK(CheckNames(*limits.names, spec));
  auto fail = [&](const std::string& why) { return TableSpecError(limits, spec, why); };
  if (spec.schema == nullptr) return fail("no schema");
  if (!spec.block_column.empty()) {
    auto field = spec.schema->GetFieldByName(spec.block_column);
    if (field == nullptr) return fail("block column '" + spec.block_column + "' is not a column");
    const auto& allowed = limits.block_column_types;
    if (std::find(allowed.begin(), allowed.end(), field->type()->id()) == allowed.end()) {
      return fail("block column '" + spec.block_column + "' has type " + field->type()->ToString() +
                  ", expected " + TypeList(allowed));
    }
  }
  if (spec.mode == LoadMode::kUpsert) {
    if (spec.key_columns.empty()) return fail("mode upsert needs key_columns");
    std::set<std::string> keys;
    for (const auto& key : spec.key_columns) {
      if (spec.schema->GetFieldByName(key) == nullptr) {
        return fail("key column '" + key + "' is not a column");
      }
      if (!keys.insert(key).second) return fail("duplicate key column '" + key + "'");
    }
  }
  return Status::OK();
}

}  // namespace amp::loaders
