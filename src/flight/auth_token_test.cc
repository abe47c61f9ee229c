#include "flight/auth_token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace amp::flight {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr const char kFileToken[] = "file-access-token-123";

// A fresh HOME directory per test, removed afterwards.
class AuthTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "amp_auth_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
  }
  void TearDown() override { fs::remove_all(home_); }

  void WriteCache(const std::string& content) {
    fs::create_directories(fs::path(home_) / ".amp" / "cache");
    std::ofstream(AuthCacheFile(home_)) << content;
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::string ValidCache(int64_t expiry_ms) {
    return std::string(R"({"accessToken":")") + kFileToken +
           R"(","refreshToken":"refresh-xyz","userId":"u1","accounts":["0xabc"],"expiry":)" +
           std::to_string(expiry_ms) + "}";
  }

  AuthInputs Inputs() {
    AuthInputs in;
    in.home = home_;
    return in;
  }

  std::string home_;
};

TEST_F(AuthTokenTest, CacheFilePathHonoursHome) {
  EXPECT_EQ(AuthCacheFile("/home/ann"), "/home/ann/.amp/cache/amp_cli_auth");
  EXPECT_EQ(AuthCacheFile("/home/ann/"), "/home/ann/.amp/cache/amp_cli_auth");
}

TEST_F(AuthTokenTest, NothingConfiguredMeansNoToken) {
  auto token = ResolveAuthToken(Inputs());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_FALSE(token->has_value());

  AuthInputs no_home;
  auto none = ResolveAuthToken(no_home);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(AuthTokenTest, ExplicitBeatsEnvBeatsFile) {
  WriteCache(ValidCache(NowMs() + 3'600'000));
  AuthInputs in = Inputs();
  in.explicit_token = "explicit-tok";
  in.env_token = "env-tok";
  EXPECT_EQ(ResolveAuthToken(in)->value(), "explicit-tok");
  in.explicit_token.clear();
  EXPECT_EQ(ResolveAuthToken(in)->value(), "env-tok");
  in.env_token = "";  // set but empty: treated as unset
  EXPECT_EQ(ResolveAuthToken(in)->value(), kFileToken);
  in.env_token.reset();
  EXPECT_EQ(ResolveAuthToken(in)->value(), kFileToken);
}

TEST_F(AuthTokenTest, EnvBeatsABrokenFile) {
  WriteCache("not json");
  AuthInputs in = Inputs();
  in.env_token = "env-tok\n";  // trailing newline from $(cat file) is trimmed
  auto token = ResolveAuthToken(in);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value(), "env-tok");
}

TEST_F(AuthTokenTest, MissingExpiryIsAccepted) {
  WriteCache(std::string(R"({"accessToken":")") + kFileToken + R"(","expiry":null})");
  EXPECT_EQ(ResolveAuthToken(Inputs())->value(), kFileToken);
  WriteCache(std::string(R"({"userId":"u","accessToken":")") + kFileToken + R"("})");
  EXPECT_EQ(ResolveAuthToken(Inputs())->value(), kFileToken);
}

TEST_F(AuthTokenTest, ExpiredTokenTellsTheUserToLogInAgain) {
  WriteCache(ValidCache(NowMs() - 60'000));
  auto token = ResolveAuthToken(Inputs());
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(),
              AllOf(HasSubstr("expired"), HasSubstr("amp auth login"), HasSubstr("AMP_AUTH_TOKEN"),
                    HasSubstr(AuthCacheFile(home_)), Not(HasSubstr(kFileToken)),
                    Not(HasSubstr("refresh-xyz"))));
  EXPECT_EQ(ClassOf(token.status()), ErrorClass::kFatal);
}

TEST_F(AuthTokenTest, ExpiryIsComparedWithNow) {
  WriteCache(ValidCache(1'000'000));  // 1970
  AuthInputs in = Inputs();
  in.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(999'999));
  EXPECT_TRUE(ResolveAuthToken(in).ok());
  in.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'000'001));
  EXPECT_FALSE(ResolveAuthToken(in).ok());
}

TEST_F(AuthTokenTest, MalformedFilesNameTheFileButNotTheContent) {
  const std::string secret = "secret-in-broken-file";
  for (const std::string& content :
       {std::string("{\"accessToken\": \"") + secret + "\"",  // truncated JSON
        std::string("[\"") + secret + "\"]",                   // not an object
        std::string("{\"refreshToken\":\"") + secret + "\"}",  // no accessToken
        std::string("{\"accessToken\":42}"),
        std::string("{\"accessToken\":\"\"}"),
        std::string("{\"accessToken\":\"") + secret + "\",\"expiry\":\"tomorrow\"}"}) {
    WriteCache(content);
    auto token = ResolveAuthToken(Inputs());
    ASSERT_FALSE(token.ok()) << content;
    EXPECT_THAT(token.status().message(),
                AllOf(HasSubstr(AuthCacheFile(home_)), Not(HasSubstr(secret))))
        << content;
  }
}

TEST_F(AuthTokenTest, UnreadableCacheIsAnError) {
  fs::create_directories(AuthCacheFile(home_));  // a directory where the file should be
  auto token = ResolveAuthToken(Inputs());
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(),
              AllOf(HasSubstr(AuthCacheFile(home_)), HasSubstr("not a regular file")));
}

TEST_F(AuthTokenTest, TokensWithControlCharactersAreRejectedWithoutEchoingThem) {
  AuthInputs in;
  in.explicit_token = "abc def";
  auto token = ResolveAuthToken(in);
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(),
              AllOf(HasSubstr("ClientOptions.auth_token"), Not(HasSubstr("abc def"))));
  in.explicit_token.clear();
  in.env_token = "abc\x01";
  token = ResolveAuthToken(in);
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("AMP_AUTH_TOKEN"));
}

TEST_F(AuthTokenTest, FromEnvironmentReadsTokenAndHome) {
  const char* old_home = std::getenv("HOME");
  std::string saved_home = old_home ? old_home : "";
  setenv("HOME", home_.c_str(), 1);
  setenv(kAuthTokenEnvVar, "from-env", 1);
  AuthInputs in = AuthInputs::FromEnvironment("");
  EXPECT_EQ(in.home, home_);
  EXPECT_EQ(in.env_token, "from-env");
  unsetenv(kAuthTokenEnvVar);
  in = AuthInputs::FromEnvironment("x");
  EXPECT_FALSE(in.env_token.has_value());
  EXPECT_EQ(in.explicit_token, "x");
  if (old_home) {
    setenv("HOME", saved_home.c_str(), 1);
  } else {
    unsetenv("HOME");
  }
}

}  // namespace
}  // namespace amp::flight
