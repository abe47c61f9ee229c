#include "loaders/common/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "amp/builtin_loaders.h"
#include "amp/loader.h"

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A password with every character that needs care in a URI or a key=value string.
constexpr const char* kPassword = "p@ss w&rd/'\\:%?#";
constexpr const char* kEncoded = "p%40ss%20w%26rd%2F%27%5C%3A%25%3F%23";

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("AMP_SECRETS_TEST_PW", kPassword, 1);
    ::setenv("AMP_SECRETS_TEST_USER", "amp reader", 1);
    ::unsetenv("AMP_SECRETS_TEST_MISSING");
  }
  void TearDown() override {
    ::unsetenv("AMP_SECRETS_TEST_PW");
    ::unsetenv("AMP_SECRETS_TEST_USER");
  }

  // The options a built-in loader's URI maps to, before the registry resolves anything.
  static Result<LoaderConfig> MappedUri(const std::string& loader, const std::string& uri) {
    const auto* entry = BuiltinLoaders().Find(loader);
    if (entry == nullptr || !entry->from_uri) return Status::Invalid("no built-in ", loader, " URI mapping");
    return entry->from_uri(uri);
  }
};

TEST_F(SecretsTest, WholeValueIsReadVerbatim) {
  EXPECT_EQ(*ResolveSecrets("postgresql", "password", "env:AMP_SECRETS_TEST_PW"), kPassword);
  ::setenv("AMP_SECRETS_TEST_PW", "env:AMP_SECRETS_TEST_USER", 1);  // never resolved twice
  EXPECT_EQ(*ResolveSecrets("redis", "password", "env:AMP_SECRETS_TEST_PW"),
            "env:AMP_SECRETS_TEST_USER");
  EXPECT_EQ(*ResolveSecrets("redis", "host", "127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(*ResolveSecrets("redis", "key_pattern", "{table}:{a}"), "{table}:{a}");
}

TEST_F(SecretsTest, QueryParameterInUri) {
  auto r = ResolveSecrets("postgresql", "uri",
                          "postgresql://amp@127.0.0.1:5432/chain?sslmode=disable&password=env:"
                          "AMP_SECRETS_TEST_PW&application_name=x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, std::string("postgresql://amp@127.0.0.1:5432/chain?sslmode=disable&password=") +
                    kEncoded + "&application_name=x");
}

TEST_F(SecretsTest, UserInfoInUriPlainAndPercentEncoded) {
  EXPECT_EQ(*ResolveSecrets("postgresql", "uri", "postgresql://amp:env:AMP_SECRETS_TEST_PW@db:5432/c"),
            std::string("postgresql://amp:") + kEncoded + "@db:5432/c");
  EXPECT_EQ(*ResolveSecrets("postgresql", "uri", "postgresql://amp:env%3AAMP_SECRETS_TEST_PW@db/c"),
            std::string("postgresql://amp:") + kEncoded + "@db/c");
  EXPECT_EQ(*ResolveSecrets("redis", "uri", "redis://env%3AAMP_SECRETS_TEST_USER:env:AMP_SECRETS_TEST_PW@h"),
            std::string("redis://amp%20reader:") + kEncoded + "@h");
  // Nothing to resolve: unchanged, byte for byte (escapes, IPv6, fragments included).
  for (const char* uri : {"postgresql://me:p%40ss@[::1]:5432/chain%20data?sslmode=require",
                          "postgres://localhost", "postgresql://h/db?x&y=&z=1#frag"}) {
    EXPECT_EQ(*ResolveSecrets("postgresql", "uri", uri), uri);
  }
}

TEST_F(SecretsTest, LibpqKeyValueString) {
  auto r = ResolveSecrets("postgresql", "uri",
                          "host=127.0.0.1 user = amp password=env:AMP_SECRETS_TEST_PW dbname='a b'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "host=127.0.0.1 user = amp password='p@ss w&rd/\\'\\\\:%?#' dbname='a b'");
  // Not a key=value string: left alone.
  EXPECT_EQ(*ResolveSecrets("postgresql", "uri", "not env: a=b c"), "not env: a=b c");
}

TEST_F(SecretsTest, MissingVariableNamesItAndNoValue) {
  for (const std::string& value :
       {std::string("env:AMP_SECRETS_TEST_MISSING"),
        std::string("postgresql://amp:hunter2-secret@h/db?password=env:AMP_SECRETS_TEST_MISSING"),
        std::string("postgresql://amp:env:AMP_SECRETS_TEST_MISSING@h/db?sslmode=hunter2-secret"),
        std::string("host=h password=env:AMP_SECRETS_TEST_MISSING sslmode=hunter2-secret")}) {
    auto r = ResolveSecrets("postgresql", "uri", value);
    ASSERT_FALSE(r.ok()) << value;
    EXPECT_EQ(ClassOf(r.status()), ErrorClass::kFatal);
    EXPECT_THAT(r.status().message(), HasSubstr("AMP_SECRETS_TEST_MISSING, which is not set"));
    EXPECT_THAT(r.status().message(), HasSubstr("option 'uri' of loader 'postgresql'"));
    EXPECT_THAT(r.status().ToString(), Not(HasSubstr("hunter2-secret")));
  }
  auto where = ResolveSecrets("postgresql", "uri", "postgresql://h/db?password=env:AMP_SECRETS_TEST_MISSING");
  EXPECT_THAT(where.status().message(), HasSubstr("the URI parameter 'password'"));
  auto empty = ResolveSecrets("redis", "password", "env:");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("needs a variable name"));
}

// The registry applies the one rule to every loader: a PostgreSQL URI with
// ?password=env:VAR reaches the loader with the password (it used to reach libpq as the
// literal text "env:VAR").
TEST_F(SecretsTest, RegistryResolvesInsidePostgresUris) {
  const auto& registry = BuiltinLoaders();
  auto config = MappedUri("postgresql", "postgresql://amp@127.0.0.1:5432/chain?password=env:AMP_SECRETS_TEST_PW&schema=s1");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto resolved = registry.Validate("postgresql", *config);
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(resolved->at("uri"), std::string("postgresql://amp@127.0.0.1:5432/chain?password=") + kEncoded);
  EXPECT_EQ(resolved->at("schema"), "s1");
  // Unresolved when asked (named connections resolve at each load).
  auto kept = registry.Validate("postgresql", *config, /*resolve_env=*/false);
  ASSERT_TRUE(kept.ok());
  EXPECT_THAT(kept->at("uri"), HasSubstr("password=env:AMP_SECRETS_TEST_PW"));
  // A missing variable fails at Create, naming it.
  ::unsetenv("AMP_SECRETS_TEST_PW");
  auto created = registry.Create("postgresql", *config);
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(), HasSubstr("AMP_SECRETS_TEST_PW, which is not set"));
}

TEST_F(SecretsTest, RegistryResolvesRedisUriPasswords) {
  const auto& registry = BuiltinLoaders();
  for (const char* uri : {"redis://127.0.0.1:6379/0?password=env:AMP_SECRETS_TEST_PW",
                          "redis://:env:AMP_SECRETS_TEST_PW@127.0.0.1:6379/0",
                          "redis://:env%3AAMP_SECRETS_TEST_PW@127.0.0.1:6379/0"}) {
    auto config = MappedUri("redis", uri);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto resolved = registry.Validate("redis", *config);
    ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
    EXPECT_EQ(resolved->at("password"), kPassword) << uri;
  }
}

TEST(PercentEncodeTest, UnreservedStay) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a b/\xc3\xa9"), "a%20b%2F%C3%A9");
}

}  // namespace
}  // namespace amp::loaders
