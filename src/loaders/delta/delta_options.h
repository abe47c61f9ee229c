// The options of the "delta" loader, parsed once from the validated LoaderConfig. The option
// table itself (DeltaOptions(), what the registry validates and `ampsync loaders describe`
// prints) and the delta:// URI mapping are declared in delta_loader.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <parquet/types.h>

#include "amp/loader.h"

namespace amp::delta {

struct Options {
  std::string root;  ///< Absolute, without a trailing '/'.
  parquet::Compression::type compression = parquet::Compression::ZSTD;
  std::string compression_name = "zstd";  ///< As it appears in file names.
  int compression_level = 0;              ///< 0: the codec's default.
  int64_t target_file_rows = 1'000'000;
  int64_t row_group_rows = 64 * 1024;
  int64_t checkpoint_interval = 10;
  bool optimize_after_load = false;
  bool schema_evolution = false;
  bool write_threads = true;
  int max_commit_attempts = 200;
  std::vector<std::string> partition_by;
};

/// kFatal "BAD_OPTION" naming the option for a relative root, an unknown codec, or a
/// number below its minimum.
Result<Options> ParseOptions(const LoaderConfig& config);

}  // namespace amp::delta
