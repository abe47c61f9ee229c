// The devnet the audit tests read: an ephemeral port, no block timer, and no Amp login of the
// developer's own leaking in (an empty HOME and no token).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "amp/devnet.h"
#include "common/testing/status_matchers.h"

namespace amp::audit_testing {

inline std::unique_ptr<DevnetServer> StartAuditDevnet(uint64_t history, uint64_t logs_per_block) {
  setenv("HOME", "/nonexistent-amp-audit-test", 1);
  unsetenv("AMP_AUTH_TOKEN");
  DevnetOptions options;
  options.port = 0;
  options.history = history;
  options.block_time_ms = 0;
  options.logs_per_block = logs_per_block;
  return ValueOrDie(DevnetServer::Start(options));
}

}  // namespace amp::audit_testing
