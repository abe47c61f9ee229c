#include "proto/command.h"

#include <google/protobuf/any.pb.h>

#include "flight_sql_command.pb.h"

namespace amp::proto {

std::string EncodeStatementQuery(const std::string& sql) {
  arrow::flight::protocol::sql::CommandStatementQuery command;
  command.set_query(sql);
  google::protobuf::Any any;
  any.PackFrom(command);  // default prefix "type.googleapis.com/", as Python's Any.Pack()
  return any.SerializeAsString();
}

Result<std::string> DecodeStatementQuery(std::string_view cmd) {
  google::protobuf::Any any;
  if (!any.ParseFromArray(cmd.data(), static_cast<int>(cmd.size()))) {
    return Status::Invalid("unsupported flight descriptor command: not a protobuf Any");
  }
  if (any.type_url() != kCommandStatementQueryTypeUrl) {
    return Status::Invalid("unsupported flight descriptor command: ", any.type_url());
  }
  arrow::flight::protocol::sql::CommandStatementQuery command;
  if (!any.UnpackTo(&command)) {
    return Status::Invalid("unsupported flight descriptor command: malformed CommandStatementQuery");
  }
  return command.query();
}

}  // namespace amp::proto
