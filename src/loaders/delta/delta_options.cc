#include "loaders/delta/delta_options.h"

#include "common/ascii.h"
#include "loaders/common/connection_uri.h"
#include "loaders/common/options.h"
#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_loader.h"

namespace amp::delta {
namespace {

constexpr char kLoaderName[] = "delta";

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

struct Codec {
  const char* name;  // Also the file-name tag; "none" is spelled "uncompressed" there.
  parquet::Compression::type type;
};

constexpr Codec kCodecs[] = {{"zstd", parquet::Compression::ZSTD},
                             {"snappy", parquet::Compression::SNAPPY},
                             {"gzip", parquet::Compression::GZIP},
                             {"lz4", parquet::Compression::LZ4},
                             {"uncompressed", parquet::Compression::UNCOMPRESSED}};

Status ParseCompression(const std::string& text, Options& o) {
  std::string name = AsciiLower(text.empty() ? std::string("zstd") : text);
  if (name == "none") name = "uncompressed";
  for (const auto& codec : kCodecs) {
    if (name == codec.name) {
      o.compression = codec.type;
      o.compression_name = codec.name;
      return Status::OK();
    }
  }
  return loaders::OptionError(kLoaderName, "compression",
                              "is '" + text + "': expected zstd, snappy, gzip, lz4 or none");
}

// delta:///abs/path (no host) or delta://localhost/abs/path; every query item is an option.
Result<LoaderConfig> ConfigFromParsedUri(const loaders::ConnectionUri& uri) {
  if (!uri.has_path || (!uri.host.empty() && uri.host != "localhost") || uri.user) {
    return Fatal(Status::Invalid("a delta URI must name an absolute local path: delta:///absolute/root"),
                 "BAD_URI");
  }
  LoaderConfig config;
  loaders::AddQueryOptions(uri, &config);
  config["root"] = "/" + uri.path;
  return config;
}

}  // namespace

Result<Options> ParseOptions(const LoaderConfig& config) {
  const loaders::OptionValues values(kLoaderName, DeltaOptions(), config);
  Options o;
  o.root = values.GetString("root");
  if (o.root.empty() || o.root[0] != '/') {
    return loaders::OptionError(kLoaderName, "root",
                                "must be an absolute path (delta:///abs/path), got '" + o.root + "'");
  }
  while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  AMP_RETURN_NOT_OK(ParseCompression(values.GetString("compression"), o));
  constexpr int64_t kIntMax = INT32_MAX;
  AMP_ASSIGN_OR_RETURN(int64_t level, values.GetInt("compression_level", 0, kIntMax));
  o.compression_level = static_cast<int>(level);
  AMP_ASSIGN_OR_RETURN(o.target_file_rows, values.GetInt("target_file_rows", 1, INT64_MAX));
  AMP_ASSIGN_OR_RETURN(o.row_group_rows, values.GetInt("row_group_rows", 1, INT64_MAX));
  AMP_ASSIGN_OR_RETURN(o.checkpoint_interval, values.GetInt("checkpoint_interval", 1, INT64_MAX));
  AMP_ASSIGN_OR_RETURN(int64_t attempts, values.GetInt("max_commit_attempts", 1, kIntMax));
  o.max_commit_attempts = static_cast<int>(attempts);
  AMP_ASSIGN_OR_RETURN(o.optimize_after_load, values.GetBool("optimize_after_load"));
  AMP_ASSIGN_OR_RETURN(o.schema_evolution, values.GetBool("schema_evolution"));
  AMP_ASSIGN_OR_RETURN(o.write_threads, values.GetBool("write_threads"));
  o.partition_by = SplitList(values.GetString("partition_by"));
  return o;
}

std::vector<OptionSpec> DeltaOptions() {
  return {
      {"root", OptionSpec::Type::kString, "", "Absolute directory holding one Delta table per destination table (<root>/<table>)", true},
      {"compression", OptionSpec::Type::kString, "zstd", "Parquet codec: zstd, snappy, gzip, lz4 or none", false},
      {"compression_level", OptionSpec::Type::kInt, "0", "Codec level (0: the codec's default; zstd's is 1)", false},
      {"target_file_rows", OptionSpec::Type::kInt, "1000000", "Rows per Parquet file before a new one starts; Optimize() merges files below half of it", false},
      {"row_group_rows", OptionSpec::Type::kInt, "65536", "Rows per Parquet row group (bounds the writer's memory)", false},
      {"partition_by", OptionSpec::Type::kString, "", "Comma-separated partition columns (integer, string, date, boolean or decimal); fixed at table creation", false},
      {"checkpoint_interval", OptionSpec::Type::kInt, "10", "Write a Delta checkpoint every N versions", false},
      {"optimize_after_load", OptionSpec::Type::kBool, "false", "Compact the tables this loader wrote once, when the loader closes (never per batch)", false},
      {"schema_evolution", OptionSpec::Type::kBool, "false", "Add the query's new nullable columns to an existing table (metaData update) instead of failing", false},
      {"write_threads", OptionSpec::Type::kBool, "true", "Encode a row group's columns in parallel (Arrow's writer threads)", false},
      {"max_commit_attempts", OptionSpec::Type::kInt, "200", "Optimistic-concurrency attempts per commit before a retryable error", false},
  };
}

Result<LoaderConfig> ConfigFromUri(const std::string& uri) {
  AMP_ASSIGN_OR_RETURN(auto parsed, loaders::ParseUri(uri));
  return ConfigFromParsedUri(parsed);
}

}  // namespace amp::delta
