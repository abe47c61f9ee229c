#include "amp/types.h"

#include <gtest/gtest.h>

namespace amp {
namespace {

TEST(BlockHashTest, RoundTripsLowercaseHex) {
  std::string text = "0x0deee2eaa7adb2b28c7fa731f79ea86e77e375f8ee0a0f2619ba6ec3eb2f68e6";
  auto hash = BlockHash::FromHex(text);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->ToHex(), text);
  EXPECT_FALSE(hash->IsZero());
  EXPECT_EQ(hash->bytes[0], 0x0d);
}

TEST(BlockHashTest, RejectsWrongLengthAndNonHex) {
  EXPECT_TRUE(BlockHash::FromHex("0x1234").status().IsInvalid());
  EXPECT_TRUE(BlockHash::FromHex(std::string(64, 'g')).status().IsInvalid());
}

TEST(CursorTest, JsonMatchesAmpResumeFormat) {
  auto hash = *BlockHash::FromHex(std::string(64, 'a'));
  Cursor cursor;
  cursor.networks["anvil"] = NetworkCursor{2, hash};
  EXPECT_EQ(cursor.ToJson(), "{\"anvil\":{\"hash\":\"0x" + std::string(64, 'a') + "\",\"number\":2}}");
  auto parsed = Cursor::FromJson(cursor.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, cursor);
}

TEST(CursorTest, RejectsMalformedEntries) {
  EXPECT_FALSE(Cursor::FromJson("[]").ok());
  EXPECT_FALSE(Cursor::FromJson("{\"mainnet\":{\"number\":-1,\"hash\":\"0x00\"}}").ok());
  EXPECT_FALSE(Cursor::FromJson("{\"mainnet\":{\"number\":1}}").ok());
}

TEST(CursorTest, FromRangesTakesEndAndHash) {
  BlockRange r{"mainnet", 10, 19, *BlockHash::FromHex(std::string(64, 'b')), {}, std::nullopt};
  auto cursor = Cursor::FromRanges({r});
  ASSERT_EQ(cursor.networks.size(), 1u);
  EXPECT_EQ(cursor.networks["mainnet"].number, 19u);
  EXPECT_EQ(cursor.networks["mainnet"].hash, r.hash);
}

TEST(ErrorInfoTest, ClassTravelsWithStatus) {
  Status st = WithErrorInfo(Status::IOError("down"), ErrorClass::kReconnect, "flight", "UNAVAILABLE");
  EXPECT_EQ(ClassOf(st), ErrorClass::kReconnect);
  ASSERT_NE(ErrorInfo::FromStatus(st), nullptr);
  EXPECT_EQ(ErrorInfo::FromStatus(st)->code(), "UNAVAILABLE");
  EXPECT_EQ(ClassOf(Status::Invalid("x")), ErrorClass::kFatal);
  EXPECT_EQ(ClassOf(Status::IOError("x")), ErrorClass::kRetryCall);
}

}  // namespace
}  // namespace amp
