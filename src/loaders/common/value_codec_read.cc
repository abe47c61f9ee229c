// The reading half of value_codec.h: JSON text -> JsonValue (nlohmann's SAX parser, which
// hands over each number's text) -> Arrow builders.
#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/type.h>
#include <arrow/util/float16.h>

#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "loaders/common/value_codec.h"
#include "loaders/common/value_codec_internal.h"

namespace amp::loaders {
namespace {

using arrow::Type;
using internal::AppendInteger;
using internal::IsDigit;
using internal::Parsed;
using internal::ParseWhole;

}  // namespace

namespace {

class JsonValueBuilder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonValueBuilder(JsonValue* root) : root_(root) {}

  bool null() override { return Scalar(JsonValue::Kind::kNull); }
  bool boolean(bool v) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kBool;
    value->boolean = v;
    return true;
  }
  bool number_integer(number_integer_t v) override { return Number(v); }
  bool number_unsigned(number_unsigned_t v) override { return Number(v); }
  bool number_float(number_float_t, const string_t& text) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kNumber;
    value->text = text;
    return true;
  }
  bool string(string_t& s) override {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kString;
    value->text = std::move(s);
    return true;
  }
  bool binary(binary_t&) override { return false; }  // not produced by text JSON
  bool start_object(std::size_t) override { return Open(JsonValue::Kind::kObject); }
  bool key(string_t& k) override {
    stack_.back()->members.emplace_back(std::move(k), JsonValue());
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(JsonValue::Kind::kArray); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) override {
    if (error_.empty()) {
      error_ = "unexpected '" + last_token.substr(0, 32) + "' at offset " +
               std::to_string(position > 0 ? position - 1 : 0);
    }
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  static constexpr size_t kMaxDepth = 256;

  // The slot the next value fills: the root, the newest array item, or the member whose
  // key was just seen.
  JsonValue* Place() {
    if (stack_.empty()) return root_;
    JsonValue* parent = stack_.back();
    if (parent->kind == JsonValue::Kind::kArray) return &parent->items.emplace_back();
    return &parent->members.back().second;
  }
  bool Scalar(JsonValue::Kind kind) {
    Place()->kind = kind;
    return true;
  }
  template <typename T>
  bool Number(T v) {
    JsonValue* value = Place();
    value->kind = JsonValue::Kind::kNumber;
    AppendInteger(v, &value->text);
    return true;
  }
  bool Open(JsonValue::Kind kind) {
    if (stack_.size() > kMaxDepth) {
      error_ = "nesting too deep";
      return false;
    }
    JsonValue* value = Place();
    value->kind = kind;
    stack_.push_back(value);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  JsonValue* root_;
  std::vector<JsonValue*> stack_;
  std::string error_;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text, const JsonDialect& dialect) {
  JsonValue root;
  JsonValueBuilder builder(&root);
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder,
                                            nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  if (!ok) {
    return Status::Invalid("malformed ", dialect.name, " text (",
                           builder.error().empty() ? std::string("rejected") : builder.error(),
                           ")");
  }
  return root;
}

// ---------------------------------------------------------------------------------------
// List builders.

Status StartList(arrow::ArrayBuilder* b, const arrow::DataType& type, int64_t n) {
  switch (type.id()) {
    case Type::LIST: return static_cast<arrow::ListBuilder*>(b)->Append(true, n);
    case Type::LARGE_LIST: return static_cast<arrow::LargeListBuilder*>(b)->Append(true, n);
    case Type::LIST_VIEW: return static_cast<arrow::ListViewBuilder*>(b)->Append(true, n);
    case Type::LARGE_LIST_VIEW:
      return static_cast<arrow::LargeListViewBuilder*>(b)->Append(true, n);
    case Type::FIXED_SIZE_LIST: {
      const int32_t size = static_cast<const arrow::FixedSizeListType&>(type).list_size();
      if (n != size) {
        return Status::Invalid("a list of ", n, " elements does not fit ", type.ToString());
      }
      return static_cast<arrow::FixedSizeListBuilder*>(b)->Append();
    }
    default: return Status::TypeError("not a list type: ", type.ToString());
  }
}

arrow::ArrayBuilder* ListValueBuilder(arrow::ArrayBuilder* b, const arrow::DataType& type) {
  switch (type.id()) {
    case Type::LIST: return static_cast<arrow::ListBuilder*>(b)->value_builder();
    case Type::LARGE_LIST: return static_cast<arrow::LargeListBuilder*>(b)->value_builder();
    case Type::LIST_VIEW: return static_cast<arrow::ListViewBuilder*>(b)->value_builder();
    case Type::LARGE_LIST_VIEW:
      return static_cast<arrow::LargeListViewBuilder*>(b)->value_builder();
    case Type::FIXED_SIZE_LIST:
      return static_cast<arrow::FixedSizeListBuilder*>(b)->value_builder();
    default: return nullptr;
  }
}

// ---------------------------------------------------------------------------------------
// JSON -> Arrow builders.

namespace {

Status Mismatch(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect) {
  static const char* kKinds[] = {"null", "boolean", "number", "string", "array", "object"};
  return Status::Invalid(dialect.name, " ", kKinds[static_cast<int>(v.kind)],
                         v.kind == JsonValue::Kind::kNumber || v.kind == JsonValue::Kind::kString
                             ? " " + v.text.substr(0, 64)
                             : std::string(),
                         " does not fit ", type.ToString());
}

Status Inexact(const std::string& what, const arrow::DataType& type) {
  return Status::Invalid(what, " cannot be represented exactly as ", type.ToString());
}

template <typename BuilderT, typename CType>
Status AppendInt(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                 arrow::ArrayBuilder* b) {
  CType value;
  if (v.kind != JsonValue::Kind::kNumber || !ParseWhole(std::string_view(v.text), &value)) {
    return Mismatch(v, type, dialect);
  }
  return static_cast<BuilderT*>(b)->Append(value);
}

template <typename F>
bool ParseJsonFloat(const JsonValue& v, F* out) {
  // Non-finite values are spelled as strings (JSON has no literal for them).
  if (v.kind == JsonValue::Kind::kString) {
    return (v.text == "NaN" || v.text == "Infinity" || v.text == "-Infinity") &&
           ParseFloatText(v.text, out);
  }
  return v.kind == JsonValue::Kind::kNumber && ParseWhole(std::string_view(v.text), out);
}

Status AppendDecimal(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                     arrow::ArrayBuilder* b) {
  const bool as_string = dialect.decimals_as_strings && v.kind == JsonValue::Kind::kString;
  if (v.kind != JsonValue::Kind::kNumber && !as_string) return Mismatch(v, type, dialect);
  // The number text -> sign * digits * 10^exponent, then exact rescaling to the scale.
  const auto& dec = static_cast<const arrow::DecimalType&>(type);
  const std::string& t = v.text;
  const std::string what = std::string(dialect.name) + " number " + t.substr(0, 64);
  size_t pos = 0;
  bool negative = false;
  if (pos < t.size() && (t[pos] == '-' || t[pos] == '+')) negative = t[pos++] == '-';
  WideUInt magnitude;
  int64_t exponent = 0;
  bool any_digit = false, after_point = false;
  for (; pos < t.size(); ++pos) {
    const char c = t[pos];
    if (IsDigit(c)) {
      any_digit = true;
      if (!magnitude.MulAdd(10, static_cast<uint64_t>(c - '0'))) return Inexact(what, type);
      if (after_point) --exponent;
    } else if (c == '.' && !after_point) {
      after_point = true;
    } else {
      break;
    }
  }
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    int64_t e = 0;
    std::string_view rest = std::string_view(t).substr(pos + 1);
    if (!rest.empty() && rest[0] == '+') rest.remove_prefix(1);
    if (!ParseWhole(rest, &e) || e > 1000 || e < -1000) return Mismatch(v, type, dialect);
    exponent += e;
    pos = t.size();
  }
  if (!any_digit || pos != t.size()) return Mismatch(v, type, dialect);
  if (RescaleByPowerOfTen(&magnitude, exponent + dec.scale()) != Rescaled::kExact) {
    return Inexact(what, type);
  }
  uint8_t bytes[32];
  if (!ToTwosComplement(magnitude, negative && magnitude.n > 0, dec.byte_width(), bytes)) {
    return Inexact(what, type);
  }
  return static_cast<arrow::FixedSizeBinaryBuilder*>(b)->Append(bytes);
}

Status AppendBytes(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                   arrow::ArrayBuilder* b) {
  if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
  auto bytes = ParseHex(v.text);
  if (!bytes.ok()) return Mismatch(v, type, dialect);
  switch (type.id()) {
    case Type::BINARY: return static_cast<arrow::BinaryBuilder*>(b)->Append(*bytes);
    case Type::LARGE_BINARY: return static_cast<arrow::LargeBinaryBuilder*>(b)->Append(*bytes);
    case Type::BINARY_VIEW: return static_cast<arrow::BinaryViewBuilder*>(b)->Append(*bytes);
    default: {
      auto* fixed = static_cast<arrow::FixedSizeBinaryBuilder*>(b);
      if (static_cast<int>(bytes->size()) != fixed->byte_width()) return Mismatch(v, type, dialect);
      return fixed->Append(reinterpret_cast<const uint8_t*>(bytes->data()));
    }
  }
}

Status AppendTemporal(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                      arrow::ArrayBuilder* b) {
  if (dialect.temporal_as_counts && type.id() != Type::TIMESTAMP && type.id() != Type::DATE32) {
    switch (type.id()) {
      case Type::DATE64: return AppendInt<arrow::Date64Builder, int64_t>(v, type, dialect, b);
      case Type::TIME32: return AppendInt<arrow::Time32Builder, int32_t>(v, type, dialect, b);
      case Type::TIME64: return AppendInt<arrow::Time64Builder, int64_t>(v, type, dialect, b);
      default: return AppendInt<arrow::DurationBuilder, int64_t>(v, type, dialect, b);
    }
  }
  if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
  const std::string what = std::string(dialect.name) + " ";  // "jsonb timestamp ..."
  switch (type.id()) {
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      int64_t value = 0;
      switch (internal::ParseTimestampParts(v.text, UnitDigits(ts.unit()), dialect.always_utc_suffix,
                                  dialect, &value)) {
        case Parsed::kOk: return static_cast<arrow::TimestampBuilder*>(b)->Append(value);
        case Parsed::kOutOfRange: return Inexact(what + "timestamp " + v.text, type);
        case Parsed::kMalformed: return Mismatch(v, type, dialect);
      }
      return Mismatch(v, type, dialect);
    }
    case Type::DATE32:
    case Type::DATE64: {
      size_t pos = 0;
      int64_t days;
      if (!ParseIsoDate(v.text, &pos, dialect, &days) || pos != v.text.size()) {
        return Mismatch(v, type, dialect);
      }
      if (type.id() == Type::DATE64) {
        return static_cast<arrow::Date64Builder*>(b)->Append(days * 86400000);
      }
      if (days < std::numeric_limits<int32_t>::min() ||
          days > std::numeric_limits<int32_t>::max()) {
        return Inexact(what + "date " + v.text, type);
      }
      return static_cast<arrow::Date32Builder*>(b)->Append(static_cast<int32_t>(days));
    }
    case Type::DURATION: return Mismatch(v, type, dialect);
    default: {  // TIME32, TIME64
      const auto unit = static_cast<const arrow::TimeType&>(type).unit();
      size_t pos = 0;
      int64_t clock;
      if (!ParseIsoClock(v.text, &pos, UnitDigits(unit), &clock) || pos != v.text.size()) {
        return Mismatch(v, type, dialect);
      }
      if (type.id() == Type::TIME32) {
        return static_cast<arrow::Time32Builder*>(b)->Append(static_cast<int32_t>(clock));
      }
      return static_cast<arrow::Time64Builder*>(b)->Append(clock);
    }
  }
}

}  // namespace

