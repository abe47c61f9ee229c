#include "devnet_flags.h"

#include <cctype>
#include <charconv>
#include <string_view>

namespace amp::cli {

void AddDevnetFlags(CLI::App& cmd, DevnetFlags& flags) {
  DevnetOptions& o = flags.options;
  cmd.add_option("--host", o.host, "Address to bind")->capture_default_str();
  cmd.add_option("--port", o.port, "Flight port (0 picks a free one)")->capture_default_str();
  cmd.add_option("--seed", o.seed, "Chain seed: same seed and options, same chain and reorgs")
      ->capture_default_str();
  cmd.add_option("--history", o.history,
                 "Blocks present at start (0..history-1); 0: nothing synced until the first "
                 "live block")
      ->capture_default_str();
  cmd.add_option("--unsynced-tables", flags.unsynced_tables,
                 "Comma-separated tables (e.g. logs) that stay empty, nothing synced, while "
                 "the others grow");
  cmd.add_option("--chunking", flags.chunking,
                 "FlightData messages: large (~2 MiB each) or ampd (one per block, as ampd "
                 "sends one per storage file; start-of-microbatch keep-alive mostly skipped)")
      ->capture_default_str();
  cmd.add_option("--reorg-delay-ms", flags.reorg_delay_ms,
                 "A reorg reaches the wire this many ms after it happened (ampd: seconds)")
      ->capture_default_str();
  cmd.add_option("--block-time", o.block_time_ms, "Milliseconds between new blocks (0: no live blocks)")
      ->capture_default_str();
  cmd.add_option("--txs-per-block", o.txs_per_block, "Transactions per block")->capture_default_str();
  cmd.add_option("--logs-per-block", o.logs_per_block, "Logs per block")->capture_default_str();
  cmd.add_option("--reorg-every", o.reorg_every, "A reorg every N produced blocks (0: never)")
      ->capture_default_str();
  cmd.add_option("--reorg-depth", flags.reorg_depth, "Reorg depth range MIN-MAX (or N)")->capture_default_str();
  cmd.add_option("--halt-at", flags.halt_at, "Stop producing at this head (0: never)");
  cmd.add_option("--microbatch-blocks", o.microbatch_blocks, "Largest streaming microbatch in blocks")
      ->capture_default_str();
  cmd.add_option("--keep-alive-ms", flags.keep_alive_ms, "Keep-alive period during a long microbatch")
      ->capture_default_str();
  cmd.add_option("--require-token", o.require_token, "Require 'authorization: Bearer <token>'");
  cmd.add_option("--drop-stream-after", o.faults.drop_stream_after_messages,
                 "Fault: end each DoGet stream with UNAVAILABLE after N messages");
  cmd.add_option("--fail-next-calls", o.faults.fail_next_calls,
                 "Fault: fail the next N GetFlightInfo/DoGet calls with UNAVAILABLE");
  cmd.add_option("--message-delay-ms", flags.message_delay_ms, "Fault: delay before each message");
  cmd.add_option("--query-latency-ms", flags.query_latency_ms,
                 "Fault: latency added to each GetFlightInfo and DoGet");
  cmd.add_option("--bandwidth", o.faults.bandwidth_bytes_per_second,
                 "Fault: per-stream cap in bytes per second (0: unlimited)");
  cmd.add_option("--fail-queries-touching", flags.fail_queries_touching,
                 "Fault: batch queries reading any block of A[-B] fail with INTERNAL "
                 "(suffix :unavailable for UNAVAILABLE), e.g. 5000-5099:unavailable");
  cmd.add_option("--skew", o.skew,
                 "Hot ranges: the first --skew-hot-percent % of every --skew-window blocks "
                 "carry SKEW times the transactions and logs (0/1: off)")
      ->capture_default_str();
  cmd.add_option("--skew-window", o.skew_window, "Hot ranges: window size in blocks")
      ->capture_default_str();
  cmd.add_option("--skew-hot-percent", o.skew_hot_percent,
                 "Hot ranges: percent of each window that is hot (1..100)")
      ->capture_default_str();
}

Result<DevnetBlockFault> ParseBlockFault(std::string_view text) {
  DevnetBlockFault fault;
  auto bad = [&] {
    return Status::Invalid("--fail-queries-touching must be A or A-B with A <= B, optionally "
                           "followed by :internal or :unavailable, got '", text, "'");
  };
  std::string_view range = text;
  const size_t colon = text.find(':');
  if (colon != std::string_view::npos) {
    range = text.substr(0, colon);
    std::string code(text.substr(colon + 1));
    for (char& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (code == "internal") {
      fault.code = DevnetFaultCode::kInternal;
    } else if (code == "unavailable") {
      fault.code = DevnetFaultCode::kUnavailable;
    } else {
      return bad();
    }
  }
  auto number = [](std::string_view s, uint64_t* out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  };
  const size_t dash = range.find('-');
  if (!number(range.substr(0, dash), &fault.first)) return bad();
  fault.last = fault.first;
  if (dash != std::string_view::npos && !number(range.substr(dash + 1), &fault.last)) return bad();
  if (fault.last < fault.first) return bad();
  return fault;
}

Result<DevnetOptions> ToDevnetOptions(const DevnetFlags& flags) {
  DevnetOptions o = flags.options;
  const std::string& depth = flags.reorg_depth;
  auto parse = [&](std::string_view text, uint32_t* out) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
  };
  size_t dash = depth.find('-');
  std::string_view lo = std::string_view(depth).substr(0, dash);
  std::string_view hi = dash == std::string::npos ? lo : std::string_view(depth).substr(dash + 1);
  if (!parse(lo, &o.reorg_depth_min) || !parse(hi, &o.reorg_depth_max) || o.reorg_depth_min == 0 ||
      o.reorg_depth_min > o.reorg_depth_max) {
    return Status::Invalid("--reorg-depth must be MIN-MAX with 1 <= MIN <= MAX (or one number), got '",
                           depth, "'");
  }
  if (flags.chunking == "large") {
    o.chunking = DevnetChunking::kLarge;
  } else if (flags.chunking == "ampd") {
    o.chunking = DevnetChunking::kAmpd;
  } else {
    return Status::Invalid("--chunking must be 'large' or 'ampd', got '", flags.chunking, "'");
  }
  o.reorg_delay = std::chrono::milliseconds(flags.reorg_delay_ms);
  o.unsynced_tables.clear();
  std::string_view rest = flags.unsynced_tables;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string name(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (name != "blocks" && name != "transactions" && name != "logs" && name != "calls") {
      return Status::Invalid("--unsynced-tables: '", name,
                             "' is not a table of eth_firehose (blocks, transactions, logs, "
                             "calls)");
    }
    o.unsynced_tables.push_back(std::move(name));
  }
  if (o.microbatch_blocks == 0) return Status::Invalid("--microbatch-blocks must be at least 1");
  if (o.port < 0 || o.port > 65535) return Status::Invalid("--port must be 0..65535, got ", o.port);
  if (flags.halt_at) o.halt_at = flags.halt_at;
  o.keep_alive = std::chrono::milliseconds(flags.keep_alive_ms);
  o.faults.message_delay = std::chrono::milliseconds(flags.message_delay_ms);
  o.faults.query_latency = std::chrono::milliseconds(flags.query_latency_ms);
  if (!flags.fail_queries_touching.empty()) {
    AMP_ASSIGN_OR_RETURN(auto fault, ParseBlockFault(flags.fail_queries_touching));
    o.faults.fail_queries_touching = fault;
  }
  if (o.skew > 1 && (o.skew_hot_percent < 1 || o.skew_hot_percent > 100)) {
    return Status::Invalid("--skew-hot-percent must be 1..100, got ", o.skew_hot_percent);
  }
  if (o.skew > 1 && o.skew_window < 1) return Status::Invalid("--skew-window must be at least 1");
  return o;
}

}  // namespace amp::cli
