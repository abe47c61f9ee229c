// The commands of one unit as they are encoded, before and while they are sent: RESP text,
// how many commands it holds, where each `pipeline`-sized window ends, and the keys that
// must be type-checked before the MULTI (Redis type -> keys). The session owns one; the
// row writers, the undo and the index append to it.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loaders/redis/redis_client.h"

namespace amp::redis {

class UnitBody {
 public:
  using TypeChecks = std::map<std::string, std::vector<std::string>>;

  explicit UnitBody(size_t window) : window_(window) {}

  /// Runs each time a window fills (a streaming unit sends it then).
  void set_on_window(std::function<void()> on_window) { on_window_ = std::move(on_window); }

  void Command(std::initializer_list<std::string_view> args) {
    AppendCommand(&text_, args);
    Counted();
  }
  /// For commands encoded piece by piece (AppendArrayHeader, AppendBulk): call Counted()
  /// after each one.
  std::string& text() { return text_; }
  void Counted() {
    ++commands_;
    if (commands_ % window_ == 0) {
      cuts_.push_back(text_.size());
      if (on_window_) on_window_();
    }
  }

  /// `key` must hold `redis_type` (or nothing) for the unit to be written.
  void ExpectType(const std::string& redis_type, const std::string& key) {
    checks_[redis_type].push_back(key);
  }
  /// A collection the unit adds to: type-checked once, and given the TTL at commit.
  void AddContainer(const std::string& redis_type, const std::string& key) {
    if (containers_.insert(key).second) ExpectType(redis_type, key);
  }

  size_t commands() const { return commands_; }
  /// text() offsets after every `window` commands since the last Sent().
  const std::vector<size_t>& cuts() const { return cuts_; }
  TypeChecks& checks() { return checks_; }
  const std::set<std::string>& containers() const { return containers_; }

  /// The text went out: keep counting, forget the text and its cuts.
  void Sent() {
    text_.clear();
    cuts_.clear();
  }
  void Clear() {
    Sent();
    commands_ = 0;
    checks_.clear();
    containers_.clear();
  }

 private:
  size_t window_;
  std::function<void()> on_window_;
  std::string text_;
  size_t commands_ = 0;
  std::vector<size_t> cuts_;
  TypeChecks checks_;
  std::set<std::string> containers_;
};

}  // namespace amp::redis
