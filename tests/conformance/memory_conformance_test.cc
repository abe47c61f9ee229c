// The loader conformance suite (loader_conformance.h) for the "memory" loader, the
// reference implementation: atomic (the default) and non-atomic (atomic=false, Undo and
// Append apply at once; the suite then checks the at-least-once contract instead).
#include <atomic>
#include <mutex>
#include <string>

#include "conformance/loader_conformance.h"
#include "loaders/memory/memory_loader.h"

namespace amp::conformance {
namespace {

class MemoryQuirks : public LoaderQuirks {
 public:
  explicit MemoryQuirks(bool atomic) : atomic_(atomic) {}

  Status SetUp(const std::string& test_name) override {
    static std::atomic<int> counter{0};
    // Stores are process-wide by name: one of its own per test.
    store_ = "conformance-" + test_name + (atomic_ ? "" : "-nonatomic") + "-" +
             std::to_string(counter.fetch_add(1));
    MemoryStore::Drop(store_);
    return Status::OK();
  }

  Status TearDown() override {
    MemoryStore::Drop(store_);
    return Status::OK();
  }

  Result<std::unique_ptr<Loader>> MakeLoader() override {
    LoaderRegistry registry;
    RegisterMemoryLoader(registry);
    return registry.Create("memory", {{"name", store_}, {"atomic", atomic_ ? "true" : "false"}});
  }

  Status DropTable(const std::string& table) override {
    auto store = MemoryStore::Get(store_);
    std::lock_guard<std::mutex> lock(store->mu);
    store->tables_data.erase(table);
    return Status::OK();
  }

  std::optional<Status> FailNextCommit(Loader& loader) override {
    (void)loader;
    MemoryStore::Get(store_)->InjectFault(MemoryFault::At(MemoryFault::Call::kCommit, 1));
    return Status::OK();
  }

 private:
  const bool atomic_;
  std::string store_;
};

class MemoryConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override {
    return std::make_unique<MemoryQuirks>(/*atomic=*/true);
  }
};

class MemoryNonAtomicConformanceTest : public LoaderConformanceTest {
 protected:
  std::unique_ptr<LoaderQuirks> MakeQuirks() override {
    return std::make_unique<MemoryQuirks>(/*atomic=*/false);
  }
};

AMP_LOADER_CONFORMANCE_TESTS(MemoryConformanceTest)
AMP_LOADER_CONFORMANCE_TESTS(MemoryNonAtomicConformanceTest)

}  // namespace
}  // namespace amp::conformance
