// Arrow <-> Delta Lake type mapping for the "delta" loader (docs/loaders/deltalake.md).
//
// Every Amp column is stored in a Delta-representable "storage" Arrow type (what goes into
// the Parquet files) and described in the table's schemaString with the matching Delta type:
//
//   Boolean -> boolean            Int8/16/32/64 -> byte/short/integer/long
//   UInt8 -> short  UInt16 -> integer  UInt32 -> long      (widened, lossless)
//   UInt64 -> decimal(20,0)       (lossless: every value, readers get exact integers)
//   Float16/32 -> float  Float64 -> double
//   Decimal128(p,s) -> decimal(p,s); Decimal256(p<=38,s) -> decimal(p,s);
//   Decimal256(p>38,s) -> string  (decimal text; Delta decimals stop at 38 digits)
//   Utf8/LargeUtf8/Utf8View -> string   Binary/LargeBinary/BinaryView/FixedSizeBinary -> binary
//   Date32/Date64 -> date (Date64 floored to days)
//   Timestamp(any unit, tz or not) -> timestamp (microseconds, UTC; finer units floored)
//   Time32/Time64/Duration -> long (the raw count in the original unit)
//   List/LargeList/FixedSizeList -> array   Struct -> struct   Map -> map
//   Dictionary(value) -> the value's mapping
//
// FromStorage() inverts the mapping into the query's Arrow type (exact except the
// documented timestamp/date flooring), which is how ReadRows() hands rows back.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "amp/status.h"

namespace arrow {
class MemoryPool;
class Array;
class DataType;
class Field;
class Schema;
}  // namespace arrow

namespace amp::delta {

/// The memory pool the delta loader allocates from: jemalloc when Arrow has it (the
/// writer allocates and frees large buffers per file; mimalloc, Arrow's usual default,
/// returns them to the kernel eagerly and pays for zeroed pages again on every file,
/// which doubled the write time in bench/delta_load_bench.py), else the default pool.
/// AMP_DELTA_MEMORY_POOL=default forces Arrow's default pool.
arrow::MemoryPool* DeltaMemoryPool();

/// The storage type of `type`; NotImplemented (naming the type) when Delta cannot hold it.
Result<std::shared_ptr<arrow::DataType>> StorageType(const std::shared_ptr<arrow::DataType>& type);

/// The storage schema of `schema` (fields keep names and nullability).
Result<std::shared_ptr<arrow::Schema>> StorageSchema(const arrow::Schema& schema);

/// The Delta type JSON of a storage type ("long", {"type":"array",...}).
Result<nlohmann::json> DeltaTypeJson(const arrow::DataType& storage_type);

/// A Delta StructField for `field` (a storage-typed field): name, type, nullable, and
/// metadata {"amp.arrow_type": original} when `original_type` is given.
Result<nlohmann::json> DeltaFieldJson(const arrow::Field& storage_field,
                                      const std::string& original_type = "");

/// The storage Arrow type of a Delta type JSON (the inverse of DeltaTypeJson).
Result<std::shared_ptr<arrow::DataType>> TypeFromDeltaJson(const nlohmann::json& type);

/// Converts `array` (of any mapped type) to `storage_type` (= StorageType(array.type())).
Result<std::shared_ptr<arrow::Array>> ToStorage(const std::shared_ptr<arrow::Array>& array,
                                                const std::shared_ptr<arrow::DataType>& storage_type);

/// Converts a storage array back to the query's `type`.
Result<std::shared_ptr<arrow::Array>> FromStorage(const std::shared_ptr<arrow::Array>& array,
                                                  const std::shared_ptr<arrow::DataType>& type);

}  // namespace amp::delta
