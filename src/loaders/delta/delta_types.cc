#include "loaders/delta/delta_types.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/bitmap_ops.h>

#include <cstdlib>
#include <cstring>
#include <regex>

namespace amp::delta {
namespace {

using arrow::Type;

Status Unsupported(const arrow::DataType& type) {
  return Status::NotImplemented("Arrow type ", type.ToString(), " has no Delta Lake mapping");
}

std::shared_ptr<arrow::DataType> kTimestampStorage() {
  return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t UnitsPerSecond(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 1;
    case arrow::TimeUnit::MILLI: return 1000;
    case arrow::TimeUnit::MICRO: return 1000000;
    case arrow::TimeUnit::NANO: return 1000000000;
  }
  return 1;
}

// Timestamps of any unit -> microseconds, floored (the Delta `timestamp` precision).
Result<std::shared_ptr<arrow::Array>> TimestampToMicros(const arrow::Array& array) {
  const auto& ts = static_cast<const arrow::TimestampArray&>(array);
  const auto unit = static_cast<const arrow::TimestampType&>(*array.type()).unit();
  const int64_t per_s = UnitsPerSecond(unit);
  arrow::TimestampBuilder builder(kTimestampStorage(), DeltaMemoryPool());
  AMP_RETURN_NOT_OK(builder.Reserve(array.length()));
  for (int64_t i = 0; i < array.length(); ++i) {
    if (ts.IsNull(i)) {
      builder.UnsafeAppendNull();
      continue;
    }
    const int64_t v = ts.Value(i);
    int64_t us;
    if (per_s >= 1000000) {
      us = FloorDiv(v, per_s / 1000000);
    } else {
      us = v * (1000000 / per_s);
    }
    builder.UnsafeAppend(us);
  }
  return builder.Finish();
}

Result<std::shared_ptr<arrow::Array>> CastTo(const std::shared_ptr<arrow::Array>& array,
                                             const std::shared_ptr<arrow::DataType>& type) {
  if (array->type()->Equals(*type)) return array;
  arrow::compute::CastOptions options = arrow::compute::CastOptions::Safe(type);
  arrow::compute::ExecContext context(DeltaMemoryPool());
  AMP_ASSIGN_OR_RETURN(auto datum, arrow::compute::Cast(arrow::Datum(array), options, &context));
  return datum.make_array();
}

// FixedSizeBinary -> Binary without copying the values: the data buffer is shared (sliced)
// and only the offsets (i * width) are built. Arrow's cast copies the whole data buffer,
// which for hashes was a quarter of the write time.
Result<std::shared_ptr<arrow::Array>> FixedToBinary(const arrow::Array& array) {
  const auto& fixed = static_cast<const arrow::FixedSizeBinaryArray&>(array);
  const int32_t width = fixed.byte_width();
  const int64_t length = fixed.length();
  if (length * static_cast<int64_t>(width) >= INT32_MAX) return nullptr;  // Caller casts.
  auto* pool = DeltaMemoryPool();
  AMP_ASSIGN_OR_RETURN(auto offsets, arrow::AllocateBuffer((length + 1) * sizeof(int32_t), pool));
  auto* out = reinterpret_cast<int32_t*>(offsets->mutable_data());
  for (int64_t i = 0; i <= length; ++i) out[i] = static_cast<int32_t>(i * width);
  std::shared_ptr<arrow::Buffer> data =
      fixed.values() == nullptr
          ? nullptr
          : arrow::SliceBuffer(fixed.data()->buffers[1], (fixed.offset()) * width, length * width);
  std::shared_ptr<arrow::Buffer> validity;
  if (fixed.null_count() > 0) {
    AMP_ASSIGN_OR_RETURN(validity, arrow::internal::CopyBitmap(pool, fixed.null_bitmap_data(),
                                                               fixed.offset(), length));
  }
  if (data == nullptr) {
    AMP_ASSIGN_OR_RETURN(data, arrow::AllocateBuffer(0, pool));
  }
  return arrow::MakeArray(arrow::ArrayData::Make(arrow::binary(), length,
                                                 {validity, std::move(offsets), data},
                                                 fixed.null_count()));
}

// Rebuilds a nested array (list, map, struct) of the same layout with converted children.
template <typename ChildFn>
Result<std::shared_ptr<arrow::Array>> WithChildren(const std::shared_ptr<arrow::Array>& array,
                                                   const std::shared_ptr<arrow::DataType>& type,
                                                   ChildFn convert_child) {
  auto data = array->data()->Copy();
  data->type = type;
  std::vector<std::shared_ptr<arrow::ArrayData>> children;
  for (size_t i = 0; i < data->child_data.size(); ++i) {
    AMP_ASSIGN_OR_RETURN(auto child, convert_child(static_cast<int>(i),
                                                   arrow::MakeArray(data->child_data[i])));
    children.push_back(child->data());
  }
  data->child_data = std::move(children);
  return arrow::MakeArray(data);
}

std::shared_ptr<arrow::DataType> ChildType(const arrow::DataType& type, int i) {
  return type.field(i)->type();
}

}  // namespace

arrow::MemoryPool* DeltaMemoryPool() {
  static arrow::MemoryPool* const pool = [] {
    const char* forced = std::getenv("AMP_DELTA_MEMORY_POOL");
    if (forced != nullptr && std::strcmp(forced, "default") == 0) return arrow::default_memory_pool();
    arrow::MemoryPool* jemalloc = nullptr;
    if (arrow::jemalloc_memory_pool(&jemalloc).ok() && jemalloc != nullptr) return jemalloc;
    return arrow::default_memory_pool();
  }();
  return pool;
}

Result<std::shared_ptr<arrow::DataType>> StorageType(const std::shared_ptr<arrow::DataType>& type) {
  switch (type->id()) {
    case Type::BOOL:
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::FLOAT:
    case Type::DOUBLE:
    case Type::DATE32:
    case Type::STRING:
    case Type::BINARY:
      return type;
    case Type::UINT8: return arrow::int16();
    case Type::UINT16: return arrow::int32();
    case Type::UINT32: return arrow::int64();
    case Type::UINT64: return arrow::decimal128(20, 0);
    case Type::HALF_FLOAT: return arrow::float32();
    case Type::DECIMAL128: return type;
    case Type::DECIMAL256: {
      const auto& d = static_cast<const arrow::Decimal256Type&>(*type);
      if (d.precision() <= 38) return arrow::decimal128(d.precision(), d.scale());
      return arrow::utf8();
    }
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
      return arrow::utf8();
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
      return arrow::binary();
    case Type::DATE64: return arrow::date32();
    case Type::TIMESTAMP: return kTimestampStorage();
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION:
      return arrow::int64();
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      const auto& value_field = type->field(0);
      AMP_ASSIGN_OR_RETURN(auto value, StorageType(value_field->type()));
      return arrow::list(arrow::field("element", value, value_field->nullable()));
    }
    case Type::STRUCT: {
      arrow::FieldVector fields;
      for (const auto& f : type->fields()) {
        AMP_ASSIGN_OR_RETURN(auto t, StorageType(f->type()));
        fields.push_back(arrow::field(f->name(), t, f->nullable()));
      }
      return arrow::struct_(fields);
    }
    case Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(*type);
      AMP_ASSIGN_OR_RETURN(auto key, StorageType(map.key_type()));
      AMP_ASSIGN_OR_RETURN(auto item, StorageType(map.item_type()));
      return arrow::map(key, arrow::field("value", item, map.item_field()->nullable()));
    }
    case Type::DICTIONARY:
      return StorageType(static_cast<const arrow::DictionaryType&>(*type).value_type());
    default:
      return Unsupported(*type);
  }
}

