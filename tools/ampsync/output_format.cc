#include "output_format.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>
#include <nlohmann/json.hpp>

namespace amp::cli {
namespace {

std::string Hex(const uint8_t* data, int64_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out.reserve(2 + 2 * size);
  for (int64_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::string JsonString(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

std::string FormatTimestamp(int64_t value, arrow::TimeUnit::type unit) {
  int64_t per_second = 1;
  switch (unit) {
    case arrow::TimeUnit::SECOND: per_second = 1; break;
    case arrow::TimeUnit::MILLI: per_second = 1'000; break;
    case arrow::TimeUnit::MICRO: per_second = 1'000'000; break;
    case arrow::TimeUnit::NANO: per_second = 1'000'000'000; break;
  }
  int64_t seconds = value / per_second;
  int64_t fraction = value % per_second;
  if (fraction < 0) {
    fraction += per_second;
    seconds -= 1;
  }
  std::chrono::sys_seconds tp{std::chrono::seconds(seconds)};
  auto days = std::chrono::floor<std::chrono::days>(tp);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{tp - days};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02ld:%02ld:%02ld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long>(hms.seconds().count()));
  std::string out = buf;
  if (fraction != 0) {
    int digits = per_second == 1'000 ? 3 : per_second == 1'000'000 ? 6 : 9;
    std::snprintf(buf, sizeof(buf), ".%0*ld", digits, static_cast<long>(fraction));
    out += buf;
  }
  return out + "Z";
}

// Renders a value; `json` selects JSON syntax (quoted strings, null) over plain text.
std::string Format(const arrow::Array& array, int64_t row, bool json) {
  if (array.IsNull(row)) return json ? "null" : "NULL";
  using arrow::Type;
  switch (array.type_id()) {
    case Type::BOOL:
      return static_cast<const arrow::BooleanArray&>(array).Value(row) ? "true" : "false";
#define AMP_INT_CASE(TYPE_ID, ARRAY) \
  case Type::TYPE_ID:                \
    return std::to_string(static_cast<const arrow::ARRAY&>(array).Value(row));
      AMP_INT_CASE(INT8, Int8Array)
      AMP_INT_CASE(INT16, Int16Array)
      AMP_INT_CASE(INT32, Int32Array)
      AMP_INT_CASE(INT64, Int64Array)
      AMP_INT_CASE(UINT8, UInt8Array)
      AMP_INT_CASE(UINT16, UInt16Array)
      AMP_INT_CASE(UINT32, UInt32Array)
      AMP_INT_CASE(UINT64, UInt64Array)
#undef AMP_INT_CASE
    case Type::FLOAT:
    case Type::DOUBLE:
    case Type::HALF_FLOAT: {
      auto scalar = array.GetScalar(row);
      return scalar.ok() ? (*scalar)->ToString() : "?";
    }
    case Type::DECIMAL128: {
      const auto& dec = static_cast<const arrow::Decimal128Array&>(array);
      auto type = std::static_pointer_cast<arrow::Decimal128Type>(array.type());
      return arrow::Decimal128(dec.GetValue(row)).ToString(type->scale());
    }
    case Type::DECIMAL256: {
      const auto& dec = static_cast<const arrow::Decimal256Array&>(array);
      auto type = std::static_pointer_cast<arrow::Decimal256Type>(array.type());
      return arrow::Decimal256(dec.GetValue(row)).ToString(type->scale());
    }
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: {
      std::string_view v = array.type_id() == Type::STRING
                               ? static_cast<const arrow::StringArray&>(array).GetView(row)
                           : array.type_id() == Type::LARGE_STRING
                               ? static_cast<const arrow::LargeStringArray&>(array).GetView(row)
                               : static_cast<const arrow::StringViewArray&>(array).GetView(row);
      return json ? JsonString(v) : std::string(v);
    }
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: {
      std::string_view v =
          array.type_id() == Type::BINARY ? static_cast<const arrow::BinaryArray&>(array).GetView(row)
          : array.type_id() == Type::LARGE_BINARY
              ? static_cast<const arrow::LargeBinaryArray&>(array).GetView(row)
          : array.type_id() == Type::BINARY_VIEW
              ? static_cast<const arrow::BinaryViewArray&>(array).GetView(row)
              : static_cast<const arrow::FixedSizeBinaryArray&>(array).GetView(row);
      std::string hex = Hex(reinterpret_cast<const uint8_t*>(v.data()), static_cast<int64_t>(v.size()));
      return json ? "\"" + hex + "\"" : hex;
    }
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampArray&>(array);
      auto type = std::static_pointer_cast<arrow::TimestampType>(array.type());
      std::string text = FormatTimestamp(ts.Value(row), type->unit());
      return json ? "\"" + text + "\"" : text;
    }
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW: {
      const auto& list = static_cast<const arrow::BaseListArray<arrow::ListType>&>(array);
      std::shared_ptr<arrow::Array> values;
      int64_t offset = 0, length = 0;
      if (array.type_id() == Type::LIST) {
        values = list.values();
        offset = list.value_offset(row);
        length = list.value_length(row);
      } else if (array.type_id() == Type::LARGE_LIST) {
        const auto& l = static_cast<const arrow::LargeListArray&>(array);
        values = l.values();
        offset = l.value_offset(row);
        length = l.value_length(row);
      } else if (array.type_id() == Type::FIXED_SIZE_LIST) {
        const auto& l = static_cast<const arrow::FixedSizeListArray&>(array);
        values = l.values();
        offset = l.value_offset(row);
        length = l.value_length(row);
      } else {
        const auto& l = static_cast<const arrow::ListViewArray&>(array);
        values = l.values();
        offset = l.value_offset(row);
        length = l.value_length(row);
      }
      std::string out = "[";
      for (int64_t i = 0; i < length; ++i) {
        if (i) out += ",";
        out += Format(*values, offset + i, /*json=*/true);
      }
      return out + "]";
    }
    case Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(array);
      std::string out = "{";
      for (int i = 0; i < st.num_fields(); ++i) {
        if (i) out += ",";
        out += JsonString(st.type()->field(i)->name()) + ":" + Format(*st.field(i), row, true);
      }
      return out + "}";
    }
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      return Format(*dict.dictionary(), dict.GetValueIndex(row), json);
    }
    default: {
      auto scalar = array.GetScalar(row);
      std::string text = scalar.ok() ? (*scalar)->ToString() : "?";
      return json ? JsonString(text) : text;
    }
  }
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "csv") return OutputFormat::kCsv;
  if (name == "jsonl" || name == "json") return OutputFormat::kJsonl;
  return Status::Invalid("unknown output format '", name, "' (valid: table, csv, jsonl)");
}

