#include "devnet/server/catalog.h"

#include "devnet/tables.h"

namespace amp::devnet::server {

Result<std::shared_ptr<arrow::Schema>> DevnetCatalog::TableSchema(
    const sql::TableRef& ref) const {
  // ampd's shape ("table '<ref>' not found"), then what the devnet has instead.
  if (ref.dataset != kDatasetName) {
    return Status::KeyError("dataset '", ref.dataset, "' not found (table '", ref.dataset, ".",
                            ref.table, "'); the devnet serves only '", kDatasetName, "'");
  }
  auto table = TableFromName(ref.table);
  if (!table.ok()) {
    return Status::KeyError("table '", ref.dataset, ".", ref.table,
                            "' not found (known tables: blocks, transactions, logs, calls)");
  }
  return devnet::TableSchema(*table);
}

}  // namespace amp::devnet::server
