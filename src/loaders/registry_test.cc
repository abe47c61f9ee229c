#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "amp/builtin_loaders.h"
#include "amp/loader.h"

namespace amp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A registry with one loader whose option table covers every type.
LoaderRegistry TestRegistry(LoaderConfig* seen = nullptr) {
  LoaderRegistry registry;
  LoaderRegistry::Entry entry;
  entry.name = "fake";
  entry.description = "test loader";
  entry.options = {
      {"host", OptionSpec::Type::kString, "", "server host", true},
      {"port", OptionSpec::Type::kInt, "5432", "server port", false},
      {"ssl", OptionSpec::Type::kBool, "false", "use TLS", false},
      {"password", OptionSpec::Type::kSecret, "", "password", false},
  };
  entry.factory = [seen](const LoaderConfig& config) -> Result<std::unique_ptr<Loader>> {
    if (seen) *seen = config;
    return Status::NotImplemented("fake loader creates nothing");
  };
  entry.uri_schemes = {"fake", "fakedb"};
  registry.Register(std::move(entry));
  return registry;
}

TEST(LoadModeTest, NamesRoundTrip) {
  for (LoadMode m : {LoadMode::kAppend, LoadMode::kOverwrite, LoadMode::kUpsert}) {
    auto parsed = LoadModeFromString(ToString(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(*LoadModeFromString("OverWrite"), LoadMode::kOverwrite);
  auto bad = LoadModeFromString("merge");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("append, overwrite, upsert"));
  EXPECT_EQ(ClassOf(bad.status()), ErrorClass::kFatal);
}

TEST(LoaderRegistryTest, UnknownOptionListsTheValidOnes) {
  auto registry = TestRegistry();
  auto st = registry.Validate("fake", {{"host", "h"}, {"hots", "x"}});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("unknown option 'hots'"));
  EXPECT_THAT(st.status().message(), HasSubstr("valid options: host, port, ssl, password"));
  EXPECT_EQ(ClassOf(st.status()), ErrorClass::kFatal);
}

TEST(LoaderRegistryTest, RequiredDefaultsAndTypes) {
  auto registry = TestRegistry();
  auto missing = registry.Validate("fake", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("requires option 'host'"));

  auto filled = registry.Validate("fake", {{"host", "db"}});
  ASSERT_TRUE(filled.ok()) << filled.status().ToString();
  EXPECT_EQ(*filled, (LoaderConfig{{"host", "db"}, {"port", "5432"}, {"ssl", "false"}}));

  auto bad_int = registry.Validate("fake", {{"host", "db"}, {"port", "54x"}});
  ASSERT_FALSE(bad_int.ok());
  EXPECT_THAT(bad_int.status().message(), HasSubstr("'port'"));
  EXPECT_THAT(bad_int.status().message(), HasSubstr("'54x'"));
  EXPECT_FALSE(registry.Validate("fake", {{"host", "db"}, {"port", ""}}).ok());
  EXPECT_FALSE(registry.Validate("fake", {{"host", "db"}, {"port", "99999999999999999999999"}}).ok());

  EXPECT_TRUE(registry.Validate("fake", {{"host", "db"}, {"ssl", "Yes"}}).ok());
  auto bad_bool = registry.Validate("fake", {{"host", "db"}, {"ssl", "maybe"}});
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_THAT(bad_bool.status().message(), HasSubstr("boolean"));
}

TEST(LoaderRegistryTest, SecretValuesAreNeverPrinted) {
  LoaderRegistry registry;
  LoaderRegistry::Entry entry;
  entry.name = "s";
  entry.options = {{"token", OptionSpec::Type::kSecret, "", "", false},
                   {"n", OptionSpec::Type::kInt, "", "", false}};
  registry.Register(entry);
  // A secret declared as an int-like option would be caught by its own type only; here a
  // wrong value of another option must not leak the secret either.
  auto st = registry.Validate("s", {{"token", "hunter2"}, {"n", "x"}});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().ToString(), Not(HasSubstr("hunter2")));

  entry.options = {{"token", OptionSpec::Type::kSecret, "", "", false},
                   {"x", OptionSpec::Type::kBool, "", "", false}};
  registry.Register(entry);  // replaces
  ASSERT_EQ(registry.names().size(), 1u);
  st = registry.Validate("s", {{"tokn", "hunter2"}});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().ToString(), Not(HasSubstr("hunter2")));
}

