// The devnet's Arrow Flight service: GetFlightInfo and DoGet as Amp's query server
// implements them (amp-protocol.md §1-2), DoAction control actions for out-of-process
// tests, and UNIMPLEMENTED for every other RPC (the FlightServerBase defaults).
#pragma once

#include <memory>

#include <arrow/flight/server.h>

#include "devnet/server/server_state.h"

namespace amp::devnet::server {

/// Action types of the control extension (see amp/devnet.h).
inline constexpr char kActionSetFaults[] = "ampsync.devnet.set_faults";
inline constexpr char kActionReorg[] = "ampsync.devnet.reorg";
inline constexpr char kActionProduce[] = "ampsync.devnet.produce";
inline constexpr char kActionStatus[] = "ampsync.devnet.status";

class FlightService final : public arrow::flight::FlightServerBase {
 public:
  explicit FlightService(std::shared_ptr<ServerState> state);

  Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                       const arrow::flight::FlightDescriptor& request,
                       std::unique_ptr<arrow::flight::FlightInfo>* info) override;
  Status DoGet(const arrow::flight::ServerCallContext& context,
               const arrow::flight::Ticket& request,
               std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;
  Status DoAction(const arrow::flight::ServerCallContext& context,
                  const arrow::flight::Action& action,
                  std::unique_ptr<arrow::flight::ResultStream>* result) override;

 private:
  /// Auth, injected call failures and query latency, common to GetFlightInfo and DoGet.
  Status AdmitQueryCall(const arrow::flight::ServerCallContext& context);

  std::shared_ptr<ServerState> state_;
};

/// The status JSON of "ampsync.devnet.status": {"generation","head","head_hash","produced"}.
std::string ChainStatusJson(const Chain& chain);
/// DevnetFaults <-> the set_faults JSON (durations in ms). Parse: Invalid on bad input.
std::string FaultsToJson(const DevnetFaults& faults);
Result<DevnetFaults> FaultsFromJson(std::string_view json);

}  // namespace amp::devnet::server
