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

TEST(ValidateJobTest, RefusesAModeTheLoaderLacksNamingBoth) {
  CapabilitiesOnlyLoader loader({LoadMode::kAppend});
  LoadOptions options;
  options.mode = LoadMode::kOverwrite;
  const Status st = ValidateJob(loader, options, "parallel");
  ExpectRefusal(st, "UNSUPPORTED_MODE", "parallel");
  EXPECT_THAT(st.message(), HasSubstr("loader 'stub' does not support mode overwrite"));
}

TEST(ValidateJobTest, RefusesUpsertWithoutKeys) {
  CapabilitiesOnlyLoader loader({LoadMode::kUpsert});
  LoadOptions options;
  options.mode = LoadMode::kUpsert;
  const Status st = ValidateJob(loader, options, "load");
  ExpectRefusal(st, "INVALID_OPTIONS", "load");
  EXPECT_THAT(st.message(), HasSubstr("mode upsert needs LoadOptions::key_columns"));
}

}  // namespace
}  // namespace amp::load
