// A LoaderSession base that owns the unit-of-work state machine, after the shape of ADBC's
// driver framework: the public calls check the state, then call a hook.
//
//   Begin()            refused while a unit is open, else BeginImpl(); open on success
//   Undo()/Append()    refused outside a unit, or after the unit failed (Poison), else hook
//   Commit(cp)         the same, then CommitImpl(); closed on success, left open on failure
//                      (the contract: a failed call leaves the unit open for Abort())
//   Abort()            AbortImpl() when a unit is open, then closed; a no-op otherwise
//
// So every destination words misuse the same way, and a hook may assume it runs inside
// an open, healthy unit. Sessions whose destructor should abort an open unit call
// AbortOpenUnit() there (the base cannot: hooks are gone by then).
#pragma once

#include <string>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::loaders {

class UnitSession : public LoaderSession {
 public:
  /// `destination` names the store in misuse errors ("postgres", "memory").
  explicit UnitSession(std::string destination) : destination_(std::move(destination)) {}

  Status Begin() final;
  Status Undo(const std::string& table, const BlockInterval& blocks) final;
  Status Append(const std::string& table, const arrow::RecordBatch& batch,
                const BlockRange& microbatch) final;
  Status Commit(const StreamCheckpoint* checkpoint) final;
  void Abort() final;

 protected:
  virtual Status BeginImpl() = 0;
  virtual Status UndoImpl(const std::string& table, const BlockInterval& blocks) = 0;
  virtual Status AppendImpl(const std::string& table, const arrow::RecordBatch& batch,
                            const BlockRange& microbatch) = 0;
  virtual Status CommitImpl(const StreamCheckpoint* checkpoint) = 0;
  virtual void AbortImpl() = 0;

  bool unit_open() const { return open_; }
  /// OK inside a healthy unit; the misuse error outside one; the unit's first failure
  /// after Poison(). `call` names the caller in the message ("Append").
  Status CheckUnit(const char* call) const;
  /// Records `status` (when an error, and the first) as the unit's failure: later calls in
  /// the unit return it, for stores that reject everything after a failed statement.
  /// Returns `status`.
  Status Poison(Status status);
  /// Ends the unit without AbortImpl, for a CommitImpl that already rolled back.
  void CloseUnit() { open_ = false; }
  /// For destructors: Abort() if a unit is open.
  void AbortOpenUnit() { Abort(); }
  const std::string& destination() const { return destination_; }

 private:
  const std::string destination_;
  bool open_ = false;
  Status failure_;
};

}  // namespace amp::loaders
