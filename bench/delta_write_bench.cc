// The write half of bench/delta_load_bench.py: loads an Arrow IPC file (rows fetched once
// from the devnet) into memory, then times only our Delta loader writing them
// (EnsureTable, then units of --batch-size rows: Begin, Append, Commit with a
// checkpoint), so the figure compares with deltalake.write_deltalake from an in-memory
// Arrow table. Prints one JSON line: {"rows", "seconds", "cpu_seconds" (user + system CPU
// of the timed part, all threads), "bytes", "files", "versions"}.
//
//   amp_delta_write_bench --ipc rows.arrow --root /tmp/lake --table logs [--batch-size N]
//                         [--compression zstd] [--compression-level 1] [--write-threads true]
//                         [--option key=value]...
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "loaders/delta/delta_loader.h"

namespace {

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int Fail(const std::string& what, const arrow::Status& st) {
  std::cerr << "amp_delta_write_bench: " << what << ": " << st.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string ipc, root, table = "logs", compression = "zstd", level = "1", block_column = "_block_num";
  std::string write_threads = "true";
  amp::LoaderConfig extra;
  int64_t batch_size = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--ipc") ipc = value;
    else if (flag == "--root") root = value;
    else if (flag == "--table") table = value;
    else if (flag == "--batch-size") batch_size = std::stoll(value);
    else if (flag == "--compression") compression = value;
    else if (flag == "--compression-level") level = value;
    else if (flag == "--block-column") block_column = value;
    else if (flag == "--write-threads") write_threads = value;
    else if (flag == "--option") extra[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (ipc.empty() || root.empty()) {
    std::cerr << "usage: amp_delta_write_bench --ipc FILE --root DIR [--table T] [--batch-size N]\n";
    return 2;
  }
  auto file = arrow::io::ReadableFile::Open(ipc);
  if (!file.ok()) return Fail("open " + ipc, file.status());
  auto reader = arrow::ipc::RecordBatchFileReader::Open(*file);
  if (!reader.ok()) return Fail("read " + ipc, reader.status());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int i = 0; i < (*reader)->num_record_batches(); ++i) {
    auto batch = (*reader)->ReadRecordBatch(i);
    if (!batch.ok()) return Fail("read batch", batch.status());
    batches.push_back(*batch);
  }
  auto whole = arrow::Table::FromRecordBatches((*reader)->schema(), batches);
  if (!whole.ok()) return Fail("table", whole.status());
  auto combined = (*whole)->CombineChunksToBatch();
  if (!combined.ok()) return Fail("combine", combined.status());
  const auto rows = *combined;

  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  amp::LoaderConfig config = {{"root", root}, {"compression", compression}, {"compression_level", level},
                               {"write_threads", write_threads}};
  for (const auto& [k, v] : extra) config[k] = v;
  auto loader = amp::delta::MakeDeltaLoader(config);
  if (!loader.ok()) return Fail("loader", loader.status());
  amp::TableSpec spec;
  spec.name = table;
  spec.schema = rows->schema();
  spec.block_column = block_column;
  if (auto st = (*loader)->EnsureTable(spec); !st.ok()) return Fail("EnsureTable", st);
  auto session = (*loader)->OpenSession();
  if (!session.ok()) return Fail("OpenSession", session.status());
  amp::StreamCheckpoint checkpoint;
  checkpoint.stream_id = "bench";
  int64_t versions = 0;
  for (int64_t offset = 0; offset < rows->num_rows(); offset += batch_size) {
    const int64_t n = std::min(batch_size, rows->num_rows() - offset);
    auto unit = rows->Slice(offset, n);
    amp::BlockRange range;
    range.network = "mainnet";
    if (auto st = (*session)->Begin(); !st.ok()) return Fail("Begin", st);
    if (auto st = (*session)->Append(table, *unit, range); !st.ok()) return Fail("Append", st);
    checkpoint.transaction_id = static_cast<uint64_t>(++versions);
    if (auto st = (*session)->Commit(&checkpoint); !st.ok()) return Fail("Commit", st);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_seconds = CpuSeconds() - cpu0;
  int64_t bytes = 0, files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root + "/" + table)) {
    const auto path = entry.path().string();
    if (entry.is_regular_file() && path.find("_delta_log") == std::string::npos &&
        entry.path().extension() == ".parquet") {
      bytes += static_cast<int64_t>(entry.file_size());
      ++files;
    }
  }
  std::printf("{\"rows\": %lld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"bytes\": %lld, \"files\": %lld, \"versions\": %lld}\n",
              static_cast<long long>(rows->num_rows()), seconds, cpu_seconds, static_cast<long long>(bytes),
              static_cast<long long>(files), static_cast<long long>(versions));
  return 0;
}
