// Audit(): walks the interval chunk by chunk, digests both sides per block (row_digest.h)
// and classifies the blocks that differ. See amp/audit.h for the contract.
#include "amp/audit.h"

#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <sstream>

#include "amp/builtin_loaders.h"
#include "audit/row_digest.h"
#include "sql/query_text.h"

namespace amp {
namespace {

using audit::BlockDigest;
using Digests = std::map<BlockNumber, BlockDigest>;

constexpr const char* kSource = "audit";
constexpr BlockNumber kMaxSqlBlock = static_cast<BlockNumber>(std::numeric_limits<int64_t>::max());
// The first chunk is small: it also finds the source's head, and the density is unknown.
constexpr uint64_t kFirstChunkBlocks = 1'000;

Status Fatal(Status status, const std::string& code) {
  return WithErrorInfo(status, ErrorClass::kFatal, kSource, code);
}

bool IsBlockType(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::UINT64:
    case arrow::Type::INT64:
    case arrow::Type::UINT32:
    case arrow::Type::INT32: return true;
    default: return false;
  }
}

// The block column: the requested one (any integer type), else `_block_num` / `block_num`
// of type UInt64, as the load picked it (LoadOptions::block_column).
Result<std::string> ResolveBlockColumn(const arrow::Schema& schema, const std::string& requested) {
  if (!requested.empty()) {
    auto field = schema.GetFieldByName(requested);
    if (field == nullptr) {
      return Fatal(Status::Invalid("audit: block column \"", requested,
                                   "\" is not a column of the query"),
                   "block-column");
    }
    if (!IsBlockType(*field->type())) {
      return Fatal(Status::Invalid("audit: block column \"", requested, "\" has type ",
                                   field->type()->ToString(), ", expected an integer type"),
                   "block-column");
    }
    return requested;
  }
  for (const char* name : {"_block_num", "block_num"}) {
    auto field = schema.GetFieldByName(name);
    if (field != nullptr && field->type()->id() == arrow::Type::UINT64) return std::string(name);
  }
  return Fatal(Status::Invalid("audit needs a block column to compare block by block, and the "
                               "query returns neither _block_num nor block_num (UInt64): select "
                               "one of them, or name another integer column (--block-column)"),
               "no-block-column");
}

struct SourceChunk {
  Digests digests;
  std::optional<BlockNumber> head;  // end of the batch query's ranges
};

Result<SourceChunk> ReadSource(const Client& client, const std::string& query,
                               const QueryOptions& query_options,
                               const std::vector<std::string>& columns,
                               const std::string& block_column, const BlockInterval& blocks) {
  // Audit reads in batches, so the query's `stream` setting is dropped with the rest of
  // the SETTINGS rule of sql/query_text.h.
  AMP_ASSIGN_OR_RETURN(sql::SplitQuery split, sql::SplitSettings(query));
  const std::string sql =
      sql::Wrap(split, "_amp_audit",
                "_amp_audit." + sql::QuoteIdentifier(block_column) + " BETWEEN " +
                    std::to_string(blocks.start) + " AND " +
                    std::to_string(std::min(blocks.end, kMaxSqlBlock)));
  AMP_ASSIGN_OR_RETURN(auto stream, client.Execute(sql, query_options));
  SourceChunk chunk;
  while (true) {
    AMP_ASSIGN_OR_RETURN(auto item, stream->Next());
    if (!item) break;
    for (const BlockRange& range : item->metadata.ranges) {
      chunk.head = chunk.head ? std::min(*chunk.head, range.end) : range.end;
    }
    if (item->batch == nullptr || item->batch->num_rows() == 0) continue;
    Status st =
        audit::AccumulateBlocks(*item->batch, columns, block_column, blocks, &chunk.digests);
    if (!st.ok()) return st.WithMessage("audit: source rows: ", st.message());
  }
  return chunk;
}

Result<Digests> ReadDestination(Loader& loader, const TableSpec& spec,
                                const std::vector<std::string>& columns,
                                const BlockInterval& blocks) {
  AMP_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Table> rows, loader.ReadRows(spec, blocks));
  Digests digests;
  arrow::TableBatchReader reader(*rows);
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    AMP_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (batch == nullptr) break;
    // ReadRows may return rows of neighbouring blocks (a microbatch span): `blocks` keeps
    // each row in the chunk of its own block.
    Status st = audit::AccumulateBlocks(*batch, columns, spec.block_column, blocks, &digests);
    if (!st.ok()) return st.WithMessage("audit: destination rows: ", st.message());
  }
  return digests;
}

