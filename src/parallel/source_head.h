// What the source says before a parallel load plans: the head of the source table and the
// hash of the hybrid hand-off block, each one batch query through the transport.
#pragma once

#include <optional>
#include <stop_token>
#include <string>

#include "amp/client.h"
#include "amp/parallel.h"
#include "amp/status.h"
#include "amp/types.h"

namespace amp::parallel {

struct Head {
  std::string network;  ///< "" when the server reported no synced range (the MAX fallback).
  BlockNumber number = 0;
  BlockHash hash;       ///< Zero when the network is unknown.
};

/// The head of config.table_name: the synced range a batch query reports (amp-protocol.md
/// §2.4: app_metadata ranges of a batch query are the tables' synced ranges), else the
/// query's MAX of the block column. nullopt: the table has no data yet. A source spanning
/// several networks is kFatal MULTI_NETWORK.
Result<std::optional<Head>> DetectHead(const Client& client, const ParallelConfig& config,
                                       const std::stop_token& stop);

/// The hash of block `number`, read from `blocks_table` (for the hybrid hand-off cursor).
/// A query the server refuses, or a result without a 32-byte `hash`, is kFatal
/// HANDOFF_HASH naming the setting to change; retryable errors pass through.
Result<BlockHash> BlockHashAt(const Client& client, const std::string& blocks_table,
                              BlockNumber number, const std::stop_token& stop);

}  // namespace amp::parallel
