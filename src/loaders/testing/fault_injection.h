// Faults for retry and replay tests, injected around any loader's sessions rather than
// inside a loader (after leveldb's FaultInjectionTestEnv: the thing under test stays the
// production code, and a wrapper decides when a call fails).
//
//   auto plan = std::make_shared<FaultPlan>();
//   plan->Inject(Fault::At(Fault::Call::kCommit, 2));        // the 2nd commit from now fails
//   session = InjectFaults("memory", std::move(session), plan);
//
// One plan may serve many sessions (the memory loader keeps one per store): a fault's
// `nth` counts the calls of its kind over all of them, from the injection on.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amp/loader.h"
#include "amp/status.h"

namespace amp::loaders::testing {

struct Fault {
  enum class Call { kBegin, kUndo, kAppend, kCommit };
  Call call = Call::kCommit;
  /// Fail the n-th such call after injection (1 = the next one).
  int nth = 1;
  /// How many consecutive calls fail from there.
  int times = 1;
  /// Commit only: commit the unit, then report the failure (an ambiguous commit, as when a
  /// connection drops after the server committed).
  bool after_apply = false;
  /// The error returned; default IOError of class kRetryCommit.
  Status error;

  /// Fails the `nth` call of kind `call` from now on, once.
  static Fault At(Call call, int nth) {
    Fault fault;
    fault.call = call;
    fault.nth = nth;
    return fault;
  }
};

/// Armed faults, shared by the sessions they apply to. Thread-safe.
class FaultPlan {
 public:
  void Inject(Fault fault);
  void Clear();
  /// The fault this call hits (consuming one of its failures), if any.
  std::optional<Fault> Next(Fault::Call call);

 private:
  struct Armed {
    Fault fault;
    int remaining_skips;  ///< Calls to let through before failing.
    int remaining_failures;
  };
  std::mutex mu_;
  std::vector<Armed> armed_;
};

/// `inner`, failing as `plan` says before each Begin/Undo/Append/Commit reaches it (an
/// after_apply commit fault after). `on_failed_commit` runs for every injected commit
/// failure. Errors name `destination` ("[memory] injected fault").
std::unique_ptr<LoaderSession> InjectFaults(std::string destination,
                                            std::unique_ptr<LoaderSession> inner,
                                            std::shared_ptr<FaultPlan> plan,
                                            std::function<void()> on_failed_commit = {});

}  // namespace amp::loaders::testing