Result<std::shared_ptr<arrow::Schema>> StorageSchema(const arrow::Schema& schema) {
  arrow::FieldVector fields;
  for (const auto& f : schema.fields()) {
    auto t = StorageType(f->type());
    if (!t.ok()) return t.status().WithMessage("column '", f->name(), "': ", t.status().message());
    fields.push_back(arrow::field(f->name(), *t, f->nullable()));
  }
  return arrow::schema(fields);
}

Result<nlohmann::json> DeltaTypeJson(const arrow::DataType& type) {
  switch (type.id()) {
    case Type::BOOL: return "boolean";
    case Type::INT8: return "byte";
    case Type::INT16: return "short";
    case Type::INT32: return "integer";
    case Type::INT64: return "long";
    case Type::FLOAT: return "float";
    case Type::DOUBLE: return "double";
    case Type::DATE32: return "date";
    case Type::STRING: return "string";
    case Type::BINARY: return "binary";
    case Type::TIMESTAMP: return "timestamp";
    case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      return "decimal(" + std::to_string(d.precision()) + "," + std::to_string(d.scale()) + ")";
    }
    case Type::LIST: {
      AMP_ASSIGN_OR_RETURN(auto element, DeltaTypeJson(*type.field(0)->type()));
      return nlohmann::json{{"type", "array"},
                            {"elementType", element},
                            {"containsNull", type.field(0)->nullable()}};
    }
    case Type::STRUCT: {
      nlohmann::json fields = nlohmann::json::array();
      for (const auto& f : type.fields()) {
        AMP_ASSIGN_OR_RETURN(auto field, DeltaFieldJson(*f));
        fields.push_back(field);
      }
      return nlohmann::json{{"type", "struct"}, {"fields", fields}};
    }
    case Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      AMP_ASSIGN_OR_RETURN(auto key, DeltaTypeJson(*map.key_type()));
      AMP_ASSIGN_OR_RETURN(auto value, DeltaTypeJson(*map.item_type()));
      return nlohmann::json{{"type", "map"},
                            {"keyType", key},
                            {"valueType", value},
                            {"valueContainsNull", map.item_field()->nullable()}};
    }
    default:
      return Unsupported(type);
  }
}

