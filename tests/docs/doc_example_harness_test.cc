// The harness must catch what the examples could get wrong: a missing row, a duplicated
// row, a failing example.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "doc_example_harness.h"

namespace {

// Loads blocks 0..99 with `query` (its text also names the job, so two different texts
// load the same rows twice).
amp::Status LoadBlocks(const std::string& query) {
  amp::Session session(docs::ServerUrl());
  AMP_RETURN_NOT_OK(session.configure_connection("dest", docs::DestinationUri()));
  amp::ParallelConfig parallel;
  parallel.num_workers = 2;
  parallel.table_name = "eth_firehose.blocks";
  parallel.min_block = 0;
  parallel.max_block = 100;
  amp::LoadOptions options;
  options.parallel = parallel;
  AMP_ASSIGN_OR_RETURN(auto results, session.sql(query).load("dest", "blocks", options));
  for (const amp::LoadResult& r : results) (void)r;
  return results.status();
}

void MissingRow() {
  docs::ExampleSpec spec;
  spec.name = "harness_missing";
  spec.table = "blocks";
  spec.expect = "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num <= 100";
  spec.history = 200;
  docs::RunExample(spec, [](std::stop_token) {
    return LoadBlocks("SELECT block_num, hash FROM eth_firehose.blocks");
  });
}

void DuplicatedRows() {
  docs::ExampleSpec spec;
  spec.name = "harness_duplicates";
  spec.table = "blocks";
  spec.expect = "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num < 100";
  spec.history = 200;
  docs::RunExample(spec, [](std::stop_token) {
    AMP_RETURN_NOT_OK(LoadBlocks("SELECT block_num, hash FROM eth_firehose.blocks"));
    return LoadBlocks("SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num >= 0");
  });
}

void FailingExample() {
  docs::ExampleSpec spec;
  spec.name = "harness_failing";
  spec.history = 200;
  docs::RunExample(spec, [](std::stop_token) { return amp::Status::Invalid("example broke"); });
}

TEST(DocsHarnessTest, PassesAnExactLoad) {
  docs::ExampleSpec spec;
  spec.name = "harness_exact";
  spec.table = "blocks";
  spec.expect = "SELECT block_num, hash FROM eth_firehose.blocks WHERE block_num < 100";
  spec.history = 200;
  docs::RunExample(spec, [](std::stop_token) {
    return LoadBlocks("SELECT block_num, hash FROM eth_firehose.blocks");
  });
}

TEST(DocsHarnessTest, CatchesAMissingRow) { EXPECT_NONFATAL_FAILURE(MissingRow(), "rows differ"); }

TEST(DocsHarnessTest, CatchesDuplicatedRows) { EXPECT_NONFATAL_FAILURE(DuplicatedRows(), "rows differ"); }

TEST(DocsHarnessTest, CatchesAFailingExample) { EXPECT_FATAL_FAILURE(FailingExample(), "example broke"); }

}  // namespace
