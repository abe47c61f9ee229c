#include "loaders/testing/fault_injection.h"

#include <algorithm>

namespace amp::loaders::testing {
namespace {

class FaultInjectingSession final : public LoaderSession {
 public:
  FaultInjectingSession(std::string destination, std::unique_ptr<LoaderSession> inner,
                        std::shared_ptr<FaultPlan> plan, std::function<void()> on_failed_commit)
      : destination_(std::move(destination)),
        inner_(std::move(inner)),
        plan_(std::move(plan)),
        on_failed_commit_(std::move(on_failed_commit)) {}

  Status Begin() override {
    AMP_RETURN_NOT_OK(Check(Fault::Call::kBegin));
    return inner_->Begin();
  }
  Status Undo(const std::string& table, const BlockInterval& blocks) override {
    AMP_RETURN_NOT_OK(Check(Fault::Call::kUndo));
    return inner_->Undo(table, blocks);
  }
  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) override {
    AMP_RETURN_NOT_OK(Check(Fault::Call::kAppend));
    return inner_->Append(table, batch, microbatch);
  }
  Status Commit(const StreamCheckpoint* checkpoint) override {
    const std::optional<Fault> fault = plan_->Next(Fault::Call::kCommit);
    if (fault && !fault->after_apply) return Failed(*fault);
    AMP_RETURN_NOT_OK(inner_->Commit(checkpoint));
    return fault ? Failed(*fault) : Status::OK();
  }
  void Abort() override { inner_->Abort(); }
  Result<std::optional<StreamCheckpoint>> LoadCheckpoint(const std::string& stream_id) override {
    return inner_->LoadCheckpoint(stream_id);
  }
  Result<std::vector<StreamCheckpoint>> LoadCheckpoints(const std::string& prefix) override {
    return inner_->LoadCheckpoints(prefix);
  }

 private:
  Status Check(Fault::Call call) {
    if (auto fault = plan_->Next(call)) return ErrorOf(*fault);
    return Status::OK();
  }
  Status Failed(const Fault& fault) {
    if (on_failed_commit_) on_failed_commit_();
    return ErrorOf(fault);
  }
  Status ErrorOf(const Fault& fault) const {
    if (!fault.error.ok()) return fault.error;
    return WithErrorInfo(Status::IOError("[", destination_, "] injected fault"), ErrorClass::kRetryCommit,
                         destination_, "INJECTED");
  }

  const std::string destination_;
  const std::unique_ptr<LoaderSession> inner_;
  const std::shared_ptr<FaultPlan> plan_;
  const std::function<void()> on_failed_commit_;
};

}  // namespace

void FaultPlan::Inject(Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_.push_back(Armed{fault, std::max(0, fault.nth - 1), std::max(1, fault.times)});
}

void FaultPlan::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_.clear();
}

std::optional<Fault> FaultPlan::Next(Fault::Call call) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = armed_.begin(); it != armed_.end(); ++it) {
    if (it->fault.call != call) continue;
    if (it->remaining_skips > 0) {
      --it->remaining_skips;
      return std::nullopt;
    }
    Fault fired = it->fault;
    if (--it->remaining_failures == 0) armed_.erase(it);
    return fired;
  }
  return std::nullopt;
}

std::unique_ptr<LoaderSession> InjectFaults(std::string destination, std::unique_ptr<LoaderSession> inner,
                                            std::shared_ptr<FaultPlan> plan,
                                            std::function<void()> on_failed_commit) {
  return std::make_unique<FaultInjectingSession>(std::move(destination), std::move(inner), std::move(plan),
                                                 std::move(on_failed_commit));
}

}  // namespace amp::loaders::testing
