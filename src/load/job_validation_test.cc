// The checks every load (streaming or parallel) makes of its options against its loader.
#include "load/job_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::load {
namespace {

using ::testing::HasSubstr;

// A loader that only states its capabilities: validation touches nothing else.
class CapabilitiesOnlyLoader final : public Loader {
 public:
  explicit CapabilitiesOnlyLoader(std::vector<LoadMode> modes) { caps_.modes = std::move(modes); }
  std::string name() const override { return "stub"; }
  const LoaderCapabilities& capabilities() const override { return caps_; }
  Status EnsureTable(const TableSpec&) override { return Status::NotImplemented("stub"); }
  Status Truncate(const std::string&) override { return Status::NotImplemented("stub"); }
  Result<std::unique_ptr<LoaderSession>> OpenSession() override {
    return Status::NotImplemented("stub");
  }

 private:
  LoaderCapabilities caps_;
};

// `st` is a refusal of ValidateJob: a kFatal Invalid with this code and source.
void ExpectRefusal(const Status& st, const std::string& code, const std::string& source) {
  ASSERT_TRUE(st.IsInvalid()) << st;
  const ErrorInfo* info = ErrorInfo::FromStatus(st);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->code(), code);
  EXPECT_EQ(info->source(), source);
  EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
}

TEST(ValidateJobTest, AcceptsAModeTheLoaderSupports) {
  CapabilitiesOnlyLoader loader({LoadMode::kAppend, LoadMode::kUpsert});
  LoadOptions options;
  EXPECT_TRUE(ValidateJob(loader, options, "load").ok());
  options.mode = LoadMode::kUpsert;
  options.key_columns = {"id"};
  EXPECT_TRUE(ValidateJob(loader, options, "load").ok());
}

// Each refusal: the loader's modes, the job's mode (no key columns), the caller's source,
// and what the error says.
struct Refusal {
  std::vector<LoadMode> loader_modes;
  LoadMode mode;
  std::string source;
  std::string code;
  std::string message;
};

TEST(ValidateJobTest, RefusesWithCodeSourceAndWording) {
  const Refusal refusals[] = {
      {{LoadMode::kAppend}, LoadMode::kOverwrite, "parallel", "UNSUPPORTED_MODE",
       "loader 'stub' does not support mode overwrite"},
      {{LoadMode::kUpsert}, LoadMode::kUpsert, "load", "INVALID_OPTIONS",
       "mode upsert needs LoadOptions::key_columns"},
  };
  for (const Refusal& refusal : refusals) {
    SCOPED_TRACE(refusal.code);
    CapabilitiesOnlyLoader loader(refusal.loader_modes);
    LoadOptions options;
    options.mode = refusal.mode;
    const Status st = ValidateJob(loader, options, refusal.source);
    ExpectRefusal(st, refusal.code, refusal.source);
    EXPECT_THAT(st.message(), HasSubstr(refusal.message));
  }
}

}  // namespace
}  // namespace amp::load
