#include "loaders/common/names.h"

#include <arrow/type.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;

const std::vector<const NameRules*> kAll = {&PostgresNameRules(), &RedisNameRules(),
                                            &DeltaNameRules()};

TableSpec Spec(const std::string& table, std::vector<std::string> columns) {
  arrow::FieldVector fields;
  for (auto& c : columns) fields.push_back(arrow::field(c, arrow::uint64()));
  TableSpec spec;
  spec.name = table;
  spec.schema = arrow::schema(fields);
  return spec;
}

// The refusal: kFatal BAD_NAME, naming the destination and every needle.
void ExpectRefused(const NameRules& rules, const TableSpec& spec,
                   const std::vector<std::string>& needles) {
  Status st = CheckNames(rules, spec);
  ASSERT_FALSE(st.ok()) << rules.destination << ": " << ShowName(spec.name);
  EXPECT_EQ(ClassOf(st), ErrorClass::kFatal) << st.ToString();
  ASSERT_NE(ErrorInfo::FromStatus(st), nullptr);
  EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "BAD_NAME");
  EXPECT_THAT(st.message(), HasSubstr("[" + rules.destination + "]"));
  for (const auto& n : needles) EXPECT_THAT(st.message(), HasSubstr(n)) << rules.destination;
}

TEST(NameRulesTest, OrdinaryNamesPassEverywhere) {
  for (const auto* rules : kAll) {
    EXPECT_TRUE(CheckNames(*rules, Spec("logs", {"_block_num", "tx_hash", "Log-Index", "é"})).ok())
        << rules->destination;
    EXPECT_TRUE(CheckNames(*rules, Spec("blocks_2024", {"a"})).ok());
  }
}

TEST(NameRulesTest, EveryDestinationRefusesEmptyControlAndBadUtf8) {
  for (const auto* rules : kAll) {
    ExpectRefused(*rules, Spec("a\nb", {"x"}), {"table name \"a\\nb\"", "control character U+000A"});
    ExpectRefused(*rules, Spec("t\x7f", {"x"}), {"U+007F"});
    ExpectRefused(*rules, Spec("t\xc2\x85", {"x"}), {"U+0085"});  // NEL, a C1 control
    ExpectRefused(*rules, Spec("", {"x"}), {"table name \"\"", "must not be empty"});
    ExpectRefused(*rules, Spec("t", {"x", ""}), {"column name \"\" (column 2 of the query, for table \"t\")",
                                                 "must not be empty"});
    ExpectRefused(*rules, Spec("t", {"a\tb"}), {"\"a\\tb\"", "U+0009"});
    ExpectRefused(*rules, Spec("t", {std::string("a\0b", 3)}), {"\"a\\x00b\"", "U+0000"});
    ExpectRefused(*rules, Spec("t\xff", {"x"}), {"not valid UTF-8"});
    ExpectRefused(*rules, Spec("t", {"\xc0\xaf"}), {"not valid UTF-8"});  // overlong '/'
    ExpectRefused(*rules, Spec("t", {"_amp_block_start"}), {"adds a column of that name itself"});
    ExpectRefused(*rules, Spec("t", {"_amp_block_end"}), {"adds a column of that name itself"});
    ExpectRefused(*rules, Spec("t", {"a", "b", "a"}), {"column 3", "two columns of that name"});
  }
}

TEST(NameRulesTest, PostgresLimitsAndReservedTable) {
  const auto& pg = PostgresNameRules();
  EXPECT_TRUE(CheckNames(pg, Spec(std::string(63, 't'), {std::string(63, 'c')})).ok());
  ExpectRefused(pg, Spec(std::string(64, 't'), {"x"}), {"64 bytes long, the limit is 63", "truncates"});
  ExpectRefused(pg, Spec("t", {std::string(64, 'c')}), {"64 bytes long"});
  ExpectRefused(pg, Spec("amp_client_state", {"x"}), {"keeps its own state"});
  // Quoted identifiers: case matters, and these characters are fine.
  EXPECT_TRUE(CheckNames(pg, Spec("a b/c%", {"A", "a", "x y"})).ok());
}

TEST(NameRulesTest, RedisReservesItsSequenceField) {
  const auto& redis = RedisNameRules();
  ExpectRefused(redis, Spec("t", {"_amp_seq"}), {"adds a column of that name itself"});
  EXPECT_TRUE(CheckNames(redis, Spec(std::string(300, 't') + ":x y", {"A", "a"})).ok());
}

TEST(NameRulesTest, DeltaTablesAreDirectoriesAndColumnsFollowDelta) {
  const auto& delta = DeltaNameRules();
  for (const char* bad : {"a/b", "a\\b", "a%20b", ".", "..", ".hidden", "_delta_log"}) {
    ExpectRefused(delta, Spec(bad, {"x"}), {"table name"});
  }
  ExpectRefused(delta, Spec("a%20b", {"x"}), {"'%'", "escapes"});
  ExpectRefused(delta, Spec(std::string(256, 't'), {"x"}), {"256 bytes long, the limit is 255"});
  EXPECT_TRUE(CheckNames(delta, Spec(std::string(255, 't'), {"x"})).ok());
  EXPECT_TRUE(CheckNames(delta, Spec("a b#c", {"x"})).ok());
  for (const char* bad : {"a b", "a,b", "a;b", "a{b", "a}b", "a(b", "a)b", "a=b"}) {
    ExpectRefused(delta, Spec("t", {bad}), {"column name", "column mapping", "Rename it with AS"});
  }
  ExpectRefused(delta, Spec("t", {"Block", "block"}),
                {"column name \"block\"", "differs from column \"Block\" only in case"});
}

TEST(NameRulesTest, ShowNameEscapesAndShortens) {
  EXPECT_EQ(ShowName("a\nb\"c\\"), "\"a\\nb\\\"c\\\\\"");
  EXPECT_EQ(ShowName("\x01"), "\"\\x01\"");
  EXPECT_EQ(ShowName("\xff" "a"), "\"\\xffa\"");
  EXPECT_EQ(ShowName("\xc2\x85"), "\"\\xc2\\x85\"");
  const std::string shown = ShowName(std::string(100, 'x'));
  EXPECT_THAT(shown, HasSubstr("... (100 bytes)"));
  EXPECT_LT(shown.size(), 100u);
}

}  // namespace
}  // namespace amp::loaders
