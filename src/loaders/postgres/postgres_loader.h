// The "postgresql" loader: loads query results into PostgreSQL tables through libpq
// binary COPY, with reorg undo, upserts and the resume checkpoint committed in the same
// transaction as the rows (exactly-once). User documentation: docs/loaders/postgresql.md.
//
//   LoaderRegistry registry;
//   RegisterPostgresLoader(registry);
//   AMP_ASSIGN_OR_RETURN(auto loader, registry.Create("postgresql",
//       {{"uri", "postgresql://amp@127.0.0.1:5432/chain"}, {"password", "env:PGPASS"}}));
//
// Design in brief (details in the .cc and the doc):
//  * A pool of at most `max_connections` libpq connections; each session holds one for its
//    lifetime and swaps it for a fresh one at Begin() when it broke (server restart,
//    terminated backend), so the engine's retry survives a PostgreSQL restart.
//  * EnsureTable creates `<schema>.<table>` from the Arrow schema (pg_types.h mapping) plus
//    `_amp_block_start`/`_amp_block_end` bigint columns and an index on
//    (_amp_block_end, _amp_block_start), or verifies an existing table and changes nothing
//    when it is incompatible. It also creates `<schema>.amp_client_state`.
//  * A unit is one transaction: BEGIN; DELETE ... by block span (Undo); COPY BINARY
//    (Append; upsert: COPY into a temp table, then INSERT ... ON CONFLICT DO UPDATE);
//    INSERT ... ON CONFLICT into amp_client_state (Commit); COMMIT.
//  * ReadRows (for `ampsync audit`): one `COPY (SELECT ...) TO STDOUT (FORMAT binary)` of
//    the rows whose block span intersects the interval, decoded back into the query's
//    Arrow types by pg_copy_reader.h (the inverse of the writer's mapping).
#pragma once

#include <memory>
#include <vector>

#include "amp/loader.h"

namespace amp {

/// Registers the "postgresql" loader (options: postgres::PostgresOptions()).
void RegisterPostgresLoader(LoaderRegistry& registry);

namespace postgres {

/// The loader's documented options (uri, host, port, database, user, password, schema,
/// max_connections, connect_timeout, pool_timeout, sslmode, application_name).
std::vector<OptionSpec> PostgresOptions();

/// The factory behind the registry entry. Expects a config validated by the registry
/// (unknown keys rejected, "env:VAR" secrets resolved there: loaders/common/secrets.h);
/// fills missing defaults itself. Does no I/O: connection errors surface at the first
/// EnsureTable, Truncate or OpenSession. Errors: kFatal Invalid for bad values.
Result<std::unique_ptr<Loader>> MakePostgresLoader(const LoaderConfig& config);

/// The registry's from_uri for the "postgresql"/"postgres" schemes: the whole URI goes to
/// libpq as option `uri`, except the loader's own query parameters (schema,
/// max_connections, pool_timeout), which become options.
///   "postgresql://u@h/db?sslmode=require&schema=chain"
///     -> {uri: "postgresql://u@h/db?sslmode=require", schema: "chain"}
Result<LoaderConfig> ConfigFromUri(const std::string& uri);

}  // namespace postgres
}  // namespace amp
