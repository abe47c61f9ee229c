#include "flight/server_url.h"

#include "common/testing/status_matchers.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::flight {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Accepted spellings: the default port, explicit ports, tcp and tls, any case, a trailing slash.
TEST(ParseServerUrl, SchemesPortsAndDefaults) {
  struct Good {
    const char* url;
    std::string host;
    int port;
    bool tls;
    std::string location;
  };
  for (const Good& good : {
           Good{"grpc://localhost", "localhost", 1602, false, "grpc+tcp://localhost:1602"},
           Good{"grpc+tcp://10.0.0.7:8815", "10.0.0.7", 8815, false, "grpc+tcp://10.0.0.7:8815"},
           Good{"grpc+tls://amp.example.com", "amp.example.com", 1602, true,
                "grpc+tls://amp.example.com:1602"},
           Good{"GRPC+TLS://Amp.Example.com:443/", "Amp.Example.com", 443, true,
                "grpc+tls://Amp.Example.com:443"},
       }) {
    auto parsed = ParseServerUrl(good.url);
    ASSERT_TRUE(parsed.ok()) << good.url << ": " << parsed.status();
    EXPECT_EQ(parsed->host, good.host) << good.url;
    EXPECT_EQ(parsed->port, good.port) << good.url;
    EXPECT_EQ(parsed->tls, good.tls) << good.url;
    EXPECT_EQ(parsed->HostPort(), good.host + ":" + std::to_string(good.port)) << good.url;
    EXPECT_EQ(parsed->LocationUri(), good.location) << good.url;
  }
}

TEST(ParseServerUrl, BracketedIpv6) {
  auto a = ParseServerUrl("grpc://[::1]:9000");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9000);
  EXPECT_EQ(a->HostPort(), "[::1]:9000");
  auto d = ParseServerUrl("grpc://[fe80::1]");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->port, 1602);
}

struct BadUrl {
  const char* url;
  const char* problem;
};

class ParseServerUrlErrors : public ::testing::TestWithParam<BadUrl> {};

TEST_P(ParseServerUrlErrors, NamesTheUrlAndTheProblem) {
  const BadUrl& bad = GetParam();
  auto a = ParseServerUrl(bad.url);
  ASSERT_FALSE(a.ok()) << bad.url;
  ExpectInvalidMentioning(a.status(), {"'" + std::string(bad.url) + "'", bad.problem});
}

INSTANTIATE_TEST_SUITE_P(
    All, ParseServerUrlErrors,
    ::testing::Values(BadUrl{"localhost:1602", "missing scheme"},
                      BadUrl{"http://localhost:1602", "use grpc://"},
                      BadUrl{"https://amp.example.com", "use grpc+tls://"},
                      BadUrl{"ftp://host", "unsupported scheme 'ftp'"},
                      BadUrl{"grpc://", "missing host"},
                      BadUrl{"grpc://:1602", "missing host"},
                      BadUrl{"grpc://host:", "empty port"},
                      BadUrl{"grpc://host:abc", "port 'abc' is not a number"},
                      BadUrl{"grpc://host:0", "out of range"},
                      BadUrl{"grpc://host:70000", "out of range"},
                      BadUrl{"grpc://host:1602/query", "unexpected path"},
                      BadUrl{"grpc://host?x=1", "unexpected path, query"},
                      BadUrl{"grpc://ho st:1", "invalid character ' '"},
                      BadUrl{"grpc://[::1", "unterminated '['"},
                      BadUrl{"grpc://[::1]x", "unexpected 'x'"},
                      BadUrl{"grpc://[zz]:1", "not an IPv6 address"}));

TEST(ParseServerUrl, EmptyUrl) {
  auto a = ParseServerUrl("");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("empty"));
}

TEST(ParseServerUrl, UserInfoIsRejectedAndMasked) {
  auto a = ParseServerUrl("grpc://bob:s3cret@host:1602");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(),
              AllOf(HasSubstr("grpc://***@host:1602"), HasSubstr("user info"),
                    Not(HasSubstr("s3cret"))));
}

}  // namespace
}  // namespace amp::flight
