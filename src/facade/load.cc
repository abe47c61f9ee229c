// The composition layer (amp/load.h): amp::Load and amp::PlanParallel over a loader the
// caller supplies, the LoadResults range (a background thread runs streaming::RunLoad or
// RunParallelLoad and hands results over a bounded queue), named connections resolved
// through a LoaderRegistry, and the Session sugar that spells it all as amp-python does.
#include <arrow/type.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "amp/client.h"
#include "amp/load.h"
#include "load/load_driver.h"
#include "loaders/common/connection_uri.h"
#include "parallel/parallel_load.h"

#include <spdlog/spdlog.h>

namespace amp {
namespace {

Status ConnectionError(Status status) {
  return WithErrorInfo(status, ErrorClass::kFatal, "load", "INVALID_CONNECTION");
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

// --- Connections. ---

Result<ConnectionSpec> ParseConnectionUri(const std::string& uri, const LoaderRegistry& registry) {
  const size_t sep = uri.find("://");
  if (sep == std::string::npos || sep == 0) {
    return ConnectionError(Status::Invalid("not a connection URI (scheme://...): '", uri, "'"));
  }
  const std::string scheme = Lower(uri.substr(0, sep));
  const auto* entry = registry.FindByScheme(scheme);
  if (entry == nullptr) {
    std::string known;
    for (const auto& name : registry.names()) {
      for (const auto& s : registry.Find(name)->uri_schemes) known += (known.empty() ? "" : ", ") + s;
    }
    return ConnectionError(Status::Invalid("unknown connection URI scheme '", scheme,
                                           "'; known schemes: ", known));
  }
  ConnectionSpec spec;
  spec.loader = entry->name;
  auto config = entry->from_uri ? entry->from_uri(uri) : loaders::GenericConfigFromUri(uri);
  // The URI may hold a password: never echo it.
  if (!config.ok()) {
    return ConnectionError(Status::Invalid("invalid ", scheme, ":// URI: ", config.status().message()));
  }
  spec.config = std::move(*config);
  return spec;
}

Connections::Connections(const LoaderRegistry& registry) : registry_(registry) {}

Status Connections::Configure(const std::string& name, const std::string& loader,
                              const LoaderConfig& config) {
  if (name.empty()) return ConnectionError(Status::Invalid("a connection needs a name"));
  // Validate now, but keep "env:" references unresolved: secrets are read at each load.
  AMP_RETURN_NOT_OK(registry_.Validate(loader, config, /*resolve_env=*/false));
  std::lock_guard<std::mutex> lock(mu_);
  specs_[name] = ConnectionSpec{loader, config};
  return Status::OK();
}

Status Connections::Configure(const std::string& name, const std::string& uri) {
  AMP_ASSIGN_OR_RETURN(auto spec, ParseConnectionUri(uri, registry_));
  return Configure(name, spec.loader, spec.config);
}

Result<ConnectionSpec> Connections::Get(const std::string& name) const {
  if (name.find("://") != std::string::npos) return ParseConnectionUri(name, registry_);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = specs_.find(name);
  if (it != specs_.end()) return it->second;
  if (specs_.empty()) {
    return ConnectionError(Status::KeyError("unknown connection '", name,
                                            "'; configured: (none) (see configure_connection)"));
  }
  std::string known;
  for (const auto& [n, s] : specs_) known += (known.empty() ? "" : ", ") + n;
  return ConnectionError(Status::KeyError("unknown connection '", name, "'; configured: ", known));
}

Result<std::shared_ptr<Loader>> Connections::CreateLoader(const std::string& name) const {
  AMP_ASSIGN_OR_RETURN(auto spec, Get(name));
  AMP_ASSIGN_OR_RETURN(std::unique_ptr<Loader> loader, registry_.Create(spec.loader, spec.config));
  return std::shared_ptr<Loader>(std::move(loader));
}

// --- LoadResults: a bounded queue between the load thread and the consumer. ---

class LoadResults::Impl final : public streaming::ResultSink {
 public:
  explicit Impl(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

  ~Impl() override { Shutdown(); }

  void Start(streaming::LoadJob job) {
    // The caller's stop token stops the load like Stop() does.
    external_stop_.emplace(job.options.stop_token, std::function<void()>([this] { Stop(); }));
    thread_ = std::thread([this, job = std::move(job)]() mutable {
      Status st = job.options.parallel
                      ? streaming::RunParallelLoad(std::move(job), stop_.get_token(), *this)
                      : streaming::RunLoad(std::move(job), stop_.get_token(), *this);
      std::lock_guard<std::mutex> lock(mu_);
      status_ = st;
      finished_ = true;
      not_empty_.notify_all();
    });
  }

  bool Push(LoadResult result) override {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [this] { return closed_ || queue_.size() < capacity_; });
    if (closed_) return false;
    queue_.push_back(std::move(result));
    not_empty_.notify_one();
    return true;
  }

  std::optional<LoadResult> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [this] { return finished_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    LoadResult result = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return result;
  }

  void Stop() { stop_.request_stop(); }

  // The consumer is gone: stop, release a producer blocked on a full queue, join.
  void Shutdown() {
    external_stop_.reset();
    stop_.request_stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      not_full_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

  Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<LoadResult> queue_;
  bool finished_ = false;
  bool closed_ = false;
  Status status_;
  std::stop_source stop_;
  std::optional<std::stop_callback<std::function<void()>>> external_stop_;
  std::thread thread_;
};

LoadResults::LoadResults(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadResults::LoadResults(LoadResults&&) noexcept = default;
LoadResults& LoadResults::operator=(LoadResults&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->Shutdown();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
LoadResults::~LoadResults() {
  if (impl_) impl_->Shutdown();
}

std::optional<LoadResult> LoadResults::Next() {
  if (!impl_) return std::nullopt;
  return impl_->Pop();
}

void LoadResults::Stop() {
  if (impl_) impl_->Stop();
}

Status LoadResults::status() const { return impl_ ? impl_->status() : Status::OK(); }

LoadResults::iterator::iterator(LoadResults* owner) : owner_(owner) { ++*this; }

LoadResults::iterator& LoadResults::iterator::operator++() {
  if (owner_ == nullptr) return *this;
  current_ = owner_->Next();
  if (!current_) owner_ = nullptr;
  return *this;
}

// --- Load and PlanParallel. ---

namespace {

Result<streaming::LoadJob> MakeJob(const Client& client, std::string query,
                                   std::shared_ptr<Loader> loader, std::string table,
                                   LoadOptions options) {
  if (table.empty()) return ConnectionError(Status::Invalid("load needs a destination table name"));
  if (loader == nullptr) return ConnectionError(Status::Invalid("load needs a loader"));
  AMP_RETURN_NOT_OK(client.status());
  streaming::LoadJob job;
  job.client = &client;
  job.query = std::move(query);
  job.table = std::move(table);
  job.options = std::move(options);
  job.loader = std::move(loader);
  return job;
}

// A parallel load holds one session per worker plus one for the live stream.
void ReserveSessionsForWorkers(Loader& loader, const ParallelConfig& parallel) {
  const int wanted = parallel.num_workers + 1;
  const int available = loader.ReserveSessions(wanted);
  if (available < wanted) {
    spdlog::warn("the {} destination holds at most {} sessions at once, fewer than {} workers + 1: "
                 "workers will wait for a connection",
                 loader.name(), available, parallel.num_workers);
  }
}

}  // namespace

Result<LoadResults> Load(const Client& client, std::string query, std::shared_ptr<Loader> loader,
                         std::string table, LoadOptions options) {
  AMP_ASSIGN_OR_RETURN(auto job, MakeJob(client, std::move(query), std::move(loader),
                                         std::move(table), std::move(options)));
  if (job.options.parallel) {
    // Configuration errors surface here, before a thread starts.
    AMP_RETURN_NOT_OK(job.options.parallel->Validate());
    ReserveSessionsForWorkers(*job.loader, *job.options.parallel);
  }
  auto impl = std::make_shared<LoadResults::Impl>(job.options.result_queue_capacity);
  impl->Start(std::move(job));
  return LoadResults(std::move(impl));
}

Result<ParallelPlan> PlanParallel(const Client& client, std::string query,
                                  std::shared_ptr<Loader> loader, std::string table,
                                  const LoadOptions& options) {
  if (!options.parallel) return Status::Invalid("plan_parallel needs LoadOptions::parallel");
  AMP_ASSIGN_OR_RETURN(auto job, MakeJob(client, std::move(query), std::move(loader),
                                         std::move(table), options));
  return streaming::PlanParallelLoad(job);
}

// --- Session. ---

Result<std::shared_ptr<arrow::Schema>> SessionQuery::schema(const QueryOptions& options) const {
  return session_.client().sql(query_).schema(options);
}

Result<std::shared_ptr<arrow::Table>> SessionQuery::to_arrow(const QueryOptions& options) const {
  return session_.client().sql(query_).to_arrow(options);
}

Result<std::unique_ptr<BatchStream>> SessionQuery::stream(const QueryOptions& options) const {
  return session_.client().sql(query_).stream(options);
}

Result<LoadResults> SessionQuery::load(const std::string& connection, const std::string& table,
                                       const LoadOptions& options) const {
  if (table.empty()) return ConnectionError(Status::Invalid("load needs a destination table name"));
  AMP_RETURN_NOT_OK(session_.status());
  AMP_ASSIGN_OR_RETURN(auto loader, session_.connections().CreateLoader(connection));
  return Load(session_.client(), query_, std::move(loader), table, options);
}

Result<ParallelPlan> SessionQuery::plan_parallel(const std::string& connection,
                                                 const std::string& table,
                                                 const LoadOptions& options) const {
  if (table.empty()) return ConnectionError(Status::Invalid("load needs a destination table name"));
  if (!options.parallel) return Status::Invalid("plan_parallel needs LoadOptions::parallel");
  AMP_RETURN_NOT_OK(session_.status());
  AMP_ASSIGN_OR_RETURN(auto loader, session_.connections().CreateLoader(connection));
  return PlanParallel(session_.client(), query_, std::move(loader), table, options);
}

}  // namespace amp
