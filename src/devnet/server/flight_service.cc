#include "devnet/server/flight_service.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/buffer.h>
#include <arrow/flight/types.h>
#include <nlohmann/json.hpp>

#include "devnet/server/catalog.h"
#include "devnet/server/query_stream.h"
#include "devnet/server/ticket.h"
#include "devnet/sql/engine.h"
#include "devnet/tables.h"
#include "proto/command.h"

namespace amp::devnet::server {
namespace {

namespace flight = arrow::flight;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::string_view> Header(const flight::ServerCallContext& context,
                                       std::string_view key) {
  const auto& headers = context.incoming_headers();
  auto it = headers.find(key);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

// Planner errors as ampd reports them. ampd infers the output schema while planning; an
// unknown table, dataset or column fails there, and that error is INTERNAL with its cause
// chain: "failed to infer SQL output schema | Caused by: Error during planning: table
// 'eth_firehose.nope' not found" (DataFusion's Schema error for a column). Other planning
// errors (syntax, types, constructs) stay INVALID_ARGUMENT. Details are dropped because
// Arrow appends them to the gRPC message text.
constexpr std::string_view kSchemaInference = "failed to infer SQL output schema | Caused by: ";

Status PlanningError(const Status& st) {
  if (st.IsKeyError()) {
    return InternalError(std::string(kSchemaInference) + "Error during planning: " + st.message());
  }
  if (st.IsInvalid() && st.message().rfind("No field named ", 0) == 0) {
    return InternalError(std::string(kSchemaInference) + "Schema error: " + st.message());
  }
  if (st.IsInvalid()) return Status(st.code(), st.message());
  if (st.IsTypeError() || st.IsNotImplemented()) return Status::Invalid(st.message());
  return InternalError("planning failed: " + st.ToString());
}

Result<std::unique_ptr<sql::Plan>> PlanSql(std::string_view sql) {
  DevnetCatalog catalog;
  auto plan = sql::PlanQuery(sql, catalog, {.defer_non_incremental = true});
  if (!plan.ok()) return PlanningError(plan.status());
  return std::move(*plan);
}

bool HasDictionary(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) return true;
  for (const auto& child : type.fields()) {
    if (HasDictionary(*child->type())) return true;
  }
  return false;
}

Result<nlohmann::json> ParseBody(const std::shared_ptr<arrow::Buffer>& body, const char* action) {
  const std::string copy = body != nullptr ? body->ToString() : std::string();
  if (copy.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
  auto doc = nlohmann::json::parse(copy, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Invalid(action, ": body must be a JSON object, got '", copy, "'");
  }
  return doc;
}

Result<uint64_t> UnsignedField(const nlohmann::json& doc, const char* key, uint64_t fallback,
                               const char* action) {
  auto it = doc.find(key);
  if (it == doc.end()) return fallback;
  if (!it->is_number_unsigned()) {
    return Status::Invalid(action, ": '", key, "' must be a non-negative integer");
  }
  return it->get<uint64_t>();
}

std::unique_ptr<flight::ResultStream> SingleResult(std::string body) {
  std::vector<flight::Result> results(1);
  results[0].body = arrow::Buffer::FromString(std::move(body));
  return std::make_unique<flight::SimpleResultStream>(std::move(results));
}

}  // namespace

std::string ChainStatusJson(const Chain& chain) {
  // Read the counters first: the snapshot is at least as new as they are.
  const uint64_t generation = chain.generation();
  const uint64_t produced = chain.produced();
  auto snapshot = chain.Snapshot();
  nlohmann::json doc = {{"generation", generation}, {"produced", produced}};
  // No block yet (history 0): head and head_hash are null.
  doc["head"] = snapshot->empty() ? nlohmann::json() : nlohmann::json(snapshot->head());
  doc["head_hash"] = snapshot->empty() ? nlohmann::json()
                                       : nlohmann::json(snapshot->hash(snapshot->head()).ToHex());
  return doc.dump();
}

std::string FaultsToJson(const DevnetFaults& faults) {
  nlohmann::json doc = {{"bandwidth_bytes_per_second", faults.bandwidth_bytes_per_second},
                        {"drop_stream_after_messages", faults.drop_stream_after_messages},
                        {"fail_next_calls", faults.fail_next_calls},
                        {"message_delay_ms", faults.message_delay.count()},
                        {"query_latency_ms", faults.query_latency.count()}};
  if (const auto& touch = faults.fail_queries_touching) {
    doc["fail_queries_touching"] = {
        {"first", touch->first},
        {"last", touch->last},
        {"code", touch->code == DevnetFaultCode::kUnavailable ? "UNAVAILABLE" : "INTERNAL"}};
  }
  return doc.dump();
}

namespace {

Result<std::optional<DevnetBlockFault>> BlockFaultFromJson(const nlohmann::json& doc) {
  const char* what = "fail_queries_touching";
  auto it = doc.find(what);
  if (it == doc.end() || it->is_null()) return std::optional<DevnetBlockFault>();
  DevnetBlockFault fault;
  if (it->is_number_unsigned()) {
    fault.first = fault.last = it->get<uint64_t>();
    return std::optional<DevnetBlockFault>(fault);
  }
  if (!it->is_object()) {
    return Status::Invalid(kActionSetFaults, ": '", what,
                           "' must be a block number or {\"first\":A,\"last\":B,\"code\":C}");
  }
  for (auto field = it->begin(); field != it->end(); ++field) {
    if (field.key() != "first" && field.key() != "last" && field.key() != "code") {
      return Status::Invalid(kActionSetFaults, ": unknown field '", what, ".", field.key(), "'");
    }
  }
  if (!it->contains("first")) {
    return Status::Invalid(kActionSetFaults, ": '", what, "' needs 'first'");
  }
  AMP_ASSIGN_OR_RETURN(fault.first, UnsignedField(*it, "first", 0, kActionSetFaults));
  AMP_ASSIGN_OR_RETURN(fault.last, UnsignedField(*it, "last", fault.first, kActionSetFaults));
  if (fault.last < fault.first) {
    return Status::Invalid(kActionSetFaults, ": '", what, "' has last < first");
  }
  auto code = it->find("code");
  if (code != it->end()) {
    const std::string text = code->is_string() ? Lower(code->get<std::string>()) : "";
    if (text == "internal") {
      fault.code = DevnetFaultCode::kInternal;
    } else if (text == "unavailable") {
      fault.code = DevnetFaultCode::kUnavailable;
    } else {
      return Status::Invalid(kActionSetFaults, ": '", what,
                             ".code' must be \"INTERNAL\" or \"UNAVAILABLE\"");
    }
  }
  return std::optional<DevnetBlockFault>(fault);
}

}  // namespace

Result<DevnetFaults> FaultsFromJson(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Invalid(kActionSetFaults, ": body must be a JSON object");
  }
  static constexpr const char* kKeys[] = {"bandwidth_bytes_per_second",
                                          "drop_stream_after_messages", "fail_next_calls",
                                          "message_delay_ms", "query_latency_ms",
                                          "fail_queries_touching"};
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (std::find_if(std::begin(kKeys), std::end(kKeys),
                     [&](const char* k) { return it.key() == k; }) == std::end(kKeys)) {
      return Status::Invalid(kActionSetFaults, ": unknown field '", it.key(), "'");
    }
  }
  DevnetFaults f;
  AMP_ASSIGN_OR_RETURN(f.bandwidth_bytes_per_second,
                       UnsignedField(doc, "bandwidth_bytes_per_second", 0, kActionSetFaults));
  AMP_ASSIGN_OR_RETURN(f.drop_stream_after_messages,
                       UnsignedField(doc, "drop_stream_after_messages", 0, kActionSetFaults));
  AMP_ASSIGN_OR_RETURN(f.fail_next_calls,
                       UnsignedField(doc, "fail_next_calls", 0, kActionSetFaults));
  AMP_ASSIGN_OR_RETURN(uint64_t delay, UnsignedField(doc, "message_delay_ms", 0, kActionSetFaults));
  AMP_ASSIGN_OR_RETURN(uint64_t latency,
                       UnsignedField(doc, "query_latency_ms", 0, kActionSetFaults));
  f.message_delay = std::chrono::milliseconds(delay);
  f.query_latency = std::chrono::milliseconds(latency);
  AMP_ASSIGN_OR_RETURN(f.fail_queries_touching, BlockFaultFromJson(doc));
  return f;
}

