// The one way every destination reads secrets from the environment.
//
// A loader option may be written `env:NAME`: its value is then read from the environment
// variable NAME when the loader is created, so passwords need not appear on command lines,
// in job files or in shell history. Inside a connection URI the same works per part:
//
//   postgresql://amp@db:5432/chain?password=env:PGPW       query parameter value
//   postgresql://amp:env:PGPW@db:5432/chain                 user-info password (or user)
//   postgresql://amp:env%3APGPW@db/chain                    the reference percent-encoded
//   host=db user=amp password=env:PGPW                      libpq key=value strings
//
// The variable's value is substituted percent-encoded in URIs (and quoted in key=value
// strings), so a password holding '@', '&' or ' ' stays one value. LoaderRegistry::Validate
// applies ResolveSecrets() to every option of every loader; loaders never resolve `env:`
// themselves. Errors are kFatal ("loader", "MISSING_ENV" / "INVALID_CONFIG"), name the
// option and the variable, and never contain a value.
#pragma once

#include <string>

#include "amp/status.h"

namespace amp::loaders {

/// True for "env:NAME" (NAME non-empty).
bool IsEnvReference(const std::string& value);

/// `value` with its environment references resolved: the whole value when it is
/// "env:NAME" (used verbatim, never scanned again); else, when it is a connection URI
/// (scheme://...) or a libpq key=value string, each part written as a reference.
/// `option` and `loader` only name the place in error messages.
Result<std::string> ResolveSecrets(const std::string& loader, const std::string& option,
                                   const std::string& value);

/// RFC 3986 percent-encoding of everything but unreserved characters.
std::string PercentEncode(const std::string& text);

}  // namespace amp::loaders
