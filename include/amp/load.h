// File: amp/load.h
//
// Loading query results into a destination: the composition layer over the transport
// (amp/client.h), the load engine and the loaders (amp/loader.h). Three ways in, each a
// thin layer over the one below:
//
//   // 1. A loader the caller built (no registry involved):
//   auto loader = std::make_shared<MyLoader>(...);
//   AMP_ASSIGN_OR_RETURN(auto results,
//       amp::Load(client, "SELECT * FROM eth_firehose.blocks", loader, "blocks", {}));
//
//   // 2. Named connections and URIs resolved through a registry (default: the built-in
//   //    loaders, amp/builtin_loaders.h):
//   amp::Connections connections;
//   AMP_RETURN_NOT_OK(connections.Configure("my_pg", "postgresql://me@db:5432/chain"));
//   AMP_ASSIGN_OR_RETURN(auto loader, connections.CreateLoader("my_pg"));
//
//   // 3. amp-python's spelling, `client.sql(q).load(connection, table, options)`: a Session
//   //    owns a Client and its Connections.
//   amp::Session session("grpc://localhost:1602");
//   AMP_RETURN_NOT_OK(session.configure_connection("my_pg", "postgresql://me@db:5432/chain"));
//   AMP_ASSIGN_OR_RETURN(auto results,
//       session.sql("SELECT * FROM eth_firehose.blocks").load("my_pg", "blocks",
//                                                             {.stream = true}));
//   for (const amp::LoadResult& r : results) {
//     std::cout << r.ToString() << "\n";       // one per committed unit, one per reorg
//     if (!r.success) break;                    // the last result of a failed load
//   }
//
// How a load runs (src/load/load_driver.h has the details; the commit cadence and every
// LoadResult::metadata key are in amp/load_options.h):
//   - the destination table is created from the query's GetFlightInfo schema before any
//     data flows (Loader::EnsureTable); kOverwrite empties it once per load;
//   - a streaming load resumes after the destination's committed checkpoint (amp-resume),
//     follows the chain head, undoes reorged blocks, and commits undo + rows + checkpoint as
//     one unit of work (exactly-once with an atomic loader such as PostgreSQL);
//   - a batch load (stream = false) loads the whole result in one unit, committed with a
//     checkpoint that marks completion, and then the range ends;
//   - with LoadOptions::parallel, a parallel backfill or hybrid load (amp/parallel.h).
//
// Thread-safety: Connections and Session may be shared by threads (a Session's
// connections are guarded by its own lock). A LoadResults is used by one thread, except
// Stop().
#pragma once

#include <cstddef>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "amp/builtin_loaders.h"
#include "amp/client.h"
#include "amp/load_options.h"
#include "amp/loader.h"
#include "amp/parallel.h"
#include "amp/status.h"

namespace amp {

/// \brief The results of a running load, produced lazily by a background thread.
///
/// Iterate it once (an input range). Results are never dropped: when the consumer falls
/// result_queue_capacity behind, the load waits. The range ends when a batch load
/// completes, when the load fails (its last result has success = false), or after Stop().
/// Destroying it stops the load cleanly (the in-flight commit finishes) and joins the
/// thread. Not thread-safe, except Stop(), which any thread may call.
class LoadResults {
 public:
  class Impl;
  explicit LoadResults(std::shared_ptr<Impl> impl);
  LoadResults(LoadResults&&) noexcept;
  LoadResults& operator=(LoadResults&&) noexcept;
  LoadResults(const LoadResults&) = delete;
  LoadResults& operator=(const LoadResults&) = delete;
  ~LoadResults();

  /// The next result, blocking until there is one; nullopt once the load has ended.
  std::optional<LoadResult> Next();
  /// Asks the load to stop: it finishes the commit in flight (and commits the open unit
  /// when it ends at a microbatch boundary), then the range ends. Idempotent.
  void Stop();
  /// OK, or the error that ended the load (also reported by the last result).
  Status status() const;

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = LoadResult;
    using difference_type = std::ptrdiff_t;
    using pointer = const LoadResult*;
    using reference = const LoadResult&;

    iterator() = default;
    reference operator*() const { return *current_; }
    pointer operator->() const { return &*current_; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.owner_ == b.owner_; }