std::string FormatValueText(const arrow::Array& array, int64_t row) { return Format(array, row, false); }
std::string FormatValueJson(const arrow::Array& array, int64_t row) { return Format(array, row, true); }

BatchPrinter::BatchPrinter(std::ostream& out, OutputFormat format, std::shared_ptr<arrow::Schema> schema,
                           size_t table_max_rows)
    : out_(out), format_(format), schema_(std::move(schema)), table_max_rows_(table_max_rows) {}

Status BatchPrinter::Print(const arrow::RecordBatch& batch) {
  const int ncols = batch.num_columns();
  switch (format_) {
    case OutputFormat::kCsv:
      if (!header_done_) {
        for (int c = 0; c < ncols; ++c) out_ << (c ? "," : "") << CsvField(batch.schema()->field(c)->name());
        out_ << "\n";
        header_done_ = true;
      }
      for (int64_t r = 0; r < batch.num_rows(); ++r) {
        for (int c = 0; c < ncols; ++c) {
          const auto& col = *batch.column(c);
          out_ << (c ? "," : "") << (col.IsNull(r) ? "" : CsvField(FormatValueText(col, r)));
        }
        out_ << "\n";
      }
      break;
    case OutputFormat::kJsonl:
      for (int64_t r = 0; r < batch.num_rows(); ++r) {
        out_ << "{";
        for (int c = 0; c < ncols; ++c) {
          out_ << (c ? "," : "") << JsonString(batch.schema()->field(c)->name()) << ":"
               << FormatValueJson(*batch.column(c), r);
        }
        out_ << "}\n";
      }
      break;
    case OutputFormat::kTable:
      for (int64_t r = 0; r < batch.num_rows(); ++r) {
        std::vector<std::string> row;
        row.reserve(ncols);
        for (int c = 0; c < ncols; ++c) row.push_back(FormatValueText(*batch.column(c), r));
        pending_.push_back(std::move(row));
        if (pending_.size() >= table_max_rows_) PrintTable();
      }
      break;
  }
  return Status::OK();
}

void BatchPrinter::Flush() {
  if (format_ == OutputFormat::kTable && (!pending_.empty() || !header_done_)) PrintTable();
  out_.flush();
}

void BatchPrinter::PrintTable() {
  const int ncols = schema_->num_fields();
  constexpr size_t kMaxWidth = 68;  // a 32-byte hash is 66 characters
  if (widths_.empty()) {
    // Column widths are fixed by the first rows so that later flushes of a never-ending
    // stream stay aligned with the header.
    widths_.resize(ncols);
    for (int c = 0; c < ncols; ++c) widths_[c] = schema_->field(c)->name().size();
    for (const auto& row : pending_) {
      for (int c = 0; c < ncols; ++c) widths_[c] = std::max(widths_[c], std::min(row[c].size(), kMaxWidth));
    }
  }
  auto cell = [&](const std::string& text, size_t w) {
    if (text.size() > w) {
      out_ << " " << text.substr(0, w - 1) << "…" << " |";
    } else {
      out_ << " " << text << std::string(w - text.size(), ' ') << " |";
    }
  };
  if (!header_done_) {
    out_ << "|";
    for (int c = 0; c < ncols; ++c) cell(schema_->field(c)->name(), widths_[c]);
    out_ << "\n|";
    for (int c = 0; c < ncols; ++c) out_ << std::string(widths_[c] + 2, '-') << "|";
    out_ << "\n";
    header_done_ = true;
  }
  for (const auto& row : pending_) {
    out_ << "|";
    for (int c = 0; c < ncols; ++c) cell(row[c], widths_[c]);
    out_ << "\n";
  }
  pending_.clear();
}

}  // namespace amp::cli
