#include "load_job.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

#include "amp/client.h"
#include "amp/load.h"
#include "amp/loader.h"
#include "commands.h"
#include "exit_codes.h"
#include "progress_display.h"
#include "stop_signal.h"

namespace amp::cli {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// --- A minimal SQL lexer, enough to find the top-level FROM clause. ---

struct Token {
  enum Kind { kWord, kQuoted, kPunct } kind;
  std::string text;  // as written (quoted identifiers keep their quotes)
  int depth = 0;     // parenthesis depth at the token
};

Result<std::vector<Token>> Lex(std::string_view sql) {
  std::vector<Token> tokens;
  int depth = 0;
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) return Status::Invalid("unterminated comment");
      i = end + 2;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (true) {
        if (j >= n) return Status::Invalid(c == '\'' ? "unterminated string" : "unterminated quoted identifier");
        if (sql[j] == c) {
          if (j + 1 < n && sql[j + 1] == c) {  // doubled quote: an escaped one
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      if (c == '"') tokens.push_back({Token::kQuoted, std::string(sql.substr(i, j + 1 - i)), depth});
      i = j + 1;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
      size_t j = i;
      while (j < n && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_' || sql[j] == '$')) ++j;
      tokens.push_back({Token::kWord, std::string(sql.substr(i, j - i)), depth});
      i = j;
    } else {
      if (c == '(') {
        tokens.push_back({Token::kPunct, "(", depth});
        ++depth;
      } else if (c == ')') {
        if (--depth < 0) return Status::Invalid("unbalanced parentheses");
        tokens.push_back({Token::kPunct, ")", depth});
      } else {
        tokens.push_back({Token::kPunct, std::string(1, c), depth});
      }
      ++i;
    }
  }
  if (depth != 0) return Status::Invalid("unbalanced parentheses");
  return tokens;
}

bool IsWord(const Token& t, std::string_view upper) {
  return t.kind == Token::kWord && Upper(t.text) == upper;
}

bool IsName(const Token& t) { return t.kind == Token::kWord || t.kind == Token::kQuoted; }

// Words that may follow a table reference and end it (clauses of the outer query).
bool EndsTableReference(const Token& t) {
  if (t.kind == Token::kPunct) return t.text == ";" || t.text == ")";
  static const char* kClauses[] = {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "SETTINGS",
                                   "UNION", "EXCEPT", "INTERSECT", "HAVING", "WINDOW", "QUALIFY",
                                   "FETCH"};
  const std::string u = Upper(t.text);
  for (const char* k : kClauses) {
    if (u == k) return true;
  }
  return false;
}

}  // namespace

Result<ProgressMode> ParseProgressMode(const std::string& text) {
  if (text == "auto") return ProgressMode::kAuto;
  if (text == "always") return ProgressMode::kAlways;
  if (text == "never") return ProgressMode::kNever;
  return Status::Invalid("unknown progress mode '", text, "' (auto, always, never)");
}

std::string FlagName(std::string_view field) {
  if (field == "key_columns") return "--key";
  if (field == "connection") return "--to";
  if (field == "max_attempts") return "--max-attempts";
  if (field == "retention_blocks") return "--retention-blocks";
  if (field == "wait_for_data") return "--wait-for-data";
  std::string out = "--";
  for (char c : field) out.push_back(c == '_' ? '-' : c);
  return out;
}

Result<std::string> InferSourceTable(std::string_view sql) {
  AMP_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(sql));
  std::string found;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].depth != 0 || !IsWord(tokens[i], "FROM")) continue;
    size_t j = i + 1;
    if (j >= tokens.size()) return Status::Invalid("FROM without a table");
    if (tokens[j].kind == Token::kPunct && tokens[j].text == "(") {
      return Status::Invalid("the query reads from a subquery");
    }
    if (!IsName(tokens[j])) return Status::Invalid("unexpected '", tokens[j].text, "' after FROM");
    std::string table = tokens[j].text;
    int parts = 1;
    ++j;
    while (j + 1 < tokens.size() && tokens[j].kind == Token::kPunct && tokens[j].text == "." &&
           IsName(tokens[j + 1])) {
      table += "." + tokens[j + 1].text;
      ++parts;
      j += 2;
    }
    if (parts < 2) {
      return Status::Invalid("'", table, "' is not a dataset-qualified table (e.g. eth_firehose.blocks)");
    }
    // An optional alias, then the reference must end.
    if (j < tokens.size() && IsWord(tokens[j], "AS")) ++j;
    if (j < tokens.size() && tokens[j].kind == Token::kWord && !EndsTableReference(tokens[j]) &&
        !IsWord(tokens[j], "JOIN") && !IsWord(tokens[j], "INNER") && !IsWord(tokens[j], "LEFT") &&
        !IsWord(tokens[j], "RIGHT") && !IsWord(tokens[j], "FULL") && !IsWord(tokens[j], "CROSS") &&
        !IsWord(tokens[j], "NATURAL")) {
      ++j;  // the alias
    } else if (j < tokens.size() && tokens[j].kind == Token::kQuoted) {
      ++j;
    }
    if (j < tokens.size() && !EndsTableReference(tokens[j])) {
      return Status::Invalid("the query reads more than one table (", tokens[j].text, " after ", table, ")");
    }
    if (!found.empty() && found != table) {
      return Status::Invalid("the query reads more than one table (", found, " and ", table, ")");
    }
    found = table;
  }
  if (found.empty()) return Status::Invalid("no top-level FROM clause");
  return found;
}

