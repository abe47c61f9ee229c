#include "loaders/common/connection_uri.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/testing/status_matchers.h"

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConnectionUriTest, SplitsEveryPart) {
  const auto uri = ValueOrDie(ParseUri("PostgreSQL://amp:secret@db.example:5433/chain?sslmode=require&x"));
  EXPECT_EQ(uri.scheme, "postgresql");
  EXPECT_EQ(uri.user, "amp");
  EXPECT_EQ(uri.password, "secret");
  EXPECT_EQ(uri.host, "db.example");
  EXPECT_EQ(uri.port, "5433");
  EXPECT_TRUE(uri.has_path);
  EXPECT_EQ(uri.path, "chain");
  ASSERT_EQ(uri.query.size(), 2u);
  EXPECT_EQ(uri.query[0].key, "sslmode");
  EXPECT_EQ(uri.query[0].value, "require");
  EXPECT_EQ(uri.query[1].raw, "x");
  EXPECT_EQ(uri.Query("sslmode"), "require");
  EXPECT_EQ(uri.Query("absent"), std::nullopt);
  EXPECT_EQ(uri.WithoutQuery(), "PostgreSQL://amp:secret@db.example:5433/chain");
}

TEST(ConnectionUriTest, DecodesEveryPart) {
  const auto uri = ValueOrDie(ParseUri("redis://us%65r:p%40ss%3Aw@h%6Fst:6379/d%2Fb?k%20ey=v%26al&p=a+b"));
  EXPECT_EQ(uri.user, "user");
  EXPECT_EQ(uri.password, "p@ss:w");
  EXPECT_EQ(uri.host, "host");
  EXPECT_EQ(uri.path, "d/b");
  EXPECT_EQ(uri.Query("k ey"), "v&al");
  EXPECT_EQ(uri.Query("p"), "a+b");  // '+' is not a space outside HTML forms
  EXPECT_EQ(uri.query[0].raw, "k%20ey=v%26al");
}

TEST(ConnectionUriTest, KeepsCharactersRfc3986Reserves) {
  const auto uri = ValueOrDie(ParseUri("redis://localhost?key_pattern={table}:{id}"));
  EXPECT_EQ(uri.Query("key_pattern"), "{table}:{id}");
}

TEST(ConnectionUriTest, Ipv6HostAndEmptyAuthority) {
  const auto v6 = ValueOrDie(ParseUri("redis://[::1]:6380"));
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, "6380");
  EXPECT_FALSE(v6.has_path);

  const auto local = ValueOrDie(ParseUri("delta:///data/lake"));
  EXPECT_EQ(local.host, "");
  EXPECT_TRUE(local.has_path);
  EXPECT_EQ(local.path, "data/lake");
  EXPECT_EQ(local.location, "/data/lake");
}

TEST(ConnectionUriTest, UserinfoWithoutUserOrPassword) {
  const auto no_user = ValueOrDie(ParseUri("redis://:pw@host"));
  EXPECT_EQ(no_user.user, "");
  EXPECT_EQ(no_user.password, "pw");
  const auto none = ValueOrDie(ParseUri("redis://host"));
  EXPECT_EQ(none.user, std::nullopt);
  EXPECT_EQ(none.password, std::nullopt);
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
