// File: amp/checkpoint.h
//
// The durable records a load commits together with its rows (LoaderSession::Commit), one
// type per meaning:
//   StreamCheckpoint   where a stream resumes: its cursor and the recent microbatches;
//   PartitionProgress  how far one partition of a parallel load has committed;
//   HandoffRecord      where a hybrid parallel load hands over to its live stream.
// A destination stores every record as a StreamCheckpoint row keyed by its stream_id (the
// shape the first releases wrote, so existing destinations read them with no migration):
//
//   "<job>"                    StreamCheckpoint of the live or streaming load;
//   "<job>/range/<start>"      PartitionProgress, <start> as 20 zero-padded digits so that
//                              ids sort by block; recent_ranges = [{start, done_through}];
//   "<job>/plan"               HandoffRecord; recent_ranges = [{from, head}] with the head's
//                              hash, cursor = {network: handoff} when there is a hand-off.
//
// Each typed record converts to that row (ToCheckpoint) and back (FromCheckpoint, which
// refuses a row of another meaning or shape with kFatal BAD_CHECKPOINT), so only this
// header and src/common/checkpoint.cc know how a record is spelled in storage.
//
//   PartitionProgress progress{.job = job, .start = 0, .done_through = 249'999,
//                              .network = "mainnet", .transaction_id = 3};
//   AMP_ASSIGN_OR_RETURN(StreamCheckpoint row, progress.ToCheckpoint());
//   AMP_RETURN_NOT_OK(session->Commit(&row));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "amp/status.h"
#include "amp/types.h"

namespace amp {

/// Durable resume state of one stream into one destination, committed with its data.
struct StreamCheckpoint {
  /// Identifies the (query, destination table) pair; see MakeStreamId().
  std::string stream_id;
  /// Resume point: the last completed microbatch per network.
  Cursor cursor;
  /// Completed microbatch ranges still within the reorg window, oldest first. After a
  /// restart they seed reorg detection and tell the engine which microbatch a rewind cuts.
  std::vector<BlockRange> recent_ranges;
  /// Id of the last committed unit (monotonic per stream).
  uint64_t transaction_id = 0;

  /// Version 1 JSON: {"version":1,"stream_id":…,"cursor":{…},"recent_ranges":[range…],
  /// "transaction_id":…}, each range in the app_metadata form (amp-protocol.md §2.5).
  std::string ToJson() const;
  /// Inverse of ToJson(); anything else is Invalid, kFatal, code BAD_CHECKPOINT.
  static Result<StreamCheckpoint> FromJson(const std::string& json);
  friend bool operator==(const StreamCheckpoint&, const StreamCheckpoint&) = default;
};

/// Stable id of (query, destination table): 32 hex digits, a digest of the exact query
/// text and the table name (changing either starts a new stream with no checkpoint). The
/// job id of parallel loads, whose records are keyed below it.
std::string MakeStreamId(const std::string& query, const std::string& table);

/// Committed progress of one partition of a parallel load: blocks [start, done_through]
/// are in the destination. A partition's end is not stored: a rerun plans its partitions
/// afresh from the gaps between the spans already done.
struct PartitionProgress {
  std::string job;  ///< The job id (MakeStreamId of query and table, or LoadOptions::stream_id).
  BlockNumber start = 0;         ///< First block of the partition; part of the record's key.
  BlockNumber done_through = 0;  ///< Last block committed (inclusive).
  std::string network;           ///< The source's network, as the server reported it.
  uint64_t transaction_id = 0;   ///< Of the unit that committed this progress.

  /// "<job>/range/<start>", zero-padded to 20 digits.
  static std::string StreamId(const std::string& job, BlockNumber start);
  /// "<job>/range/": the prefix of every partition record of `job`.
  static std::string StreamIdPrefix(const std::string& job);

  /// The stored row; Invalid when done_through < start (such progress cannot be stored).
  Result<StreamCheckpoint> ToCheckpoint() const;
  /// The progress a stored row holds: its id must be "<job>/range/<digits>" and it must
  /// carry exactly one range, which starts at the id's block.
  static Result<PartitionProgress> FromCheckpoint(const StreamCheckpoint& checkpoint);
  friend bool operator==(const PartitionProgress&, const PartitionProgress&) = default;
};

/// The hand-off plan of a hybrid parallel load, saved before any worker writes so that a
/// rerun hands over at the same block whatever it still has to catch up.
struct HandoffRecord {
  std::string job;      ///< The job id.
  std::string network;  ///< The head's network ("" when the server reported none).
  /// The head detected by the first run (number and hash), or none when the source table
  /// was empty then (a rerun detects it again).
  std::optional<NetworkCursor> head;
  /// First block of the catch-up planned with the head (min_block, or the head itself when
  /// min_block lies beyond it): the catch-up covers [from, head].
  BlockNumber from = 0;
  /// The block the live stream resumes after (head - reorg_buffer, never below
  /// min_block - 1), or none when the live stream starts at the server's first block.
  std::optional<NetworkCursor> handoff;

  /// "<job>/plan".
  static std::string StreamId(const std::string& job);

  /// The stored row; Invalid for a hand-off without a head or a head below `from`.
  Result<StreamCheckpoint> ToCheckpoint() const;
  /// The record a stored row holds: its id must be "<job>/plan", with at most one range
  /// (the head) and a cursor of at most one network, that of the head.
  static Result<HandoffRecord> FromCheckpoint(const StreamCheckpoint& checkpoint);
  friend bool operator==(const HandoffRecord&, const HandoffRecord&) = default;
};

}  // namespace amp