   private:
    friend class LoadResults;
    explicit iterator(LoadResults* owner);
    LoadResults* owner_ = nullptr;  ///< nullptr: the end.
    std::optional<LoadResult> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::shared_ptr<Impl> impl_;
};

/// Starts loading `query`'s rows into `table` of `loader` on a background thread. Errors
/// here are configuration errors (no table name, an unusable client, invalid parallel
/// options); everything later is reported by the results. A parallel load first asks the
/// loader for one session per worker plus one (Loader::ReserveSessions). `client` must
/// outlive the returned LoadResults (the load runs on a thread that uses it); the loader
/// is shared with that thread.
Result<LoadResults> Load(const Client& client, std::string query, std::shared_ptr<Loader> loader,
                         std::string table, LoadOptions options = {});

/// The plan a load with `options.parallel` would run (`ampsync load --dry-run`): the
/// partitions with their rewritten queries, blocks an earlier run already loaded (read
/// from the destination, which is not changed), and in hybrid mode the detected head and
/// hand-off point. Reads from the server but writes nothing.
Result<ParallelPlan> PlanParallel(const Client& client, std::string query,
                                  std::shared_ptr<Loader> loader, std::string table,
                                  const LoadOptions& options);

/// \brief A named connection: which loader and its options.
struct ConnectionSpec {
  std::string loader;   ///< A LoaderRegistry name, e.g. "postgresql", "memory".
  LoaderConfig config;  ///< Unresolved: "env:NAME" values stay references.
};

/// Parses a connection URI: `scheme://[user[:password]@]host[:port][/path][?k=v&...]`
/// (percent-decoded). The scheme selects the loader (LoaderRegistry::FindByScheme); its
/// from_uri, else the generic mapping (user, password, host, port, dbname = path without
/// the leading '/', query parameters by name) gives the options. `memory://name` gives
/// {name}. Unknown scheme -> Invalid listing the known ones.
Result<ConnectionSpec> ParseConnectionUri(const std::string& uri,
                                          const LoaderRegistry& registry = BuiltinLoaders());

/// \brief Named connections: destinations by name, resolved to loaders through one
/// registry (the built-in loaders unless the caller gives its own, which must outlive
/// this object). Thread-safe: the table has its own lock.
class Connections {
 public:
  explicit Connections(const LoaderRegistry& registry = BuiltinLoaders());
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  const LoaderRegistry& registry() const { return registry_; }

  /// Names a destination: a loader and its options, validated now against the loader's
  /// option table (unknown key -> Invalid listing the valid ones). Values "env:NAME" are
  /// read from the environment at each CreateLoader, so secrets are neither stored here nor
  /// written anywhere. Replaces an earlier entry.
  Status Configure(const std::string& name, const std::string& loader, const LoaderConfig& config);
  /// The same from a URI: "postgresql://user@host:5432/db", "memory://name".
  Status Configure(const std::string& name, const std::string& uri);
  /// The connection named `name` (KeyError listing the configured ones), or the parsed
  /// URI when `name` contains "://".
  Result<ConnectionSpec> Get(const std::string& name) const;
  /// A new loader for Get(name), its "env:" values resolved now.
  Result<std::shared_ptr<Loader>> CreateLoader(const std::string& name) const;

 private:
  const LoaderRegistry& registry_;
  mutable std::mutex mu_;
  std::map<std::string, ConnectionSpec> specs_;  // guarded by mu_
};

class Session;

/// \brief A query bound to a session: the transport's schema/to_arrow/stream, plus load
/// and plan_parallel into a named connection or a connection URI.
class SessionQuery {
 public:
  SessionQuery(const Session& session, std::string query)
      : session_(session), query_(std::move(query)) {}

  Result<std::shared_ptr<arrow::Schema>> schema(const QueryOptions& options = {}) const;
  Result<std::shared_ptr<arrow::Table>> to_arrow(const QueryOptions& options = {}) const;
  Result<std::unique_ptr<BatchStream>> stream(const QueryOptions& options = {}) const;
  /// amp::Load into `table` of `connection` (a name given to configure_connection, or a
  /// connection URI). The session must outlive the returned LoadResults.
  Result<LoadResults> load(const std::string& connection, const std::string& table,
                           const LoadOptions& options = {}) const;
  /// amp::PlanParallel for `connection` (`ampsync load --dry-run`).
  Result<ParallelPlan> plan_parallel(const std::string& connection, const std::string& table,
                                     const LoadOptions& options) const;
  const std::string& query() const { return query_; }

 private:
  const Session& session_;
  std::string query_;
};

/// \brief A client and its named connections: amp-python's `Client`, whose
/// `sql(q).load(connection, table, options)` the guide (docs/parallel-streaming.md) uses.
/// The transport (amp::Client) knows no destinations; this is where the two meet.
class Session {
 public:
  explicit Session(std::string url, ClientOptions options = {},
                   const LoaderRegistry& registry = BuiltinLoaders())
      : client_(std::move(url), std::move(options)), connections_(registry) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Client& client() const { return client_; }
  Connections& connections() { return connections_; }
  const Connections& connections() const { return connections_; }
  /// As Client::status().
  const Status& status() const { return client_.status(); }

  SessionQuery sql(std::string query) const { return SessionQuery(*this, std::move(query)); }

  /// Connections::Configure.
  Status configure_connection(const std::string& name, const std::string& loader,
                              const LoaderConfig& config) {
    return connections_.Configure(name, loader, config);
  }
  Status configure_connection(const std::string& name, const std::string& uri) {
    return connections_.Configure(name, uri);
  }
  /// Connections::Get.
  Result<ConnectionSpec> connection(const std::string& name) const { return connections_.Get(name); }

 private:
  Client client_;
  Connections connections_;
};

}  // namespace amp