TEST(LoaderRegistryTest, EnvironmentReferences) {
  LoaderConfig seen;
  auto registry = TestRegistry(&seen);
  setenv("AMP_REGISTRY_TEST_PW", "s3cret", 1);
  setenv("AMP_REGISTRY_TEST_PORT", "6543", 1);
  // Validation without resolution keeps the references (what a configured connection stores).
  auto kept = registry.Validate(
      "fake", {{"host", "db"}, {"password", "env:AMP_REGISTRY_TEST_PW"}, {"port", "env:AMP_REGISTRY_TEST_PORT"}},
      /*resolve_env=*/false);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->at("password"), "env:AMP_REGISTRY_TEST_PW");
  // Create resolves them just before calling the factory.
  auto created = registry.Create(
      "fake", {{"host", "db"}, {"password", "env:AMP_REGISTRY_TEST_PW"}, {"port", "env:AMP_REGISTRY_TEST_PORT"}});
  EXPECT_TRUE(created.status().IsNotImplemented());
  EXPECT_EQ(seen.at("password"), "s3cret");
  EXPECT_EQ(seen.at("port"), "6543");

  unsetenv("AMP_REGISTRY_TEST_MISSING");
  auto missing = registry.Create("fake", {{"host", "db"}, {"password", "env:AMP_REGISTRY_TEST_MISSING"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("AMP_REGISTRY_TEST_MISSING"));
  // A resolved value is type-checked, and a secret's value stays out of the message.
  setenv("AMP_REGISTRY_TEST_PORT", "not-a-port", 1);
  auto bad = registry.Create("fake", {{"host", "db"}, {"port", "env:AMP_REGISTRY_TEST_PORT"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("must be an integer"));
}

TEST(LoaderRegistryTest, UnknownLoaderAndSchemes) {
  auto registry = TestRegistry();
  auto st = registry.Create("nope", {});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("available loaders: fake"));
  ASSERT_NE(registry.FindByScheme("FAKEDB"), nullptr);
  EXPECT_EQ(registry.FindByScheme("fakedb")->name, "fake");
  EXPECT_EQ(registry.FindByScheme("postgresql"), nullptr);
}

TEST(LoaderRegistryTest, BuiltinRegistersMemory) {
  const auto& builtin = BuiltinLoaders();
  ASSERT_NE(builtin.Find("memory"), nullptr);
  EXPECT_EQ(builtin.FindByScheme("memory")->name, "memory");
  auto loader = builtin.Create("memory", {{"name", "registry_test"}});
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  EXPECT_EQ((*loader)->name(), "memory");
  EXPECT_TRUE((*loader)->capabilities().atomic_commit);
  auto bad = builtin.Create("memory", {{"nmae", "x"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("valid options: name, atomic"));
}

// One URI parser for every scheme: %XX decodes in the location and in query values alike
// (the memory and delta schemes used to keep the escapes as written).
TEST(LoaderRegistryTest, EveryBuiltinSchemeDecodesPercentEscapes) {
  const auto& builtin = BuiltinLoaders();
  struct Case {
    const char* loader;
    const char* uri;
    const char* option;
    const char* value;
  };
  const Case cases[] = {
      {"memory", "memory://my%20store?atomic=f%61lse", "name", "my store"},
      {"memory", "memory://my%20store?atomic=f%61lse", "atomic", "false"},
      {"postgresql", "postgresql://u@h/db?schema=my%20chain", "schema", "my chain"},
      {"redis", "redis://h:6379/0?prefix=a%3Ab", "prefix", "a:b"},
      {"delta", "delta:///data/my%20lake?compression=snap%70y", "root", "/data/my lake"},
      {"delta", "delta:///data/my%20lake?compression=snap%70y", "compression", "snappy"},
  };
  int checked = 0;
  for (const auto& c : cases) {
    const auto* entry = builtin.Find(c.loader);
    if (entry == nullptr) continue;  // not built in this configuration (AMP_WITH_*)
    ASSERT_TRUE(entry->from_uri) << c.loader;
    auto config = entry->from_uri(c.uri);
    ASSERT_TRUE(config.ok()) << c.uri << ": " << config.status().ToString();
    ASSERT_TRUE(config->count(c.option)) << c.uri << " has no option " << c.option;
    EXPECT_EQ(config->at(c.option), c.value) << c.uri;
    ++checked;
  }
  EXPECT_GE(checked, 2);  // memory is always built in
  auto bad = builtin.Find("memory")->from_uri("memory://bad%zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("percent escape"));
}

TEST(ParseBoolOptionTest, Values) {
  for (const char* t : {"true", "TRUE", "1", "yes", "on"}) EXPECT_TRUE(*ParseBoolOption(t)) << t;
  for (const char* f : {"false", "0", "No", "off"}) EXPECT_FALSE(*ParseBoolOption(f)) << f;
  EXPECT_FALSE(ParseBoolOption("2").ok());
}

}  // namespace
}  // namespace amp
