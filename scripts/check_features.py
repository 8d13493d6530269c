#!/usr/bin/env python3
"""Fails when the Python extension, built alone, would compile a dependency with
other features than the workspace's test build does.

`cargo test --workspace` resolves features over every workspace crate;
`maturin develop` and `pip install .` build only `sluicegate-python`, whose own
dependency graph asks for fewer. Any crate whose features differ is compiled a
second time, and with it everything built on it: one missing feature of
`serde_core` or `syn` recompiled most of the tree (218 s of a two-core CI run).
`bindings/python/Cargo.toml` requests the missing features explicitly; this
check says which ones are missing when the dependencies change.

It reads both unit graphs from cargo (`--unit-graph`, an unstable flag that
stable cargo accepts under RUSTC_BOOTSTRAP=1; nothing is built).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def unit_graph(args: list[str]) -> dict[tuple[str, str, str, str], frozenset[tuple[str, ...]]]:
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(
        ["cargo", *args, "--unit-graph", "-Z", "unstable-options"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    # A crate can be built twice in one graph (for the build scripts and for
    # the target, with different features): each key holds every feature set.
    units: dict[tuple[str, str, str, str], set[tuple[str, ...]]] = {}
    for u in json.loads(out)["units"]:
        # pkg_id looks like "registry+https://...#serde_core@1.0.229".
        key = (u["pkg_id"].rsplit("#", 1)[-1], u["target"]["name"], u["mode"], str(u["platform"]))
        units.setdefault(key, set()).add(tuple(sorted(u["features"])))
    return {k: frozenset(v) for k, v in units.items()}


def main() -> int:
    workspace = unit_graph(["build", "--workspace", "--all-targets"])
    python = unit_graph(["build", "-p", "sluicegate-python"])
    differ = [
        (key, workspace[key], features)
        for key, features in sorted(python.items())
        if key in workspace and workspace[key] != features
    ]
    for (pkg, target, mode, _), ws, py in differ:
        missing = sorted({f for fs in ws for f in fs} - {f for fs in py for f in fs})
        extra = sorted({f for fs in py for f in fs} - {f for fs in ws for f in fs})
        print(f"{pkg} ({target}, {mode}): the extension alone lacks {missing or '-'} and adds {extra or '-'}")
    if differ:
        print(f"{len(differ)} units would be compiled twice: request the workspace's features in "
              "bindings/python/Cargo.toml", file=sys.stderr)
        return 1
    print(f"feature sets agree: the extension's {sum(map(len, python.values()))} units, shared with the workspace where both use them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