FlightService::FlightService(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}

Status FlightService::AdmitQueryCall(const flight::ServerCallContext& context) {
  const std::string& token = state_->config.require_token;
  if (!token.empty()) {
    const std::string expected = "Bearer " + token;
    bool ok = false;
    const auto& headers = context.incoming_headers();
    for (auto [it, end] = headers.equal_range("authorization"); it != end; ++it) {
      if (it->second == expected) ok = true;
    }
    if (!ok) return UnauthenticatedError("missing or invalid bearer token");
  }
  if (state_->faults.TakeCallFailure()) {
    return UnavailableError("injected fault: call failed (fail_next_calls)");
  }
  const auto latency = state_->faults.Get().query_latency;
  if (latency.count() > 0) AMP_RETURN_NOT_OK(SleepWhileAlive(*state_, context, latency));
  return Status::OK();
}

Status FlightService::GetFlightInfo(const flight::ServerCallContext& context,
                                    const flight::FlightDescriptor& request,
                                    std::unique_ptr<flight::FlightInfo>* info) {
  AMP_RETURN_NOT_OK(AdmitQueryCall(context));
  if (request.type != flight::FlightDescriptor::CMD) {
    return Status::Invalid("unsupported flight descriptor type");
  }
  auto sql = proto::DecodeStatementQuery(request.cmd);
  if (!sql.ok()) return Status::Invalid(sql.status().message());
  AMP_ASSIGN_OR_RETURN(auto plan, PlanSql(*sql));

  AmpTicket ticket;
  ticket.query = *sql;
  ticket.is_streaming = plan->streaming_setting();
  if (auto stream = Header(context, "amp-stream")) {
    const std::string v = Lower(*stream);
    if (v == "true" || v == "1") ticket.is_streaming = true;
    if (v == "false" || v == "0") ticket.is_streaming = false;
  }
  // ampd would run it as a batch query, the devnet cannot: refuse it (a stream of it is
  // refused at DoGet, as ampd refuses any non-incremental stream).
  if (!ticket.is_streaming && plan->batch_refusal()) return Status::Invalid(*plan->batch_refusal());
  if (auto resume = Header(context, "amp-resume")) {
    // Amp: serde_json::from_slice(..).ok(), a malformed cursor is silently ignored.
    auto cursor = Cursor::FromJson(*resume);
    if (cursor.ok()) ticket.cursor = cursor->networks;
  }

  flight::FlightEndpoint endpoint;
  endpoint.ticket.ticket = EncodeTicket(ticket);
  AMP_ASSIGN_OR_RETURN(auto made, flight::FlightInfo::Make(*plan->output_schema(), request,
                                                           {endpoint}, /*total_records=*/-1,
                                                           /*total_bytes=*/-1, /*ordered=*/false));
  *info = std::make_unique<flight::FlightInfo>(std::move(made));
  return Status::OK();
}

