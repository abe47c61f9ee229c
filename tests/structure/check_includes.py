#!/usr/bin/env python3
"""Checks every `#include "..."` of src/, include/amp/ and tools/ against the layering.

The table below is the map of docs/architecture.md ("Layers") made executable: each module
owns some files and provides some headers, and may include the headers of the modules it
depends on (and of theirs, transitively), never of a module above it. The CMake targets
link exactly these dependencies, so an include that breaks the table is an arrow that runs
back up the house; this test names it.

Tests (`*_test.cc`) and test helpers (anything under a `testing/` folder) may include, on
top of what their module may: every public header (include/amp/*.h: a test drives its code
end to end through the API), every `testing/` helper, the concrete loaders' headers (a
test reads back what a loader wrote, e.g. MemoryStore) and the devnet's (the oracle every
test compares with). They may not include the internals of other modules above their own. tests/ and bench/ sit above everything and are not
checked.

Usage: check_includes.py --root REPO      (exit 1 listing every violation)
       check_includes.py --self-test       (the checker itself, on a synthetic tree)
"""
import argparse
import fnmatch
import os
import re
import sys
import tempfile

# Module -> (files it owns, as globs relative to the root; first match wins, in order).
OWNERS = [
    ("vocabulary", ["src/common/*"]),
    ("proto", ["src/proto/*"]),
    ("transport", ["src/flight/*"]),
    ("engine", ["src/streaming/*"]),
    ("sql", ["src/sql/*"]),
    ("loader_builtin", ["src/loaders/builtin/*"]),
    ("loader_contract", ["src/loaders/registry.cc", "src/loaders/registry_test.cc",
                         "src/loaders/common/*", "src/loaders/testing/*"]),
    # Each destination folder is a module of its own: loaders never include each other.
    ("loader:memory", ["src/loaders/memory/*"]),
    ("loader:postgres", ["src/loaders/postgres/*"]),
    ("loader:redis", ["src/loaders/redis/*"]),
    ("loader:delta", ["src/loaders/delta/*"]),
    # The pure planning half of the parallel wing (amp/parallel.h): below the load engine,
    # whose options carry a ParallelConfig.
    ("planning", ["src/parallel/parallel_config.*", "src/parallel/parallel_config_test.cc",
                  "src/parallel/partition_planner.*", "src/parallel/partition_planner_test.cc",
                  "src/parallel/query_rewrite.*", "src/parallel/query_rewrite_test.cc"]),
    ("load", ["src/load/*"]),
    ("parallel", ["src/parallel/*"]),
    ("composition", ["src/facade/*"]),
    ("audit", ["src/audit/*"]),
    ("devnet_sql", ["src/devnet/sql/*"]),
    ("devnet_chain", ["src/devnet/chain.*", "src/devnet/tables.*", "src/devnet/mix.h",
                      "src/devnet/chain_test.cc", "src/devnet/tables_test.cc"]),
    ("devnet", ["src/devnet/*"]),
    ("cli", ["tools/*"]),
]

# Public headers -> the module that implements them (one library each).
PUBLIC = {
    "amp/status.h": "vocabulary",
    "amp/types.h": "vocabulary",
    "amp/retry.h": "vocabulary",
    "amp/checkpoint.h": "vocabulary",
    "amp/client.h": "transport",
    "amp/stream.h": "engine",
    "amp/loader.h": "loader_contract",
    "amp/builtin_loaders.h": "loader_builtin",
    "amp/parallel.h": "planning",
    "amp/load_options.h": "load",
    "amp/load.h": "composition",
    "amp/audit.h": "audit",
    "amp/devnet.h": "devnet",
}

# Module -> the modules it builds on directly (the closure is allowed).
DEPENDS = {
    "vocabulary": [],
    "proto": ["vocabulary"],
    "transport": ["proto", "sql"],
    "engine": ["transport"],
    "sql": ["vocabulary"],
    "loader_contract": ["vocabulary"],
    "loader:memory": ["loader_contract"],
    "loader:postgres": ["loader_contract", "sql"],
    "loader:redis": ["loader_contract", "sql"],
    "loader:delta": ["loader_contract", "sql"],
    "loader_builtin": ["loader:memory", "loader:postgres", "loader:redis", "loader:delta"],
    "planning": ["vocabulary", "sql"],
    "load": ["engine", "loader_contract", "planning"],
    "parallel": ["load"],
    "composition": ["parallel", "loader_builtin"],
    "audit": ["composition"],
    "devnet_sql": ["vocabulary"],
    "devnet_chain": ["vocabulary"],
    # The devnet shares only the Flight SQL command codec (proto) with the client.
    "devnet": ["devnet_chain", "devnet_sql", "proto"],
    # The command line uses the public API only (see PUBLIC_ONLY).
    "cli": ["audit", "devnet"],
}
PUBLIC_ONLY = {"cli"}

