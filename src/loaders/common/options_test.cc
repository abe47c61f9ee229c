#include "loaders/common/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace amp::loaders {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using T = OptionSpec::Type;

std::vector<OptionSpec> Specs() {
  return {{"host", T::kString, "localhost", "Host."},
          {"port", T::kInt, "6379", "Port."},
          {"tls", T::kBool, "false", "TLS."},
          {"password", T::kSecret, "", "Password."},
          {"root", T::kString, "", "Root.", /*required=*/true}};
}

TEST(OptionsTest, ValidateFillsDefaultsAndResolvesEnv) {
  ::setenv("AMP_OPTIONS_TEST_PW", "hunter2", 1);
  auto config = ValidateOptions("x", Specs(), {{"root", "/r"}, {"password", "env:AMP_OPTIONS_TEST_PW"}},
                                /*resolve_env=*/true);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(*config, (LoaderConfig{{"host", "localhost"},
                                   {"port", "6379"},
                                   {"tls", "false"},
                                   {"password", "hunter2"},
                                   {"root", "/r"}}));
  auto unresolved = ValidateOptions("x", Specs(), {{"root", "/r"}, {"password", "env:AMP_OPTIONS_TEST_PW"}},
                                    /*resolve_env=*/false);
  ASSERT_TRUE(unresolved.ok());
  EXPECT_EQ(unresolved->at("password"), "env:AMP_OPTIONS_TEST_PW");
  ::unsetenv("AMP_OPTIONS_TEST_PW");
}

TEST(OptionsTest, ValidateRefusesWhatTheTableForbids) {
  auto unknown = ValidateOptions("x", Specs(), {{"root", "/r"}, {"colour", "red"}}, true);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown option 'colour'"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("host, port, tls, password, root"));
  EXPECT_THAT(ValidateOptions("x", Specs(), {}, true).status().message(), HasSubstr("requires option 'root'"));
  EXPECT_THAT(ValidateOptions("x", Specs(), {{"root", "/r"}, {"port", "12a"}}, true).status().message(),
              HasSubstr("must be an integer"));
  EXPECT_THAT(ValidateOptions("x", Specs(), {{"root", "/r"}, {"tls", "maybe"}}, true).status().message(),
              HasSubstr("must be a boolean"));
  const ErrorInfo* info = ErrorInfo::FromStatus(ValidateOptions("x", Specs(), {}, true).status());
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->error_class(), ErrorClass::kFatal);
  EXPECT_EQ(info->code(), "INVALID_CONFIG");
}

TEST(OptionsTest, TypedReads) {
  OptionValues options("x", Specs(), {{"port", "7000"}, {"tls", "on"}});
  EXPECT_EQ(options.GetString("host"), "localhost");  // the table's default
  EXPECT_EQ(*options.GetInt("port", 1, 65535), 7000);
  EXPECT_TRUE(*options.GetBool("tls"));
  EXPECT_TRUE(options.IsDefault("host"));
  EXPECT_FALSE(options.IsDefault("port"));
  EXPECT_EQ(options.Default("port"), "6379");
  auto out_of_range = options.GetInt("port", 1, 100);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_THAT(out_of_range.status().message(),
              HasSubstr("option 'port' of loader 'x' must be an integer in [1, 100], got '7000'"));
  EXPECT_FALSE(options.GetInt("nope", 0, 1).ok());
}

TEST(OptionsTest, SecretValuesNeverAppearInErrors) {
  OptionValues options("x", {{"pin", T::kSecret, "", "PIN."}}, {{"pin", "s3cret"}});
  auto pin = options.GetInt("pin", 0, 9999);
  ASSERT_FALSE(pin.ok());
  EXPECT_THAT(pin.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_EQ(options.GetSecret("pin"), "s3cret");
}

}  // namespace
}  // namespace amp::loaders