void Classify(const Digests& source, const Digests& destination, AuditReport* report) {
  auto s = source.begin();
  auto d = destination.begin();
  while (s != source.end() || d != destination.end()) {
    BlockNumber block;
    const BlockDigest* src = nullptr;
    const BlockDigest* dst = nullptr;
    if (d == destination.end() || (s != source.end() && s->first < d->first)) {
      block = s->first;
      src = &(s++)->second;
    } else if (s == source.end() || d->first < s->first) {
      block = d->first;
      dst = &(d++)->second;
    } else {
      block = s->first;
      src = &(s++)->second;
      dst = &(d++)->second;
    }
    ++report->blocks_checked;
    if (src != nullptr) report->rows_source += src->rows;
    if (dst != nullptr) report->rows_destination += dst->rows;
    switch (audit::Compare(src, dst)) {
      case audit::BlockVerdict::kMatch: break;
      case audit::BlockVerdict::kMissing: report->missing.push_back(block); break;
      case audit::BlockVerdict::kDuplicate: report->duplicate.push_back(block); break;
      case audit::BlockVerdict::kStale: report->stale.push_back(block); break;
    }
  }
}

}  // namespace

std::string FormatBlockList(const std::vector<BlockNumber>& blocks, size_t max_listed) {
  std::string out;
  size_t listed = 0;
  size_t i = 0;
  while (i < blocks.size()) {
    size_t j = i;
    while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1) ++j;
    if (listed == max_listed) {
      out += (out.empty() ? "" : ", ");
      out += "... and " + std::to_string(blocks.size() - i) + " more";
      break;
    }
    out += (out.empty() ? "" : ", ") + std::to_string(blocks[i]);
    if (j > i) out += "..=" + std::to_string(blocks[j]);
    ++listed;
    i = j + 1;
  }
  return out;
}

std::string AuditReport::ToString(size_t max_listed) const {
  std::ostringstream out;
  out << "audit of blocks " << range.start << "..=" << range.end;
  if (!end_from.empty()) out << " (end: " << end_from << ")";
  if (ok()) {
    out << ": OK\n";
  } else {
    out << ": MISMATCH (" << missing.size() << " missing, " << duplicate.size()
        << " duplicate, " << stale.size() << " stale)\n";
  }
  out << "  blocks with rows: " << blocks_checked << ", rows: source " << rows_source
      << ", destination " << rows_destination << "\n";
  auto category = [&](const char* name, const std::vector<BlockNumber>& blocks) {
    if (blocks.empty()) return;
    out << "  " << name << ": " << blocks.size() << (blocks.size() == 1 ? " block: " : " blocks: ")
        << FormatBlockList(blocks, max_listed) << "\n";
  };
  category("missing", missing);
  category("duplicate", duplicate);
  category("stale", stale);
  return out.str();
}

