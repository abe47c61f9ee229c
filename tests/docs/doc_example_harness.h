// Test harness for the runnable examples of docs/parallel-streaming.md (extracted by
// extract_examples.py; conventions in tests/docs/CMakeLists.txt). Each example runs against
// its own in-process devnet, writing to a memory:// store; the harness then compares the
// destination table with an oracle batch query on the devnet, row for row.
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>

#include <gtest/gtest.h>

#include "amp/client.h"
#include "amp/devnet.h"
#include "amp/load.h"
#include "amp/parallel.h"
#include "amp/status.h"

namespace docs {

/// What replaces the placeholder server URL: the running example's devnet.
std::string ServerUrl();
/// What replaces the placeholder PostgreSQL URI: "memory://docs_<example>".
std::string DestinationUri();

struct ExampleSpec {
  std::string name;
  /// Destination table to check ("" = no check).
  std::string table;
  /// Oracle batch query: the destination must hold exactly its rows (as a multiset, so
  /// no row is missing or duplicated). "{last}" is replaced by the largest block_num in
  /// the destination (for live examples, which stop at an arbitrary block).
  std::string expect;
  uint64_t history = 20'000;
  /// The example follows the head (takes a std::stop_token): the devnet produces a block
  /// every 100 ms, and the harness stops the example once live blocks have been loaded.
  bool live = false;
};

/// Runs `example` (passing a stop token that live examples must honour) and checks.
void RunExample(const ExampleSpec& spec, const std::function<amp::Status(std::stop_token)>& example);

}  // namespace docs
