// A GoogleTest fixture for loads from an in-process devnet into the memory loader, shared
// by load_devnet_test.cc and parallel_load_test.cc: HOME points at an empty temporary
// directory (a developer's own Amp login stays out of the test), the memory store is
// named after the test and emptied before and after, and Start() brings up a devnet with a
// client whose connection "dest" is that store.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "amp/client.h"
#include "amp/load.h"
#include "amp/devnet.h"
#include "common/testing/status_matchers.h"
#include "loaders/memory/memory_loader.h"

namespace amp::testing {

class DevnetMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* home = std::getenv("HOME")) saved_home_ = home;
    std::string tmpl = (std::filesystem::temp_directory_path() / "amp_devnet_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    setenv("HOME", home_.c_str(), 1);
    unsetenv("AMP_AUTH_TOKEN");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    store_name_ = std::string(info->test_suite_name()) + "_" + info->name();
    MemoryStore::Drop(store_name_);
    store_ = MemoryStore::Get(store_name_);
  }

  void TearDown() override {
    session_.reset();
    if (server_) EXPECT_TRUE(server_->Shutdown().ok());
    server_.reset();
    MemoryStore::Drop(store_name_);
    if (saved_home_) setenv("HOME", saved_home_->c_str(), 1);
    std::error_code ignored;
    std::filesystem::remove_all(home_, ignored);
  }

  void Start(const DevnetOptions& options) {
    auto server = DevnetServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    session_ = std::make_unique<Session>(server_->url());
    ASSERT_OK(session_->status());
    ASSERT_OK(session_->configure_connection("dest", "memory", {{"name", store_name_}}));
  }

  /// Waits until the committed checkpoint of `stream_id` is the devnet's canonical head
  /// (number and hash on network "mainnet").
  ::testing::AssertionResult CheckpointAtHead(const std::string& stream_id,
                                              std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last = "(none)";
    while (std::chrono::steady_clock::now() < deadline) {
      const BlockNumber head = server_->Head();
      auto canonical = server_->CanonicalRange(head, head);
      if (auto cp = store_->checkpoint(stream_id)) {
        last = cp->cursor.ToJson();
        auto it = cp->cursor.networks.find("mainnet");
        if (canonical.ok() && it != cp->cursor.networks.end() && it->second.number == head &&
            it->second.hash == canonical->hash) {
          return ::testing::AssertionSuccess();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return ::testing::AssertionFailure() << "not caught up with head " << server_->Head()
                                         << "; last checkpoint " << last;
  }

  std::optional<std::string> saved_home_;
  std::string home_;
  std::string store_name_;
  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<DevnetServer> server_;
  std::unique_ptr<Session> session_;
};

}  // namespace amp::testing
