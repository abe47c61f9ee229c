#include "doc_example_harness.h"

#include <arrow/api.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "loaders/memory/memory_loader.h"

namespace docs {
namespace {

std::string g_url;
std::string g_store;

// The largest value of UInt64 column `column` in `table` (0 if none).
uint64_t MaxBlock(const arrow::Table& table, const std::string& column) {
  auto chunked = table.GetColumnByName(column);
  uint64_t max = 0;
  if (!chunked) return 0;
  for (const auto& chunk : chunked->chunks()) {
    const auto& a = static_cast<const arrow::UInt64Array&>(*chunk);
    for (int64_t i = 0; i < a.length(); ++i) max = std::max(max, a.Value(i));
  }
  return max;
}

// Each row as text (every column's value), sorted: equal vectors = equal multisets.
std::vector<std::string> Rows(const arrow::Table& table) {
  auto combined = table.CombineChunks();
  EXPECT_TRUE(combined.ok());
  const arrow::Table& t = **combined;
  std::vector<std::string> rows(static_cast<size_t>(t.num_rows()));
  for (int c = 0; c < t.num_columns(); ++c) {
    const auto& col = t.column(c);
    if (col->num_chunks() == 0) continue;
    const auto& chunk = col->chunk(0);
    for (int64_t i = 0; i < t.num_rows(); ++i) {
      auto scalar = chunk->GetScalar(i);
      rows[static_cast<size_t>(i)] += (scalar.ok() ? (*scalar)->ToString() : "?") + "|";
    }
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

std::string ServerUrl() { return g_url; }
std::string DestinationUri() { return "memory://" + g_store; }

void RunExample(const ExampleSpec& spec, const std::function<amp::Status(std::stop_token)>& example) {
  amp::DevnetOptions options;
  options.port = 0;
  options.history = spec.history;
  options.block_time_ms = spec.live ? 100 : 0;
  auto devnet = amp::DevnetServer::Start(options);
  ASSERT_TRUE(devnet.ok()) << devnet.status().ToString();
  g_url = (*devnet)->url();
  g_store = "docs_" + spec.name;
  amp::MemoryStore::Drop(g_store);
  auto store = amp::MemoryStore::Get(g_store);

  amp::Status status;
  if (!spec.live) {
    status = example(std::stop_token{});
  } else {
    // Stop once the live stream has loaded blocks produced after the example started.
    const uint64_t head_at_start = (*devnet)->Head();
    std::stop_source stop;
    std::thread runner([&] { status = example(stop.get_token()); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool live_seen = false;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto table = store->ReadTable(spec.table);
      if (table.ok() && MaxBlock(**table, "block_num") >= head_at_start + 5) {
        live_seen = true;
        break;
      }
    }
    stop.request_stop();
    runner.join();
    EXPECT_TRUE(live_seen) << "no live block reached " << spec.table << " within 60 s";
  }
  ASSERT_TRUE(status.ok()) << status.ToString();

  if (!spec.table.empty()) {
    auto loaded = store->ReadTable(spec.table);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    std::string expect = spec.expect;
    if (auto pos = expect.find("{last}"); pos != std::string::npos) {
      expect.replace(pos, 6, std::to_string(MaxBlock(**loaded, "block_num")));
    }
    amp::Client client(g_url);
    auto oracle = client.sql(expect).to_arrow();
    ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
    ASSERT_TRUE((*loaded)->schema()->Equals(*(*oracle)->schema(), /*check_metadata=*/false))
        << "destination " << (*loaded)->schema()->ToString() << "\noracle " << (*oracle)->schema()->ToString();
    ASSERT_GT((*oracle)->num_rows(), 0) << "the oracle query returns nothing: " << expect;
    // One check (so a test of the harness sees exactly one failure), counts in the message.
    EXPECT_TRUE(Rows(**loaded) == Rows(**oracle))
        << "rows differ: the destination holds " << (*loaded)->num_rows() << " rows, the oracle "
        << (*oracle)->num_rows() << ": " << expect;
  }
  amp::MemoryStore::Drop(g_store);
  ASSERT_TRUE((*devnet)->Shutdown().ok());
}

}  // namespace docs
