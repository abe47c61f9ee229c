// Named connections and connection URIs (amp/load.h): the generic URI mapping, memory://,
// and "env:" references kept unresolved until a loader is created.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "amp/builtin_loaders.h"
#include "amp/load.h"
#include "loaders/memory/memory_loader.h"

namespace amp {
namespace {

using ::testing::HasSubstr;

LoaderRegistry FakeRegistry() {
  LoaderRegistry registry;
  LoaderRegistry::Entry entry;
  entry.name = "fakepg";
  entry.options = {{"host", OptionSpec::Type::kString, "", "", false},
                   {"port", OptionSpec::Type::kInt, "", "", false},
                   {"user", OptionSpec::Type::kString, "", "", false},
                   {"password", OptionSpec::Type::kSecret, "", "", false},
                   {"dbname", OptionSpec::Type::kString, "", "", false},
                   {"sslmode", OptionSpec::Type::kString, "", "", false}};
  entry.uri_schemes = {"postgresql", "postgres"};
  registry.Register(entry);
  return registry;
}

TEST(ConnectionUriTest, GenericMapping) {
  auto registry = FakeRegistry();
  auto spec = ParseConnectionUri("PostgreSQL://me:p%40ss@db.example:5433/chain%20data?sslmode=require", registry);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->loader, "fakepg");
  EXPECT_EQ(spec->config, (LoaderConfig{{"user", "me"}, {"password", "p@ss"}, {"host", "db.example"},
                                        {"port", "5433"}, {"dbname", "chain data"}, {"sslmode", "require"}}));
  auto v6 = ParseConnectionUri("postgres://[::1]:5432/db", registry);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->config, (LoaderConfig{{"host", "::1"}, {"port", "5432"}, {"dbname", "db"}}));
  auto minimal = ParseConnectionUri("postgres://localhost", registry);
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->config, (LoaderConfig{{"host", "localhost"}}));

  auto unknown = ParseConnectionUri("mysql://x", registry);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("known schemes: postgresql, postgres"));
  EXPECT_FALSE(ParseConnectionUri("not a uri", registry).ok());
  auto bad_escape = ParseConnectionUri("postgres://me:secret%zz@h/db", registry);
  ASSERT_FALSE(bad_escape.ok());
  EXPECT_THAT(bad_escape.status().ToString(), ::testing::Not(HasSubstr("secret")));
}

TEST(ConnectionUriTest, MemoryUris) {
  auto spec = ParseConnectionUri("memory://scratch?atomic=false");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->loader, "memory");
  EXPECT_EQ(spec->config, (LoaderConfig{{"name", "scratch"}, {"atomic", "false"}}));
}

TEST(ConfigureConnectionTest, KeepsEnvironmentReferencesUnresolved) {
  Session session("grpc://127.0.0.1:1");  // never contacted
  setenv("AMP_DRIVER_TEST_STORE", "from_env", 1);
  ASSERT_TRUE(session.configure_connection("m", "memory", {{"name", "env:AMP_DRIVER_TEST_STORE"}}).ok());
  auto spec = session.connection("m");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->config.at("name"), "env:AMP_DRIVER_TEST_STORE");
  // Resolved when a loader is created.
  auto loader = BuiltinLoaders().Create(spec->loader, spec->config);
  ASSERT_TRUE(loader.ok());
  EXPECT_EQ(MemoryStore::Get("from_env").use_count() >= 2, true);

  auto none = session.connection("other");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("configured: m"));
  // A URI works in place of a name.
  auto uri = session.connection("memory://x");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->config.at("name"), "x");
  MemoryStore::Drop("from_env");
}

}  // namespace
}  // namespace amp
