// The public load API (amp/load.h and the load parts of amp/client.h): named connections,
// connection URIs, QueryBuilder::load, LoadResult and the LoadResults range, whose
// background thread runs streaming::RunLoad and hands results over a bounded queue.
#include <arrow/type.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "amp/client.h"
#include "amp/load.h"
#include "load/load_driver.h"
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

Result<std::string> PercentDecode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return Status::Invalid("truncated percent escape in connection URI");
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(text[i + 1]);
    const int lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return Status::Invalid("bad percent escape in connection URI");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// scheme://[user[:password]@]host[:port][/path][?k=v&...] -> options by libpq-style names.
Result<LoaderConfig> GenericUriConfig(const std::string& uri) {
  const size_t sep = uri.find("://");
  std::string rest = uri.substr(sep + 3);
  LoaderConfig config;
  std::string query;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string path;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    AMP_ASSIGN_OR_RETURN(auto user, PercentDecode(userinfo.substr(0, colon)));
    if (!user.empty()) config["user"] = user;
    if (colon != std::string::npos) {
      AMP_ASSIGN_OR_RETURN(config["password"], PercentDecode(userinfo.substr(colon + 1)));
    }
  }
  std::string host = rest;
  if (!host.empty() && host.front() == '[') {  // [IPv6]:port
    const size_t close = host.find(']');
    if (close == std::string::npos) return Status::Invalid("unterminated [IPv6] host in connection URI");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return Status::Invalid("unexpected text after [IPv6] host");
      config["port"] = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    config["port"] = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  AMP_ASSIGN_OR_RETURN(host, PercentDecode(host));
  if (!host.empty()) config["host"] = host;
  AMP_ASSIGN_OR_RETURN(path, PercentDecode(path));
  if (!path.empty()) config["dbname"] = path;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string pair = query.substr(pos, amp - pos);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      AMP_ASSIGN_OR_RETURN(auto key, PercentDecode(pair.substr(0, eq)));
      std::string value;
      if (eq != std::string::npos) {
        AMP_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1)));
      }
      config[key] = value;
    }
    pos = amp + 1;
  }
  return config;
}

// Client::connections_ is created lazily; this guards the pointer (the table has its own).
std::mutex& ConnectionsPointerMutex() {
  static std::mutex mu;
  return mu;
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
  auto config = entry->from_uri ? entry->from_uri(uri) : GenericUriConfig(uri);
  // The URI may hold a password: never echo it.
  if (!config.ok()) {
    return ConnectionError(Status::Invalid("invalid ", scheme, ":// URI: ", config.status().message()));
  }
  spec.config = std::move(*config);
  return spec;
}

class Client::Connections {
 public:
  void Set(const std::string& name, ConnectionSpec spec) {
    std::lock_guard<std::mutex> lock(mu_);
    specs_[name] = std::move(spec);
  }