GENERATED = {"flight_sql_command.pb.h": "proto"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_EXTENSIONS = (".h", ".cc", ".in")


def closure(module):
    seen, stack = set(), [module]
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        stack.extend(DEPENDS[m])
    return seen


def module_of(rel):
    if rel in {f"include/{h}" for h in PUBLIC}:
        return PUBLIC[rel[len("include/"):]]
    for module, globs in OWNERS:
        if any(fnmatch.fnmatch(rel, g) for g in globs):
            return module
    return None


def is_test(rel):
    return rel.endswith("_test.cc") or "/testing/" in rel


def target_of(root, rel, include):
    """The module an include resolves to, or None when it names no file of the tree."""
    if include in PUBLIC:
        return PUBLIC[include]
    if include in GENERATED:
        return GENERATED[include]
    if "/" not in include:
        sibling = os.path.join(os.path.dirname(rel), include)
        return module_of(sibling) if os.path.exists(os.path.join(root, sibling)) else None
    if os.path.exists(os.path.join(root, "src", include)):
        return module_of("src/" + include)
    return None


def check(root):
    violations = []
    files = []
    for top in ("src", "include/amp", "tools"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if name.endswith(SOURCE_EXTENSIONS):
                    files.append(os.path.relpath(os.path.join(dirpath, name), root))
    for rel in sorted(files):
        module = module_of(rel)
        if module is None:
            violations.append(f"{rel}: not in any module of the table (add it to OWNERS)")
            continue
        allowed = closure(module)
        test = is_test(rel)
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for number, line in enumerate(text.splitlines(), 1):
            match = INCLUDE_RE.match(line)
            if not match:
                continue
            include = match.group(1)
            target = target_of(root, rel, include)
            where = f"{rel}:{number}: #include \"{include}\""
            if target is None:
                violations.append(f"{where} names no file of the tree")
                continue
            if test and (include in PUBLIC or "/testing/" in include or
                         target.startswith(("loader", "devnet"))):
                continue
            if module in PUBLIC_ONLY and include not in PUBLIC and "/" in include:
                violations.append(f"{where}: {module} uses the public API (include/amp) only")
                continue
            if target not in allowed:
                violations.append(f"{where}: {module} may not include {target} "
                                  f"(it builds on {', '.join(sorted(allowed - {module})) or 'nothing'})")
    return violations


def self_test():
    """A back-pointing include and an unknown one fail; the allowed ones pass."""
    with tempfile.TemporaryDirectory() as root:
        def write(rel, text):
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        write("include/amp/status.h", "#pragma once\n")
        write("include/amp/client.h", '#include "amp/status.h"\n')
        write("include/amp/load.h", '#include "amp/client.h"\n')
        write("src/flight/client.cc", '#include "amp/client.h"\n#include "flight/x.h"\n')
        write("src/flight/x.h", "#pragma once\n")
        write("src/facade/load.cc", '#include "amp/load.h"\n#include "flight/x.h"\n')
        ok = check(root)
        assert ok == [], ok
        write("src/flight/client.cc", '#include "amp/client.h"\n#include "amp/load.h"\n')
        write("src/flight/x.h", '#include "facade/nowhere.h"\n')
        bad = check(root)
        assert len(bad) == 2, bad
        assert "src/flight/client.cc:2" in bad[0] and "may not include composition" in bad[0], bad
        assert "names no file" in bad[1], bad
        write("src/flight/x.h", "#pragma once\n")
        write("src/flight/client_test.cc", '#include "amp/load.h"\n#include "facade/load.cc"\n')
        bad = check(root)
        assert len(bad) == 2 and "client_test.cc:2" in bad[1], bad  # tests: public yes, internals no
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    violations = check(args.root)
    for v in violations:
        print(v)
    if violations:
        print(f"{len(violations)} include(s) against the layering (tests/structure/check_includes.py)")
        return 1
    print("every #include follows the layering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