Result<nlohmann::json> DeltaFieldJson(const arrow::Field& field, const std::string& original_type) {
  AMP_ASSIGN_OR_RETURN(auto type, DeltaTypeJson(*field.type()));
  nlohmann::json metadata = nlohmann::json::object();
  if (!original_type.empty()) metadata["amp.arrow_type"] = original_type;
  return nlohmann::json{
      {"name", field.name()}, {"type", type}, {"nullable", field.nullable()}, {"metadata", metadata}};
}

Result<std::shared_ptr<arrow::DataType>> TypeFromDeltaJson(const nlohmann::json& type) {
  if (type.is_string()) {
    const std::string name = type.get<std::string>();
    if (name == "boolean") return arrow::boolean();
    if (name == "byte") return arrow::int8();
    if (name == "short") return arrow::int16();
    if (name == "integer") return arrow::int32();
    if (name == "long") return arrow::int64();
    if (name == "float") return arrow::float32();
    if (name == "double") return arrow::float64();
    if (name == "date") return arrow::date32();
    if (name == "string") return arrow::utf8();
    if (name == "binary") return arrow::binary();
    if (name == "timestamp") return kTimestampStorage();
    if (name == "timestamp_ntz") return arrow::timestamp(arrow::TimeUnit::MICRO);
    static const std::regex kDecimal(R"(decimal\(\s*(\d+)\s*,\s*(\d+)\s*\))");
    std::smatch m;
    if (std::regex_match(name, m, kDecimal)) {
      return arrow::decimal128(std::stoi(m[1]), std::stoi(m[2]));
    }
    return Status::NotImplemented("Delta type '", name, "' is not supported");
  }
  if (!type.is_object() || !type.contains("type")) {
    return Status::Invalid("malformed Delta type ", type.dump());
  }
  const std::string kind = type.at("type").get<std::string>();
  if (kind == "array") {
    AMP_ASSIGN_OR_RETURN(auto element, TypeFromDeltaJson(type.at("elementType")));
    return arrow::list(arrow::field("element", element, type.value("containsNull", true)));
  }
  if (kind == "struct") {
    arrow::FieldVector fields;
    for (const auto& f : type.at("fields")) {
      AMP_ASSIGN_OR_RETURN(auto t, TypeFromDeltaJson(f.at("type")));
      fields.push_back(arrow::field(f.at("name").get<std::string>(), t, f.value("nullable", true)));
    }
    return arrow::struct_(fields);
  }
  if (kind == "map") {
    AMP_ASSIGN_OR_RETURN(auto key, TypeFromDeltaJson(type.at("keyType")));
    AMP_ASSIGN_OR_RETURN(auto value, TypeFromDeltaJson(type.at("valueType")));
    return arrow::map(key, arrow::field("value", value, type.value("valueContainsNull", true)));
  }
  return Status::NotImplemented("Delta type '", kind, "' is not supported");
}

