#include "flight/server_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace amp::flight {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseServerUrl, PlainDefaultsToPort1602) {
  auto a = ParseServerUrl("grpc://localhost");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 1602);
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->HostPort(), "localhost:1602");
  EXPECT_EQ(a->LocationUri(), "grpc+tcp://localhost:1602");
}

TEST(ParseServerUrl, ExplicitPortTcpAndTlsSchemes) {
  auto tcp = ParseServerUrl("grpc+tcp://10.0.0.7:8815");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->host, "10.0.0.7");
  EXPECT_EQ(tcp->port, 8815);
  EXPECT_FALSE(tcp->tls);

  auto tls = ParseServerUrl("grpc+tls://amp.example.com");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 1602);
  EXPECT_EQ(tls->LocationUri(), "grpc+tls://amp.example.com:1602");

  auto upper = ParseServerUrl("GRPC+TLS://Amp.Example.com:443/");
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_TRUE(upper->tls);
  EXPECT_EQ(upper->port, 443);
  EXPECT_EQ(upper->host, "Amp.Example.com");
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
  EXPECT_TRUE(a.status().IsInvalid());
  EXPECT_THAT(a.status().message(),
              AllOf(HasSubstr("'" + std::string(bad.url) + "'"), HasSubstr(bad.problem)));
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