Result<LoadOptions> BuildLoadOptions(const LoadJob& job, const FieldNamer& name) {
  auto usage = [&](std::string_view field, const std::string& message) {
    return UsageError(Status::Invalid(name(field), ": ", message));
  };
  if (job.query.empty()) return usage("query", "the query is empty");
  if (job.table.empty()) return usage("table", "the destination table name is empty");
  auto mode = LoadModeFromString(job.mode);
  if (!mode.ok()) return usage("mode", mode.status().message());
  if (*mode == LoadMode::kUpsert && job.key_columns.empty()) {
    return usage("key_columns", "mode upsert needs the key column(s)");
  }
  if (job.batch_size && *job.batch_size < 1) {
    return usage("batch_size", "must be at least 1, got " + std::to_string(*job.batch_size));
  }
  if (job.max_attempts < 1) return usage("max_attempts", "must be at least 1");

  LoadOptions options;
  if (job.stream) options.stream = true;
  options.mode = *mode;
  options.key_columns = job.key_columns;
  options.block_column = job.block_column;
  if (job.batch_size) options.batch_size = *job.batch_size;
  options.resume = job.resume;
  options.retry.max_attempts = job.max_attempts;
  if (job.retention_blocks) options.retention_blocks = *job.retention_blocks;
  if (job.wait_for_data) {
    if (!job.stream && !job.parallel) {
      return usage("wait_for_data", "only applies to streaming loads (" + name("stream") + ")");
    }
    options.wait_for_data = std::chrono::seconds(*job.wait_for_data);
  }

  if (!job.parallel) {
    if (job.dry_run) return usage("dry_run", "only applies to parallel loads: add " + name("workers"));
    return options;
  }
  const ParallelJob& p = *job.parallel;
  if (p.workers < 1 || p.workers > 256) {
    return usage("workers", "must be between 1 and 256, got " + std::to_string(p.workers));
  }
  if (p.to_block) {
    if (*p.to_block == std::numeric_limits<uint64_t>::max()) {
      return usage("to_block", "block " + std::to_string(*p.to_block) + " is out of range");
    }
    if (p.from_block > *p.to_block) {
      return usage("to_block", std::to_string(*p.to_block) + " is before " + name("from_block") +
                                   " " + std::to_string(p.from_block) +
                                   " (the last block to load, inclusive)");
    }
  }
  if (p.partition_size && *p.partition_size == 0) return usage("partition_size", "must be at least 1");
  if (job.block_column && job.block_column->empty()) {
    return usage("block_column", "a parallel load partitions on a block column; it cannot be empty");
  }
  ParallelConfig config;
  config.num_workers = p.workers;
  config.table_name = p.source_table;
  if (config.table_name.empty()) {
    auto inferred = InferSourceTable(job.query);
    if (!inferred.ok()) {
      return usage("source_table", "cannot tell which Amp table to partition (" +
                                       inferred.status().message() + "); name it with " +
                                       name("source_table") + ", e.g. eth_firehose.blocks");
    }
    config.table_name = *inferred;
  }
  config.block_column = job.block_column.value_or("block_num");
  config.min_block = p.from_block;
  if (p.to_block) config.max_block = *p.to_block + 1;  // inclusive last block -> exclusive end
  config.partition_size = p.partition_size;
  if (job.batch_size) config.batch_size = *job.batch_size;
  if (p.reorg_buffer) config.reorg_buffer = *p.reorg_buffer;
  config.stop_on_error = p.stop_on_error;
  std::string invalid_field;
  if (Status st = config.Validate(&invalid_field); !st.ok()) {
    // Name the flag or key behind the ParallelConfig field.
    static const std::pair<const char*, const char*> kFields[] = {
        {"num_workers", "workers"},         {"table_name", "source_table"},
        {"block_column", "block_column"},   {"min_block", "from_block"},
        {"max_block", "to_block"},          {"partition_size", "partition_size"},
        {"batch_size", "batch_size"},       {"reorg_buffer", "reorg_buffer"}};
    for (const auto& [config_field, field] : kFields) {
      if (invalid_field == config_field) return usage(field, st.message());
    }
    return UsageError(Status::Invalid("invalid parallel options: ", st.message()));
  }
  options.parallel = std::move(config);
  return options;
}