  Result<ConnectionSpec> Get(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = specs_.find(name);
    if (it != specs_.end()) return it->second;
    std::string known;
    for (const auto& [n, s] : specs_) known += (known.empty() ? "" : ", ") + n;
    return ConnectionError(Status::KeyError("unknown connection '", name, "'; configured: ",
                                            known.empty() ? "(none)" : known));
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, ConnectionSpec> specs_;
};

Status Client::configure_connection(const std::string& name, const std::string& loader,
                                    const LoaderConfig& config) {
  if (name.empty()) return ConnectionError(Status::Invalid("a connection needs a name"));
  // Validate now, but keep "env:" references unresolved: secrets are read at each load.
  AMP_RETURN_NOT_OK(LoaderRegistry::Builtin().Validate(loader, config, /*resolve_env=*/false));
  std::lock_guard<std::mutex> lock(ConnectionsPointerMutex());
  if (!connections_) connections_ = std::make_shared<Connections>();
  connections_->Set(name, ConnectionSpec{loader, config});
  return Status::OK();
}

Status Client::configure_connection(const std::string& name, const std::string& uri) {
  AMP_ASSIGN_OR_RETURN(auto spec, ParseConnectionUri(uri));
  return configure_connection(name, spec.loader, spec.config);
}

Result<ConnectionSpec> Client::connection(const std::string& name) const {
  if (name.find("://") != std::string::npos) return ParseConnectionUri(name);
  std::shared_ptr<Connections> connections;
  {
    std::lock_guard<std::mutex> lock(ConnectionsPointerMutex());
    connections = connections_;
  }
  if (!connections) {
    return ConnectionError(Status::KeyError("unknown connection '", name,
                                            "'; configured: (none) (see Client::configure_connection)"));
  }
  return connections->Get(name);
}

// --- LoadResult. ---

std::string LoadResult::ToString() const {
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.2f", duration.count());
  if (!success) return "Failed to load to " + table_name + ": " + error;
  if (is_reorg) {
    std::string ranges;
    for (const auto& r : invalidation_ranges) ranges += (ranges.empty() ? "" : ", ") + r.ToString();
    return "Reorg detected: " + std::to_string(invalidation_ranges.size()) +
           " ranges invalidated (" + ranges + ")";
  }
  return "Loaded " + std::to_string(rows_loaded) + " rows to " + table_name + " in " + seconds + "s";
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

// --- QueryBuilder::load. ---

namespace {

// A parallel load holds one session per worker plus one for the live stream: a loader
// with a connection pool gets at least that many connections unless the user chose.
void SizePoolForWorkers(ConnectionSpec& spec, const LoadOptions& options) {
  if (!options.parallel) return;
  const auto* entry = LoaderRegistry::Builtin().Find(spec.loader);
  if (entry == nullptr) return;
  auto option = std::find_if(entry->options.begin(), entry->options.end(),
                             [](const OptionSpec& o) { return o.name == "max_connections"; });
  if (option == entry->options.end()) return;
  const int wanted = options.parallel->num_workers + 1;
  auto it = spec.config.find("max_connections");
  if (it == spec.config.end()) {
    if (std::atoi(option->default_value.c_str()) < wanted) {
      spec.config["max_connections"] = std::to_string(wanted);
    }
  } else if (std::atoi(it->second.c_str()) < wanted) {
    spdlog::warn("max_connections={} is fewer than {} workers + 1: workers will wait for a "
                 "connection",
                 it->second, options.parallel->num_workers);
  }
}

}  // namespace

Result<LoadResults> QueryBuilder::load(const std::string& connection, const std::string& table,
                                       const LoadOptions& options) const {
  if (table.empty()) return ConnectionError(Status::Invalid("load needs a destination table name"));
  AMP_RETURN_NOT_OK(client_.status());
  AMP_ASSIGN_OR_RETURN(auto spec, client_.connection(connection));
  SizePoolForWorkers(spec, options);
  AMP_ASSIGN_OR_RETURN(auto loader, LoaderRegistry::Builtin().Create(spec.loader, spec.config));
  streaming::LoadJob job;
  job.client = &client_;
  job.query = query_;
  job.table = table;
  job.options = options;
  job.loader = std::move(loader);
  if (options.parallel) {
    // Configuration errors surface here, before a thread starts.
    AMP_RETURN_NOT_OK(options.parallel->Validate());
  }
  auto impl = std::make_shared<LoadResults::Impl>(options.result_queue_capacity);
  impl->Start(std::move(job));
  return LoadResults(std::move(impl));
}

Result<ParallelPlan> QueryBuilder::plan_parallel(const std::string& connection,
                                                 const std::string& table,
                                                 const LoadOptions& options) const {
  if (table.empty()) return ConnectionError(Status::Invalid("load needs a destination table name"));
  if (!options.parallel) {
    return Status::Invalid("plan_parallel needs LoadOptions::parallel");
  }
  AMP_RETURN_NOT_OK(client_.status());
  AMP_ASSIGN_OR_RETURN(auto spec, client_.connection(connection));
  AMP_ASSIGN_OR_RETURN(auto loader, LoaderRegistry::Builtin().Create(spec.loader, spec.config));
  streaming::LoadJob job;
  job.client = &client_;
  job.query = query_;
  job.table = table;
  job.options = options;
  job.loader = std::move(loader);
  return streaming::PlanParallelLoad(job);
}

}  // namespace amp
