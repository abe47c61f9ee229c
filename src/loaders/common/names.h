// The one rule for destination names (table names and column names), per destination.
//
// Every loader checks a TableSpec against its destination's NameRules at the start of
// EnsureTable(), before it connects or writes anything, so a name the store (or the tools
// people read it with) cannot take never gets as far as a half-created table. What every
// destination refuses:
//   - an empty name, text that is not valid UTF-8, and control characters (U+0000-U+001F,
//     U+007F-U+009F): they break directory listings, log lines, psql/redis-cli output and
//     the deltalake package;
//   - the columns the loaders add themselves (`_amp_block_start`, `_amp_block_end`) and
//     duplicate column names.
// Then each destination adds what its store or its common readers cannot take (length
// limits, characters, reserved names); docs/loaders/*.md lists them.
//
// Errors are kFatal ("loader", "BAD_NAME"): the CLI exits 3, like any other destination
// problem a retry cannot fix. They name the destination, the name (control characters
// shown escaped) and the rule it breaks.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::loaders {

struct NameRules {
  std::string destination;  ///< In messages: "postgresql", "redis", "delta".
  /// Longest table / column name in bytes (0: no limit of ours).
  size_t max_table_bytes = 0;
  size_t max_column_bytes = 0;
  /// Why the limit exists, appended to the message ("PostgreSQL truncates identifiers").
  std::string length_reason;
  /// Characters (ASCII) a table name / a column name may not contain, and why.
  std::string table_forbidden_chars;
  std::string table_forbidden_reason;
  std::string column_forbidden_chars;
  std::string column_forbidden_reason;
  /// Characters a table name may not start with, and why.
  std::string table_forbidden_first;
  std::string table_forbidden_first_reason;
  /// Names taken by the loader itself.
  std::vector<std::string> reserved_tables;
  std::vector<std::string> reserved_columns;
  /// Column names must also differ ignoring ASCII case (Delta Lake resolves them so).
  bool columns_case_insensitive = false;
};

/// The rules of the built-in destinations.
const NameRules& PostgresNameRules();
const NameRules& RedisNameRules();
const NameRules& DeltaNameRules();
/// The memory loader keeps Arrow batches: only the rules every destination shares.
const NameRules& MemoryNameRules();

/// OK, or a kFatal Invalid naming the bad table name and the rule.
Status CheckTableName(const NameRules& rules, const std::string& table);
/// The query's columns, as the destination would store them, in order.
Status CheckColumnNames(const NameRules& rules, const std::string& table,
                        const std::vector<std::string>& columns);
/// Table name, then column names of spec.schema (a null schema is left to the loader).
Status CheckNames(const NameRules& rules, const TableSpec& spec);

/// `name` quoted for a message: control and non-UTF-8 bytes escaped (\n, \t, \xNN), at
/// most ~80 bytes of it shown, with the full length when cut.
std::string ShowName(const std::string& name);

}  // namespace amp::loaders