Status AppendFromJson(const JsonValue& v, const arrow::DataType& type, const JsonDialect& dialect,
                      arrow::ArrayBuilder* b) {
  if (v.kind == JsonValue::Kind::kNull) return b->AppendNull();
  switch (type.id()) {
    case Type::NA: return Mismatch(v, type, dialect);
    case Type::BOOL:
      if (v.kind != JsonValue::Kind::kBool) return Mismatch(v, type, dialect);
      return static_cast<arrow::BooleanBuilder*>(b)->Append(v.boolean);
    case Type::INT8: return AppendInt<arrow::Int8Builder, int8_t>(v, type, dialect, b);
    case Type::INT16: return AppendInt<arrow::Int16Builder, int16_t>(v, type, dialect, b);
    case Type::INT32: return AppendInt<arrow::Int32Builder, int32_t>(v, type, dialect, b);
    case Type::INT64: return AppendInt<arrow::Int64Builder, int64_t>(v, type, dialect, b);
    case Type::UINT8: return AppendInt<arrow::UInt8Builder, uint8_t>(v, type, dialect, b);
    case Type::UINT16: return AppendInt<arrow::UInt16Builder, uint16_t>(v, type, dialect, b);
    case Type::UINT32: return AppendInt<arrow::UInt32Builder, uint32_t>(v, type, dialect, b);
    case Type::UINT64: return AppendInt<arrow::UInt64Builder, uint64_t>(v, type, dialect, b);
    case Type::HALF_FLOAT: {
      float f;
      if (!ParseJsonFloat(v, &f)) return Mismatch(v, type, dialect);
      return static_cast<arrow::HalfFloatBuilder*>(b)->Append(arrow::util::Float16::FromFloat(f));
    }
    case Type::FLOAT: {
      float f;
      if (dialect.float32_via_double) {
        double d;
        if (!ParseJsonFloat(v, &d)) return Mismatch(v, type, dialect);
        f = static_cast<float>(d);
      } else if (!ParseJsonFloat(v, &f)) {
        return Mismatch(v, type, dialect);
      }
      return static_cast<arrow::FloatBuilder*>(b)->Append(f);
    }
    case Type::DOUBLE: {
      double d;
      if (!ParseJsonFloat(v, &d)) return Mismatch(v, type, dialect);
      return static_cast<arrow::DoubleBuilder*>(b)->Append(d);
    }
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: return AppendDecimal(v, type, dialect, b);
    case Type::STRING:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::StringBuilder*>(b)->Append(v.text);
    case Type::LARGE_STRING:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::LargeStringBuilder*>(b)->Append(v.text);
    case Type::STRING_VIEW:
      if (v.kind != JsonValue::Kind::kString) return Mismatch(v, type, dialect);
      return static_cast<arrow::StringViewBuilder*>(b)->Append(v.text);
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: return AppendBytes(v, type, dialect, b);
    case Type::TIMESTAMP:
    case Type::DATE32:
    case Type::DATE64:
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION: return AppendTemporal(v, type, dialect, b);
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      if (v.kind != JsonValue::Kind::kArray) return Mismatch(v, type, dialect);
      AMP_RETURN_NOT_OK(StartList(b, type, static_cast<int64_t>(v.items.size())));
      arrow::ArrayBuilder* values = ListValueBuilder(b, type);
      const arrow::DataType& element = *type.field(0)->type();
      for (const JsonValue& item : v.items) {
        AMP_RETURN_NOT_OK(AppendFromJson(item, element, dialect, values));
      }
      return Status::OK();
    }
    case Type::STRUCT: {
      if (v.kind != JsonValue::Kind::kObject) return Mismatch(v, type, dialect);
      auto* sb = static_cast<arrow::StructBuilder*>(b);
      AMP_RETURN_NOT_OK(sb->Append());
      for (int f = 0; f < type.num_fields(); ++f) {
        const std::string& name = type.field(f)->name();
        const JsonValue* member = nullptr;
        for (const auto& [key, value] : v.members) {
          if (key == name) member = &value;  // the last one wins, as in jsonb
        }
        if (member == nullptr) {
          AMP_RETURN_NOT_OK(sb->field_builder(f)->AppendNull());
        } else {
          AMP_RETURN_NOT_OK(
              AppendFromJson(*member, *type.field(f)->type(), dialect, sb->field_builder(f)));
        }
      }
      return Status::OK();
    }
    default:
      return Status::NotImplemented("cannot read ", type.ToString(), " from ", dialect.name);
  }
}

Status CheckJsonReadable(const arrow::DataType& type) {
  switch (type.id()) {
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: return CheckJsonReadable(*type.field(0)->type());
    case Type::STRUCT: {
      std::set<std::string> names;
      for (const auto& field : type.fields()) {
        if (!names.insert(field->name()).second) {
          return Status::NotImplemented("struct ", type.ToString(), " has two fields named \"",
                                        field->name(), "\" (jsonb keeps one key)");
        }
        AMP_RETURN_NOT_OK(CheckJsonReadable(*field->type()));
      }
      return Status::OK();
    }
    case Type::DURATION:
    case Type::DICTIONARY:
    case Type::EXTENSION: break;
    default:
      if (CheckJsonWritable(type, kPostgresJsonb).ok()) return Status::OK();
      break;
  }
  return Status::NotImplemented("cannot read ", type.ToString(), " back from jsonb");
}

}  // namespace amp::loaders