Result<std::shared_ptr<arrow::Array>> ToStorage(const std::shared_ptr<arrow::Array>& array,
                                                const std::shared_ptr<arrow::DataType>& storage) {
  const auto& type = array->type();
  if (type->Equals(*storage) && type->id() != Type::TIMESTAMP) return array;
  switch (type->id()) {
    case Type::TIMESTAMP:
      if (type->Equals(*storage)) return array;
      return TimestampToMicros(*array);
    case Type::DATE64: {
      // Floor to days (a cast truncates toward zero).
      const auto& d = static_cast<const arrow::Date64Array&>(*array);
      arrow::Date32Builder builder(DeltaMemoryPool());
      AMP_RETURN_NOT_OK(builder.Reserve(d.length()));
      for (int64_t i = 0; i < d.length(); ++i) {
        if (d.IsNull(i)) {
          builder.UnsafeAppendNull();
        } else {
          builder.UnsafeAppend(static_cast<int32_t>(FloorDiv(d.Value(i), 86400000)));
        }
      }
      return builder.Finish();
    }
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION: {
      auto data = array->data()->Copy();
      data->type = type->id() == Type::TIME32 ? arrow::int32() : arrow::int64();
      return CastTo(arrow::MakeArray(data), storage);
    }
    case Type::LIST:
    case Type::MAP:
    case Type::STRUCT:
      return WithChildren(array, storage, [&](int i, std::shared_ptr<arrow::Array> child) {
        return ToStorage(child, ChildType(*storage, i));
      });
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      // To a plain list of the original element type, then as a list.
      AMP_ASSIGN_OR_RETURN(auto as_list, CastTo(array, arrow::list(type->field(0))));
      return ToStorage(as_list, storage);
    }
    case Type::DICTIONARY: {
      AMP_ASSIGN_OR_RETURN(
          auto decoded, CastTo(array, static_cast<const arrow::DictionaryType&>(*type).value_type()));
      return ToStorage(decoded, storage);
    }
    case Type::FIXED_SIZE_BINARY:
      if (storage->id() == Type::BINARY) {
        AMP_ASSIGN_OR_RETURN(auto binary, FixedToBinary(*array));
        if (binary != nullptr) return binary;
      }
      return CastTo(array, storage);
    default:
      return CastTo(array, storage);
  }
}

Result<std::shared_ptr<arrow::Array>> FromStorage(const std::shared_ptr<arrow::Array>& array,
                                                  const std::shared_ptr<arrow::DataType>& type) {
  if (array->type()->Equals(*type)) return array;
  switch (type->id()) {
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION: {
      AMP_ASSIGN_OR_RETURN(auto ints, CastTo(array, type->id() == Type::TIME32 ? arrow::int32()
                                                                                 : arrow::int64()));
      auto data = ints->data()->Copy();
      data->type = type;
      return arrow::MakeArray(data);
    }
    case Type::LIST:
    case Type::MAP:
    case Type::STRUCT:
      if (array->type()->id() != type->id()) break;
      return WithChildren(array, type, [&](int i, std::shared_ptr<arrow::Array> child) {
        return FromStorage(child, ChildType(*type, i));
      });
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      AMP_ASSIGN_OR_RETURN(auto as_list, FromStorage(array, arrow::list(type->field(0))));
      return CastTo(as_list, type);
    }
    case Type::DICTIONARY: {
      AMP_ASSIGN_OR_RETURN(
          auto values, FromStorage(array, static_cast<const arrow::DictionaryType&>(*type).value_type()));
      return CastTo(values, type);
    }
    default:
      break;
  }
  return CastTo(array, type);
}

}  // namespace amp::delta