Result<AuditReport> Audit(const Client& client, const std::string& query, Loader& loader,
                          const std::string& table, const AuditOptions& options) {
  if (options.chunk_blocks == 0 || options.chunk_rows == 0) {
    return Fatal(Status::Invalid("audit: chunk_blocks and chunk_rows must be positive"), "options");
  }
  QueryOptions query_options = options.query_options;
  query_options.stream = false;  // the batch form of the query, through the amp-stream header
  query_options.resume.reset();

  AMP_ASSIGN_OR_RETURN(Client::QueryInfo info, client.GetInfo(query, query_options));
  if (info.schema == nullptr) return Status::Invalid("audit: the server sent no schema");
  AMP_ASSIGN_OR_RETURN(std::string block_column,
                       ResolveBlockColumn(*info.schema, options.block_column));
  std::vector<std::string> columns;
  for (const auto& field : info.schema->fields()) {
    // The loaders' own columns never come from a query (EnsureTable refuses them).
    if (field->name() == "_amp_block_start" || field->name() == "_amp_block_end") continue;
    columns.push_back(field->name());
  }
  TableSpec spec;
  spec.name = table;
  spec.schema = info.schema;
  spec.block_column = block_column;

  AuditReport report;
  report.range.start = options.from_block.value_or(0);
  std::optional<BlockNumber> end;
  if (options.to_block) {
    end = *options.to_block;
    report.end_from = "option";
  } else {
    const std::string stream_id =
        options.stream_id.empty() ? MakeStreamId(query, table) : options.stream_id;
    AMP_ASSIGN_OR_RETURN(auto session, loader.OpenSession());
    AMP_ASSIGN_OR_RETURN(std::optional<StreamCheckpoint> checkpoint,
                         session->LoadCheckpoint(stream_id));
    session.reset();
    if (checkpoint && !checkpoint->cursor.empty()) {
      // One network in practice; with several, the blocks every network has completed.
      for (const auto& [network, cursor] : checkpoint->cursor.networks) {
        end = end ? std::min(*end, cursor.number) : cursor.number;
      }
      report.end_from = "checkpoint";
    }
  }
  if (end && *end < report.range.start) {
    return Fatal(Status::Invalid("audit: from block ", report.range.start,
                                 " is past the end block ", *end, " (", report.end_from, ")"),
                 "options");
  }
  report.range.end = end.value_or(report.range.start);

  BlockNumber start = report.range.start;
  uint64_t chunk = std::min(options.chunk_blocks, kFirstChunkBlocks);
  while (true) {
    if (options.stop_token.stop_requested()) return Status::Cancelled("audit: stopped");
    BlockNumber chunk_end = start > kMaxBlock - (chunk - 1) ? kMaxBlock : start + (chunk - 1);
    if (end) chunk_end = std::min(chunk_end, *end);
    AMP_ASSIGN_OR_RETURN(SourceChunk source,
                         ReadSource(client, query, query_options, columns, block_column,
                                    {start, chunk_end}));
    if (!end) {
      if (!source.head) {
        return Fatal(Status::Invalid("audit: cannot tell where to stop: the destination has no "
                                     "checkpoint of this stream and the source's batch query "
                                     "reports no block ranges; give the last block (to_block)"),
                     "no-end");
      }
      end = *source.head;
      report.end_from = "source head";
      if (*end < report.range.start) {
        return Fatal(Status::Invalid("audit: from block ", report.range.start,
                                     " is past the source's head ", *end),
                     "options");
      }
      report.range.end = *end;
      if (chunk_end > *end) {
        chunk_end = *end;
        source.digests.erase(source.digests.upper_bound(*end), source.digests.end());
      }
    }
    AMP_ASSIGN_OR_RETURN(Digests destination,
                         ReadDestination(loader, spec, columns, {start, chunk_end}));
    const uint64_t source_before = report.rows_source, destination_before = report.rows_destination;
    Classify(source.digests, destination, &report);
    if (options.on_chunk) options.on_chunk({report.range.start, chunk_end}, report);
    if (chunk_end >= *end) break;

    // Next chunk: about chunk_rows rows at the density just seen, within [1, chunk_blocks].
    const uint64_t blocks = chunk_end - start + 1;
    const uint64_t rows = std::max(report.rows_source - source_before,
                                   report.rows_destination - destination_before);
    if (rows == 0) {
      chunk = blocks > options.chunk_blocks / 2 ? options.chunk_blocks : blocks * 2;
    } else {
      const long double estimate =
          static_cast<long double>(blocks) * options.chunk_rows / static_cast<long double>(rows);
      chunk = static_cast<uint64_t>(std::clamp<long double>(estimate, 1, options.chunk_blocks));
    }
    start = chunk_end + 1;
  }
  return report;
}

Result<AuditReport> Audit(const Client& client, const std::string& query,
                          const ConnectionSpec& destination, const std::string& table,
                          const AuditOptions& options) {
  AMP_ASSIGN_OR_RETURN(std::unique_ptr<Loader> loader,
                       BuiltinLoaders().Create(destination.loader, destination.config));
  return Audit(client, query, *loader, table, options);
}

}  // namespace amp
