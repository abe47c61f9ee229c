// The SQL catalog the devnet plans against: the eth_firehose dataset of devnet/tables.h.
#pragma once

#include <memory>

#include <arrow/type.h>

#include "amp/status.h"
#include "devnet/sql/engine.h"

namespace amp::devnet::server {

/// Resolves `eth_firehose.<table>` to the table's full schema. Any other dataset, or an
/// unknown table, is a KeyError naming it (gRPC NOT_FOUND, as Amp's "table not found").
class DevnetCatalog final : public sql::Catalog {
 public:
  Result<std::shared_ptr<arrow::Schema>> TableSchema(const sql::TableRef& ref) const override;
};

}  // namespace amp::devnet::server