Status FlightService::DoGet(const flight::ServerCallContext& context,
                            const flight::Ticket& request,
                            std::unique_ptr<flight::FlightDataStream>* stream) {
  AMP_RETURN_NOT_OK(AdmitQueryCall(context));
  auto ticket = DecodeTicket(request.ticket);
  if (!ticket.ok()) return Status::Invalid(ticket.status().message());
  AMP_ASSIGN_OR_RETURN(auto plan, PlanSql(ticket->query));
  if (!ticket->is_streaming) {
    if (const auto touch = state_->faults.Get().fail_queries_touching) {
      const sql::BlockBounds bounds = plan->block_bounds();
      // Only block-range queries (an upper bound on the block): a head query (MAX) or a
      // full scan is not a partition, and hybrid/backfill planning must still work.
      const bool bounded = bounds.max != UINT64_MAX;
      if (bounded && !bounds.empty() && bounds.min <= touch->last && touch->first <= bounds.max) {
        const std::string message =
            "injected fault: query reads blocks [" + std::to_string(bounds.min) + ", " +
            std::to_string(bounds.max) + "], which include failing blocks [" +
            std::to_string(touch->first) + ", " + std::to_string(touch->last) +
            "] (fail_queries_touching)";
        return touch->code == DevnetFaultCode::kUnavailable ? UnavailableError(message)
                                                             : InternalError(message);
      }
    }
  }
  if (!ticket->is_streaming && plan->batch_refusal()) return Status::Invalid(*plan->batch_refusal());
  if (ticket->is_streaming && !plan->is_incremental()) {
    // ampd's wording (flight.rs execute_plan under its "invalid query: " prefix), naming
    // the operation as DataFusion does.
    return Status::Invalid(
        "invalid query: non-incremental queries are not supported for streaming, query "
        "contains non-incremental operation: ",
        plan->non_incremental_operation().value_or("Unknown"));
  }
  for (const auto& field : plan->output_schema()->fields()) {
    if (HasDictionary(*field->type())) {
      return InternalError("column '" + field->name() +
                           "' is dictionary-encoded, which the devnet server cannot send");
    }
  }
  auto table = TableFromName(plan->source_table().table);
  if (!table.ok()) return PlanningError(table.status());
  auto executor = plan->MakeExecutor();
  if (!executor.ok()) return InternalError("cannot execute query: " + executor.status().ToString());

  QueryStreamParams params;
  params.state = state_;
  params.context = &context;
  params.table = *table;
  params.streaming = ticket->is_streaming;
  if (ticket->is_streaming && ticket->cursor.has_value()) {
    // As ampd: the cursor is reduced to the query's network, and none for it (the empty
    // cursor `{}` too) is its ConvertCursor error. Any (number, hash) is accepted: a hash
    // never seen restarts at that block, a number above the head waits for it (QueryStream).
    const std::string& network = state_->config.network;
    auto it = ticket->cursor->find(network);
    if (it == ticket->cursor->end()) {
      std::string have;
      for (const auto& [name, c] : *ticket->cursor) have += (have.empty() ? "" : ", ") + name;
      return InternalError("failed to convert cursor: no entry for network '" + network +
                           "' (cursor has: " + (have.empty() ? "none" : have) + ")");
    }
    params.resume = it->second;
  }
  params.plan = std::move(plan);
  params.executor = std::move(*executor);
  *stream = std::make_unique<QueryStream>(std::move(params));
  return Status::OK();
}

