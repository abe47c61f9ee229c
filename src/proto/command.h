// Encoding and decoding of the FlightDescriptor command Amp accepts: a google.protobuf.Any
// wrapping arrow.flight.protocol.sql.CommandStatementQuery{query}.
#pragma once

#include <string>
#include <string_view>

#include "amp/status.h"

namespace amp::proto {

inline constexpr std::string_view kCommandStatementQueryTypeUrl =
    "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery";

/// Serialized Any{type_url, CommandStatementQuery{query}}.
std::string EncodeStatementQuery(const std::string& sql);

/// The SQL of a serialized command. Invalid with Amp's message when the bytes are not an
/// Any or its type_url is not exactly CommandStatementQuery's
/// ("unsupported flight descriptor command: <type_url>").
Result<std::string> DecodeStatementQuery(std::string_view cmd);

}  // namespace amp::proto
