// The checks every destination makes on a TableSpec before it touches the store, with
// what differs per store (its name rules, which types may hold block numbers) as data.
//
//   static const StoreLimits kLimits{.destination = "redis", .names = &RedisNameRules()};
//   AMP_RETURN_NOT_OK(ValidateTableSpec(spec, kLimits));
//
// Errors are kFatal (source `destination`, code "spec"): "[DEST] table 'NAME': WHY".
#pragma once

#include <arrow/type_fwd.h>

#include <memory>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"
#include "loaders/common/names.h"

namespace amp::loaders {

struct StoreLimits {
  /// In messages and ErrorInfo: "postgres", "redis", "memory".
  std::string destination;
  /// The store's name rules (CheckNames first); null: names are not checked here.
  const NameRules* names = nullptr;
  /// Types a TableSpec::block_column may have.
  std::vector<arrow::Type::type> block_column_types = {arrow::Type::UINT64};
};

/// The integer types a store that casts block numbers itself accepts:
/// UInt64, Int64, UInt32, Int32.
const std::vector<arrow::Type::type>& IntegerBlockTypes();

/// Names (when limits.names), a schema, the block column (present, of an allowed type),
/// and for kUpsert non-empty, existing, distinct key columns.
Status ValidateTableSpec(const TableSpec& spec, const StoreLimits& limits);

/// The error ValidateTableSpec returns, for a store's own further checks.
Status TableSpecError(const StoreLimits& limits, const TableSpec& spec, const std::string& why);

}  // namespace amp::loaders
