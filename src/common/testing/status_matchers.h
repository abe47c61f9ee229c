// GoogleTest helpers for amp::Status / amp::Result, shared by every test.
//
//   ASSERT_OK(session->Commit(&checkpoint));
//   auto table = ValueOrDie(client.sql(q).to_arrow());
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "amp/status.h"

/// Fails the test (and returns from it) when `expr` is not OK, printing the expression.
#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const ::amp::Status _amp_assert_st = (expr);                     \
    ASSERT_TRUE(_amp_assert_st.ok()) << #expr << ": " << _amp_assert_st.ToString(); \
  } while (false)

#define AMP_TESTING_CONCAT_INNER(a, b) a##b
#define AMP_TESTING_CONCAT(a, b) AMP_TESTING_CONCAT_INNER(a, b)
/// `ASSERT_OK_AND_ASSIGN(auto x, MakeX())`: fails the test (returning) on an error Result.
/// WARNING: expands into several statements; do not use as the body of an unbraced if.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(AMP_TESTING_CONCAT(_amp_testing_result_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, rexpr)     \
  auto tmp = (rexpr);                                  \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();    \
  lhs = std::move(tmp).ValueOrDie()

namespace amp {

/// The value of `r`; records a failure and aborts the test binary when `r` is an error
/// (for helpers that cannot use ASSERT_* because they return a value).
template <typename T>
T ValueOrDie(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) std::abort();
  return std::move(*r);
}

/// Expects `status` to be Invalid with a message holding every one of `parts` (what was
/// wrong, and the input quoted back), as bad input must be reported.
inline void ExpectInvalidMentioning(const Status& status, std::initializer_list<std::string> parts) {
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  for (const std::string& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "'" << part << "' not in: " << status.message();
  }
}

}  // namespace amp
