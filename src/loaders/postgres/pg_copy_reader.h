// PostgreSQL binary COPY data -> Arrow: the exact inverse of pg_copy_writer.h, used by
// PostgresLoader::ReadRows (Loader::ReadRows, for `ampsync audit`) to read loaded rows back
// in the Arrow types they were loaded from.
//
// Each column is decoded by the (Arrow type, PgType) pair that MapArrowType() gives for it,
// so the inverse of every writer mapping is defined here:
//   boolean -> Boolean; smallint/integer/bigint -> the narrower or unsigned Arrow integer the
//     writer widened (range-checked); numeric -> UInt64 or Decimal32/64/128/256 (exact:
//     digits beyond the scale or beyond the width are an error, never rounded);
//   real -> Float or HalfFloat; double precision -> Double;
//   text -> String/LargeString/StringView (Null: only NULLs);
//   bytea -> Binary/LargeBinary/BinaryView/FixedSizeBinary (the width is checked);
//   timestamp[tz] -> Timestamp(unit[, tz]); date -> Date32/Date64; time -> Time32/Time64
//     (seconds and milliseconds must divide exactly);
//   one-dimensional arrays -> List/LargeList/FixedSizeList/ListView/LargeListView;
//   jsonb -> Struct / nested lists / lists of structs, parsed back from the JSON text the
//     writer produced (object keys by name, "0x" hex for binary, ISO 8601 for temporal
//     values, "NaN"/"Infinity" strings for non-finite floats).
// Not readable (CheckReadable() says NotImplemented, naming the reason): dictionary and
// extension types, and structs with two children of the same name (jsonb keeps one key).
// Lossy on write, so read back as what was stored: Timestamp/Time64 nanoseconds (stored as
// microseconds), Date64 milliseconds within a day (stored as a date), and -0.0 inside jsonb
// (read back as 0.0).
//
//   AMP_ASSIGN_OR_RETURN(auto decoder, CopyDecoder::Make(columns));
//   AMP_RETURN_NOT_OK(CopyOut(conn, "COPY (SELECT ...) TO STDOUT (FORMAT binary)", "read t",
//       [&](std::string_view chunk) { return decoder->Consume(chunk); }));
//   AMP_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Table> table, decoder->Finish());
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"
#include "loaders/postgres/pg_types.h"

namespace arrow {
class DataType;
class Field;
class Table;
}  // namespace arrow

namespace amp::postgres {

class PgConnection;

/// One field of each COPY row: the Arrow field it becomes and the column's PostgreSQL type
/// (as MapArrowType gives it; for `_amp_block_start`, bigint read into UInt64).
struct ReadColumn {
  std::shared_ptr<arrow::Field> field;
  PgType type;
};

/// OK when values of Arrow `type` stored as `pg` can be decoded back into `type`;
/// NotImplemented saying why otherwise (callers add the column name).
Status CheckReadable(const arrow::DataType& type, const PgType& pg);

/// \brief Incremental decoder of one binary COPY stream into an Arrow table.
///
/// Consume() accepts the stream split anywhere (libpq hands over one row per message,
/// but nothing relies on it). Errors (Invalid) name the column and the row: a malformed
/// stream, a field count or length that does not match, or a value the Arrow type cannot
/// hold exactly.
class CopyDecoder {
 public:
  static Result<std::unique_ptr<CopyDecoder>> Make(std::vector<ReadColumn> columns);
  ~CopyDecoder();
  CopyDecoder(const CopyDecoder&) = delete;
  CopyDecoder& operator=(const CopyDecoder&) = delete;

  Status Consume(std::string_view data);
  /// The rows decoded, once the trailer has been seen (Invalid if the stream is cut short).
  Result<std::shared_ptr<arrow::Table>> Finish();
  int64_t rows() const;

  class Impl;

 private:
  explicit CopyDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Runs `copy_sql` (a `COPY ... TO STDOUT`) and hands every chunk of data to `sink`. A sink
/// error cancels the statement, drains the connection and is returned as is; server errors
/// are classified as usual (pg_error.h) and name `context`.
Status CopyOut(PgConnection& conn, const std::string& copy_sql, std::string_view context,
               const std::function<Status(std::string_view)>& sink);

/// Loader::ReadRows for the table `spec.name` in `schema`: checks that the table exists and
/// that its columns have the types the mapping gives for spec.schema (kFatal otherwise,
/// naming the column), then reads the rows whose [_amp_block_start, _amp_block_end] span
/// intersects `blocks` with one binary COPY, bounds as integer literals.
Result<std::shared_ptr<arrow::Table>> ReadTableRows(PgConnection& conn,
                                                    const std::string& schema,
                                                    const TableSpec& spec,
                                                    const BlockInterval& blocks);

}  // namespace amp::postgres
