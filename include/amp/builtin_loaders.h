// File: amp/builtin_loaders.h
//
// The loaders built into this library: memory always; postgresql, redis and delta when
// their AMP_WITH_* option was ON at build time. The list is generated at configure time
// from the one registration line per destination in src/loaders/CMakeLists.txt (see
// docs/architecture.md), so this layer sits above every loader and none of them depends
// on it. A caller with loaders of its own builds a LoaderRegistry, or passes a Loader
// to amp::Load directly (amp/load.h).
//
//   AMP_ASSIGN_OR_RETURN(auto loader, amp::BuiltinLoaders().Create("memory", {{"name", "t"}}));
#pragma once

#include "amp/loader.h"

namespace amp {

/// The registry with every built-in loader, built on first use.
const LoaderRegistry& BuiltinLoaders();

/// Registers every built-in loader into `registry` (replacing entries of the same name).
void RegisterBuiltinLoaders(LoaderRegistry& registry);

}  // namespace amp