namespace {

std::string Meta(const LoadResult& r, const std::string& key) {
  auto it = r.metadata.find(key);
  return it == r.metadata.end() ? std::string() : it->second;
}

// One line per result, as `ampsync load` always printed them, plus the partition's
// coordinates for parallel results.
std::string ResultLine(const LoadResult& r) {
  std::string line = r.ToString();
  const std::string partition = Meta(r, "partition_id");
  if (!partition.empty()) {
    line += " [partition " + partition;
    if (auto range = Meta(r, "block_range"); !range.empty()) line += " blocks " + range;
    if (auto worker = Meta(r, "worker"); !worker.empty()) line += " worker " + worker;
    line += "]";
  } else if (r.success && !r.is_reorg) {
    if (auto range = Meta(r, "block_range"); !range.empty()) line += " [" + range + "]";
    if (Meta(r, "parallel_phase") == "live") line += " (live)";
  }
  return line + "\n";
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", s);
  return buf;
}

}  // namespace

int RunLoadJob(const LoadJob& job, const FieldNamer& name) {
  auto built = BuildLoadOptions(job, name);
  if (!built.ok()) return ReportError(built.status());
  LoadOptions options = std::move(*built);

  ClientOptions client_options;
  client_options.auth_token = job.token;
  Session session(job.server, client_options);
  if (!session.status().ok()) {
    const Status& st = session.status();
    return ReportError(UsageError(st.WithMessage(name("server"), ": ", st.message())));
  }
  const Destination& dest = job.destination;
  Status configured = dest.uri.empty()
                          ? session.configure_connection(dest.name, dest.spec.loader, dest.spec.config)
                          : session.configure_connection(dest.name, dest.uri);
  if (!configured.ok()) {
    return ReportError(UsageError(configured.WithMessage(name("connection"), ": ", configured.message())));
  }

  if (job.reset && !job.dry_run) {
    // Before the load opens the destination: its rows and this job's progress go in one
    // transaction (where the store allows), then the load starts from nothing.
    auto loader = session.connections().CreateLoader(dest.name);
    if (!loader.ok()) return ReportError(loader.status());
    auto forgotten = (*loader)->ResetProgress(job.table, MakeStreamId(job.query, job.table), true);
    if (!forgotten.ok()) return ReportError(forgotten.status());
    std::cerr << "ampsync load: --reset: deleted the rows of " << job.table << " and forgot "
              << *forgotten << " checkpoint" << (*forgotten == 1 ? "" : "s") << std::endl;
  }

  if (job.dry_run) {
    auto plan = session.sql(job.query).plan_parallel(dest.name, job.table, options);
    if (!plan.ok()) return ReportError(plan.status());
    std::cout << plan->ToString();
    if (!plan->ToString().empty() && plan->ToString().back() != '\n') std::cout << '\n';
    std::cout << std::flush;
    return kExitOk;
  }

  // The display must outlive the load: its callback runs on the load's thread until the
  // LoadResults below is destroyed (declared after, so destroyed first).
  std::unique_ptr<ProgressDisplay> display;
  if (options.parallel && job.progress != ProgressMode::kNever) {
    const bool terminal = isatty(STDERR_FILENO) != 0;
    if (terminal || job.progress == ProgressMode::kAlways) {
      ProgressDisplay::Options display_options;
      display_options.terminal = terminal;
      display_options.width = terminal ? ProgressDisplay::TerminalWidth(STDERR_FILENO) : 0;
      display = std::make_unique<ProgressDisplay>(std::cerr, display_options);
      ProgressDisplay* raw = display.get();
      options.parallel->on_progress = [raw](const ParallelProgress& p) { raw->Update(p); };
      ProgressDisplay::SetActive(raw);
    }
  }
  auto print = [&](std::ostream& os, const std::string& text) {
    if (display) {
      display->PrintAbove(os, text);
    } else {
      os << text << std::flush;
    }
  };

  const auto started = std::chrono::steady_clock::now();
  auto loaded = session.sql(job.query).load(dest.name, job.table, options);
  if (!loaded.ok()) {
    if (display) display->Finish();
    ProgressDisplay::SetActive(nullptr);
    return ReportError(loaded.status());
  }
  LoadResults results = std::move(*loaded);
  const int stop_id = StopSignal::OnStop([&results] { results.Stop(); });

  int64_t total_rows = 0, units = 0, reorgs = 0, live_units = 0;
  int partitions_ok = 0, partitions_failed = 0;
  std::vector<std::string> failed_ids;
  for (const LoadResult& r : results) {
    const bool partition = r.metadata.count("partition_id") > 0;
    if (r.is_reorg) {
      ++reorgs;
    } else if (r.success) {
      total_rows += r.rows_loaded;
      ++units;
      if (partition) ++partitions_ok;
      if (Meta(r, "parallel_phase") == "live") ++live_units;
    } else if (partition) {
      ++partitions_failed;
      failed_ids.push_back(Meta(r, "partition_id"));
    }
    if (!job.quiet || !r.success) print(r.success ? std::cout : std::cerr, ResultLine(r));
  }
  StopSignal::Remove(stop_id);
  if (display) display->Finish();
  ProgressDisplay::SetActive(nullptr);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ostringstream summary;
  if (options.parallel) {
    summary << "ampsync load: " << FormatCount(total_rows) << " rows, " << partitions_ok
            << " partitions ok, " << partitions_failed << " failed";
    if (live_units > 0 || !options.parallel->max_block) {
      summary << ", " << live_units << " live commits, " << reorgs << " reorgs";
    }
    summary << ", " << Seconds(seconds);
  } else {
    summary << "ampsync load: " << FormatCount(total_rows) << " rows in " << units << " commits, "
            << reorgs << " reorgs, " << Seconds(seconds);
  }
  std::cerr << summary.str() << std::endl;

  if (StopSignal::requested()) {
    return ReportError(Status::Cancelled("interrupted"));
  }
  if (partitions_failed > 0) {
    std::string ids;
    for (const auto& id : failed_ids) ids += (ids.empty() ? "" : ", ") + id;
    std::cerr << "ampsync: error: " << partitions_failed << " partition"
              << (partitions_failed == 1 ? "" : "s") << " failed (" << ids
              << "); rerun the same command to load what is missing" << std::endl;
    return kExitError;
  }
  if (Status st = results.status(); !st.ok()) return ReportError(st);
  return kExitOk;
}

}  // namespace amp::cli
