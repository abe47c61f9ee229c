#include "devnet/server/catalog.h"

#include "devnet/tables.h"

namespace amp::devnet::server {

Result<std::shared_ptr<arrow::Schema>> DevnetCatalog::TableSchema(
    const sql::TableRef& ref) const {
  if (ref.dataset != kDatasetName) {
    return Status::KeyError("dataset '", ref.dataset, "' not found (table '", ref.dataset, ".",
                            ref.table, "'); the devnet serves only '", kDatasetName, "'");
  }
  auto table = TableFromName(ref.table);
  if (!table.ok()) {
    return Status::KeyError("table '", ref.dataset, ".", ref.table,
                            "' not found: ", table.status().message());
  }
  return devnet::TableSchema(*table);
}

}  // namespace amp::devnet::server
