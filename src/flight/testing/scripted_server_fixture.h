// A GoogleTest fixture with a scripted Flight server of its own, started before each test:
//
//   class EngineTest : public amp::testing::ScriptedServerTest {
//     void SetUpWithServer() override { client_ = std::make_unique<Client>(server_->url()); }
//   };
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
    SetUpWithServer();
  }
  /// The derived fixture's own setup, once server_ runs (clients connect to its url()).
  virtual void SetUpWithServer() {}

  std::unique_ptr<ScriptedFlightServer> server_;
};

}  // namespace amp::testing
