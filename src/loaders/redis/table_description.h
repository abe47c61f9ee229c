// A table's description, `amp:table:<t>` (a hash): its columns and their Arrow types, the
// data structure and key pattern it was created with, the `format` of its binary fields,
// a random `id` (so a checkpoint can tell its table from a dropped and recreated one) and
// the `rows` flag (whether it held rows after our last commit to it). EnsureTable creates
// it or checks the query against it; ReadRows checks the requested columns against it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "loaders/redis/shared_state.h"

namespace amp::redis {

/// The table `spec` asks for under the loader's settings (names, types, block column,
/// upsert keys, key pattern, score column), with no I/O. Errors: kFatal naming the table.
Result<std::shared_ptr<TableInfo>> TableFromSpec(const SharedState& shared, const TableSpec& spec);

/// Reads the table's description, checking the query against it (nothing is changed when
/// they differ), or creates it; fills info.binary and info.id.
Status ReadOrCreateDescription(SharedState& shared, RedisConnection& conn, TableInfo& info);

/// How the table's hash/stream fields encode binaries. Tables created before format 2 (no
/// field, or "1") keep hex, so a table never mixes the two.
Result<BinaryForm> BinaryFormOf(const std::map<std::string, std::string>& description,
                                const std::string& table);

/// Column name -> Arrow type text, as stored; nullopt when the field is missing or
/// unreadable.
std::optional<std::map<std::string, std::string>> StoredColumnTypes(
    const std::map<std::string, std::string>& description);

}  // namespace amp::redis
