#include "loaders/common/unit_session.h"

namespace amp::loaders {

Status UnitSession::CheckUnit(const char* call) const {
  if (!open_) {
    return WithErrorInfo(
        Status::Invalid("[", destination_, "] ", call, "() outside a unit: call Begin() first"),
        ErrorClass::kFatal, destination_, "MISUSE");
  }
  return failure_;
}

Status UnitSession::Poison(Status status) {
  if (!status.ok() && open_ && failure_.ok()) failure_ = status;
  return status;
}

Status UnitSession::Begin() {
  if (open_) {
    return WithErrorInfo(Status::Invalid("[", destination_,
                                         "] Begin() while a unit is open: Commit() or Abort() it first"),
                         ErrorClass::kFatal, destination_, "MISUSE");
  }
  AMP_RETURN_NOT_OK(BeginImpl());
  open_ = true;
  failure_ = Status::OK();
  return Status::OK();
}

Status UnitSession::Undo(const std::string& table, const BlockInterval& blocks) {
  AMP_RETURN_NOT_OK(CheckUnit("Undo"));
  return UndoImpl(table, blocks);
}

Status UnitSession::Append(const std::string& table, const arrow::RecordBatch& batch,
                           const BlockRange& microbatch) {
  AMP_RETURN_NOT_OK(CheckUnit("Append"));
  return AppendImpl(table, batch, microbatch);
}

Status UnitSession::Commit(const StreamCheckpoint* checkpoint) {
  AMP_RETURN_NOT_OK(CheckUnit("Commit"));
  AMP_RETURN_NOT_OK(CommitImpl(checkpoint));
  open_ = false;
  return Status::OK();
}

void UnitSession::Abort() {
  if (!open_) return;
  AbortImpl();
  open_ = false;
}

}  // namespace amp::loaders
