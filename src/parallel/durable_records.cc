#include "parallel/durable_records.h"

namespace amp::parallel {

Result<std::vector<PartitionProgress>> LoadPartitionProgress(LoaderSession& session,
                                                             const std::string& job) {
  AMP_ASSIGN_OR_RETURN(auto rows, session.LoadCheckpoints(PartitionProgress::StreamIdPrefix(job)));
  std::vector<PartitionProgress> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    AMP_ASSIGN_OR_RETURN(auto progress, PartitionProgress::FromCheckpoint(row));
    out.push_back(std::move(progress));
  }
  return out;
}

Result<std::optional<HandoffRecord>> LoadHandoffRecord(LoaderSession& session,
                                                       const std::string& job) {
  AMP_ASSIGN_OR_RETURN(auto row, session.LoadCheckpoint(HandoffRecord::StreamId(job)));
  if (!row) return std::optional<HandoffRecord>();
  AMP_ASSIGN_OR_RETURN(auto record, HandoffRecord::FromCheckpoint(*row));
  return std::optional<HandoffRecord>(std::move(record));
}

Result<bool> LiveCheckpointExists(LoaderSession& session, const std::string& job) {
  AMP_ASSIGN_OR_RETURN(auto row, session.LoadCheckpoint(job));
  return row.has_value();
}

}  // namespace amp::parallel
