// Optimize of the "delta" loader: compaction. The live files smaller than half the target
// are merged, per partition and in block order, into files of about target_file_rows rows,
// in one version whose actions have dataChange = false, so readers see the same rows before
// and after and streaming readers of the table skip it.
#include <arrow/api.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "loaders/delta/delta_errors.h"
#include "loaders/delta/delta_files.h"
#include "loaders/delta/delta_loader_impl.h"

namespace amp::delta {
namespace {

// The small live files of `snap` by partition, each group in block order.
std::map<std::string, std::vector<const AddFile*>> SmallFiles(const Snapshot& snap, int64_t target_file_rows) {
  std::map<std::string, std::vector<const AddFile*>> groups;
  for (const auto& [path, add] : snap.files) {
    if (add.parsed.num_records >= 0 && add.parsed.num_records >= target_file_rows / 2) continue;
    std::string key;
    for (const auto& [k, v] : add.partition_values) key += k + "=" + (v ? *v : "\x01") + "/";
    groups[key].push_back(&add);
  }
  for (auto& [key, files] : groups) {
    std::sort(files.begin(), files.end(), [](const AddFile* a, const AddFile* b) {
      return a->parsed.min_start.value_or(0) < b->parsed.min_start.value_or(0);
    });
  }
  return groups;
}

}  // namespace

Status DeltaLoaderImpl::Optimize(const std::string& table) {
  AMP_RETURN_NOT_OK(CheckTableName(table));
  if (!HasLog(TableDir(table))) return Fatal(Status::KeyError(Where(table), " does not exist"), "NO_TABLE");
  auto state = State(table);
  std::lock_guard<std::mutex> lock(state->mu);
  std::vector<std::string> outputs;  // Of the latest attempt.
  auto cleanup = [&] {
    for (const auto& p : outputs) ::unlink(p.c_str());
    outputs.clear();
  };
  bool committed = false;
  const PlanFn plan = [&](const Snapshot& snap) -> Result<std::optional<DeltaTransaction>> {
    cleanup();
    AMP_ASSIGN_OR_RETURN(auto layout, LayoutOfTable(table, snap));
    DeltaTransaction tx;
    tx.commit_info = MakeCommitInfo("OPTIMIZE", {{"targetSize", options_.target_file_rows}});
    const int64_t now = tx.commit_info.timestamp;
    for (const auto& [key, files] : SmallFiles(snap, options_.target_file_rows)) {
      if (files.size() < 2) continue;
      std::vector<std::shared_ptr<arrow::Table>> tables;
      for (const auto* add : files) {
        AMP_ASSIGN_OR_RETURN(auto rows, ReadLiveFile(state->dir, *add, layout));
        tables.push_back(rows);
        tx.removes.push_back({*add, now, /*data_change=*/false});
      }
      AMP_ASSIGN_OR_RETURN(auto merged, arrow::ConcatenateTables(tables));
      AMP_ASSIGN_OR_RETURN(auto written, WriteTableFiles(options_, state->dir, layout, merged,
                                                         files.front()->partition_values, false));
      for (auto& w : written) {
        outputs.push_back(w.abs_path);
        tx.adds.push_back(w.add);
      }
    }
    if (tx.removes.empty()) return std::nullopt;
    return tx;
  };
  Status st = CommitWithRetry(*state, table, plan, &committed);
  if (!st.ok()) {
    cleanup();
    return st;
  }
  if (committed) {
    Status cp = WriteCheckpoint(state->dir, state->snapshot);
    if (!cp.ok()) std::cerr << "delta: checkpoint after optimize failed: " << cp.ToString() << "\n";
  }
  return Status::OK();
}

}  // namespace amp::delta
