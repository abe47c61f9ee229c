// The generated registration matches the build: one registry entry per amp_builtin_loader()
// line whose option was ON, memory among them, and RegisterBuiltinLoaders gives the same.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "amp/builtin_loaders.h"

namespace amp {
namespace {

std::vector<std::string> ConfiguredFolders() {
  std::vector<std::string> folders;
  std::stringstream list(AMP_BUILTIN_LOADER_FOLDERS);
  for (std::string folder; std::getline(list, folder, ',');) folders.push_back(folder);
  return folders;
}

TEST(BuiltinLoadersTest, OneEntryPerRegistrationLine) {
  const auto folders = ConfiguredFolders();
  ASSERT_FALSE(folders.empty());
  EXPECT_EQ(BuiltinLoaders().names().size(), folders.size());
  ASSERT_NE(BuiltinLoaders().Find("memory"), nullptr);
  for (const auto& name : BuiltinLoaders().names()) {
    const auto* entry = BuiltinLoaders().Find(name);
    ASSERT_NE(entry, nullptr);
    EXPECT_TRUE(static_cast<bool>(entry->factory)) << name;
    EXPECT_FALSE(entry->uri_schemes.empty()) << name;
  }
}

TEST(BuiltinLoadersTest, RegisterIntoAnotherRegistry) {
  LoaderRegistry registry;
  RegisterBuiltinLoaders(registry);
  EXPECT_EQ(registry.names(), BuiltinLoaders().names());
}

}  // namespace
}  // namespace amp