Status FlightService::DoAction(const flight::ServerCallContext& context,
                               const flight::Action& action,
                               std::unique_ptr<flight::ResultStream>* result) {
  Chain& chain = *state_->chain;
  if (action.type == kActionSetFaults) {
    std::string body = action.body ? action.body->ToString() : std::string();
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) body = "{}";
    AMP_ASSIGN_OR_RETURN(auto faults, FaultsFromJson(body));
    state_->faults.Set(faults);
    *result = SingleResult(FaultsToJson(state_->faults.Get()));
    return Status::OK();
  }
  if (action.type == kActionReorg) {
    AMP_ASSIGN_OR_RETURN(auto doc, ParseBody(action.body, kActionReorg));
    AMP_ASSIGN_OR_RETURN(uint64_t depth, UnsignedField(doc, "depth", 0, kActionReorg));
    if (depth == 0 || depth > UINT32_MAX) {
      return Status::Invalid(kActionReorg, ": body must be {\"depth\": N} with N >= 1");
    }
    auto st = chain.Reorg(static_cast<uint32_t>(depth));
    if (!st.ok()) return Status::Invalid(kActionReorg, ": ", st.message());
    *result = SingleResult(ChainStatusJson(chain));
    return Status::OK();
  }
  if (action.type == kActionProduce) {
    AMP_ASSIGN_OR_RETURN(auto doc, ParseBody(action.body, kActionProduce));
    AMP_ASSIGN_OR_RETURN(uint64_t count, UnsignedField(doc, "count", 1, kActionProduce));
    if (count > 1'000'000) return Status::Invalid(kActionProduce, ": count above 1000000");
    for (uint64_t i = 0; i < count; ++i) chain.ProduceBlock();
    *result = SingleResult(ChainStatusJson(chain));
    return Status::OK();
  }
  if (action.type == kActionStatus) {
    *result = SingleResult(ChainStatusJson(chain));
    return Status::OK();
  }
  // Amp implements no actions at all.
  return Status::NotImplemented("action '", action.type, "' is not implemented");
}

}  // namespace amp::devnet::server
