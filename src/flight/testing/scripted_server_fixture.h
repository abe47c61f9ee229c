// A GoogleTest fixture with a scripted Flight server of its own, started before each test:
//
//   class EngineTest : public amp::testing::ScriptedServerTest { /* server_ is running */ };
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "flight/testing/scripted_server.h"

namespace amp::testing {

class ScriptedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ScriptedFlightServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  std::unique_ptr<ScriptedFlightServer> server_;
};

}  // namespace amp::testing
