#include "loaders/common/unit_session.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;

// Records which hooks ran; `fail_next` makes the next hook fail.
class RecordingSession final : public UnitSession {
 public:
  RecordingSession() : UnitSession("test") {}
  ~RecordingSession() override {
    AbortOpenUnit();
    if (log_on_destruction != nullptr) *log_on_destruction = calls;
  }

  std::string calls;
  std::string* log_on_destruction = nullptr;
  Status fail_next;
  bool poison = false;

  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string&) override {
    return std::nullopt;
  }
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string&) override {
    return std::vector<StreamCheckpoint>{};
  }

 protected:
  Status BeginImpl() override { return Hook("B"); }
  Status UndoImpl(const std::string&, const BlockInterval&) override { return Hook("U"); }
  Status AppendImpl(const std::string&, const arrow::RecordBatch&, const BlockRange&) override {
    return Hook("A");
  }
  Status CommitImpl(const StreamCheckpoint*) override { return Hook("C"); }
  void AbortImpl() override { calls += "X"; }

 private:
  Status Hook(const char* name) {
    calls += name;
    Status st = std::move(fail_next);
    fail_next = Status::OK();
    return poison ? Poison(st) : st;
  }
};

std::shared_ptr<arrow::RecordBatch> EmptyBatch() {
  return arrow::RecordBatch::Make(arrow::schema({}), 0, arrow::ArrayVector{});
}

TEST(UnitSessionTest, AUnitRunsItsHooksInOrder) {
  RecordingSession s;
  ASSERT_TRUE(s.Begin().ok());
  ASSERT_TRUE(s.Undo("t", {}).ok());
  ASSERT_TRUE(s.Append("t", *EmptyBatch(), {}).ok());
  ASSERT_TRUE(s.Commit(nullptr).ok());
  s.Abort();  // nothing open: no hook
  EXPECT_EQ(s.calls, "BUAC");
}

TEST(UnitSessionTest, MisuseIsRefusedBeforeAnyHook) {
  RecordingSession s;
  Status outside = s.Append("t", *EmptyBatch(), {});
  EXPECT_THAT(outside.message(), HasSubstr("[test] Append() outside a unit: call Begin() first"));
  EXPECT_THAT(s.Commit(nullptr).message(), HasSubstr("Commit() outside a unit"));
  ASSERT_TRUE(s.Begin().ok());
  Status twice = s.Begin();
  EXPECT_THAT(twice.message(), HasSubstr("[test] Begin() while a unit is open"));
  const ErrorInfo* info = ErrorInfo::FromStatus(twice);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
  EXPECT_EQ(info->code(), "MISUSE");
  EXPECT_EQ(s.calls, "B");
}

TEST(UnitSessionTest, AFailedCommitLeavesTheUnitOpenForAbort) {
  RecordingSession s;
  ASSERT_TRUE(s.Begin().ok());
  s.fail_next = Status::IOError("lost");
  EXPECT_FALSE(s.Commit(nullptr).ok());
  EXPECT_FALSE(s.Begin().ok());  // still open
  s.Abort();
  ASSERT_TRUE(s.Begin().ok());
  EXPECT_EQ(s.calls, "BCXB");
}

TEST(UnitSessionTest, APoisonedUnitRepeatsItsFirstFailure) {
  RecordingSession s;
  s.poison = true;
  ASSERT_TRUE(s.Begin().ok());
  s.fail_next = Status::IOError("first");
  EXPECT_FALSE(s.Undo("t", {}).ok());
  Status later = s.Append("t", *EmptyBatch(), {});
  EXPECT_EQ(later.message(), "first");
  s.Abort();
  ASSERT_TRUE(s.Begin().ok());  // a new unit starts healthy
  EXPECT_TRUE(s.Undo("t", {}).ok());
  EXPECT_EQ(s.calls, "BUXBU");
}

TEST(UnitSessionTest, DestructorAbortsAnOpenUnit) {
  std::string after;
  {
    RecordingSession s;
    s.log_on_destruction = &after;
    ASSERT_TRUE(s.Begin().ok());
  }
  EXPECT_EQ(after, "BX");
}

}  // namespace
}  // namespace amp::loaders
