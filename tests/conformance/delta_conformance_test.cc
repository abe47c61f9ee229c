// The loader conformance suite (loader_conformance.h) for the "delta" loader: each test
// gets a fresh root directory; a commit is made to fail by the loader's test hook, which
// fails the next Commit after the unit's Parquet files are written and before the Delta
// version file is created (what a crash at that instant leaves behind).
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "conformance/loader_conformance.h"
#include "loaders/delta/delta_loader.h"

namespace amp::conformance {
namespace {

class DeltaQuirks : public LoaderQuirks {
 public:
  Status SetUp(const std::string& test_name) override {
    static std::atomic<int> counter{0};
    root_ = (std::filesystem::temp_directory_path() /
             ("amp-delta-conf-" + std::to_string(getpid()) + "-" + test_name + "-" +
              std::to_string(counter.fetch_add(1))))
                .string();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    return Status::OK();
  }

  Status TearDown() override {
    if (std::getenv("AMP_DELTA_KEEP") != nullptr) return Status::OK();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    return Status::OK();
  }

  Result<std::unique_ptr<Loader>> MakeLoader() override {
    LoaderRegistry registry;
    RegisterDeltaLoader(registry);
    // A small checkpoint interval so the tests also read tables through checkpoints.
    return registry.Create("delta", {{"root", root_}, {"checkpoint_interval", "3"}});
  }

  Status DropTable(const std::string& table) override {
    std::error_code ec;
    std::filesystem::remove_all(root_ + "/" + table, ec);
    return Status::OK();
  }

  std::optional<Status> FailNextCommit(Loader& loader) override {
    auto* delta = dynamic_cast<delta::DeltaLoader*>(&loader);
    if (delta == nullptr) return Status::Invalid("not a delta loader");
    delta->FailNextCommitsForTesting(1);
    return Status::OK();
  }

  // Delta timestamps are microseconds (docs/loaders/deltalake.md).
  int64_t timestamp_resolution_ns() const override { return 1000; }

 private:
  std::string root_;
};

class DeltaConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override { return std::make_unique<DeltaQuirks>(); }
};

AMP_LOADER_CONFORMANCE_TESTS(DeltaConformanceTest)

}  // namespace
}  // namespace amp::conformance
