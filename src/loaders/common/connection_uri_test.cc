#include "loaders/common/connection_uri.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/testing/status_matchers.h"

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The parsed fields in one line, so each case states its whole expectation at once.
std::string Fields(const ConnectionUri& uri) {
  std::string out = "scheme=" + uri.scheme + " user=" + uri.user.value_or("(none)") +
                    " password=" + uri.password.value_or("(none)") + " host=" + uri.host +
                    " port=" + uri.port + " path=" + (uri.has_path ? uri.path : "(none)");
  for (const auto& item : uri.query) out += " [" + item.key + "=" + item.value + " as " + item.raw + "]";
  return out;
}

TEST(ConnectionUriTest, SplitsEveryPart) {
  const auto uri = ValueOrDie(ParseUri("PostgreSQL://amp:secret@db.example:5433/chain?sslmode=require&x"));
  EXPECT_EQ(Fields(uri),
            "scheme=postgresql user=amp password=secret host=db.example port=5433 path=chain"
            " [sslmode=require as sslmode=require] [x= as x]");
  EXPECT_EQ(uri.Query("sslmode"), "require");
  EXPECT_EQ(uri.Query("absent"), std::nullopt);
  EXPECT_EQ(uri.WithoutQuery(), "PostgreSQL://amp:secret@db.example:5433/chain");
}

TEST(ConnectionUriTest, DecodesEveryPart) {
  // '+' stays '+': it means a space only in HTML form encoding.
  EXPECT_EQ(Fields(ValueOrDie(ParseUri("redis://us%65r:p%40ss%3Aw@h%6Fst:6379/d%2Fb?k%20ey=v%26al&p=a+b"))),
            "scheme=redis user=user password=p@ss:w host=host port=6379 path=d/b"
            " [k ey=v&al as k%20ey=v%26al] [p=a+b as p=a+b]");
}

TEST(ConnectionUriTest, KeepsCharactersRfc3986Reserves) {
  const auto uri = ValueOrDie(ParseUri("redis://localhost?key_pattern={table}:{id}"));
  EXPECT_EQ(uri.Query("key_pattern"), "{table}:{id}");
}

TEST(ConnectionUriTest, Ipv6HostEmptyAuthorityAndPartialUserinfo) {
  EXPECT_EQ(Fields(ValueOrDie(ParseUri("redis://[::1]:6380"))),
            "scheme=redis user=(none) password=(none) host=::1 port=6380 path=(none)");
  const auto local = ValueOrDie(ParseUri("delta:///data/lake"));
  EXPECT_EQ(Fields(local), "scheme=delta user=(none) password=(none) host= port= path=data/lake");
  EXPECT_EQ(local.location, "/data/lake");
  EXPECT_EQ(Fields(ValueOrDie(ParseUri("redis://:pw@host"))),
            "scheme=redis user= password=pw host=host port= path=(none)");
}

TEST(ConnectionUriTest, BadInputIsAnErrorThatHidesTheSecret) {
  for (const char* text : {"redis://u:s3cr%zz@host", "redis://u:s3cr%4@host"}) {
    auto uri = ParseUri(text);
    ASSERT_FALSE(uri.ok()) << text;
    EXPECT_THAT(uri.status().message(), HasSubstr("password"));
    EXPECT_THAT(uri.status().message(), Not(HasSubstr("s3cr")));
    const ErrorInfo* info = ErrorInfo::FromStatus(uri.status());
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
    EXPECT_EQ(info->code(), "BAD_URI");
  }
  EXPECT_FALSE(ParseUri("no-scheme").ok());
  EXPECT_FALSE(ParseUri("://host").ok());
  EXPECT_THAT(ParseUri("redis://[::1").status().message(), HasSubstr("IPv6"));
  EXPECT_THAT(ParseUri("redis://h?x=%G0").status().message(), HasSubstr("query parameter 'x'"));
}

TEST(ConnectionUriTest, GenericMapping) {
  auto config = GenericConfigFromUri("x://amp:pw@host:1/db?dbname=other&flag");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(*config, (LoaderConfig{{"user", "amp"},
                                   {"password", "pw"},
                                   {"host", "host"},
                                   {"port", "1"},
                                   {"dbname", "other"},
                                   {"flag", ""}}));
}

TEST(ConnectionUriTest, MapUriHandsTheParsedFieldsToTheLoader) {
  auto from_uri = MapUri([](const ConnectionUri& uri) -> Result<LoaderConfig> {
    return LoaderConfig{{"name", uri.location}};
  });
  EXPECT_EQ(*from_uri("memory://my%20store"), (LoaderConfig{{"name", "my store"}}));
  EXPECT_FALSE(from_uri("memory://bad%").ok());
}

}  // namespace
}  // namespace amp::loaders
