#!/usr/bin/env python3
"""The shipped dashboards through Grafana's own schema: a key Grafana's model would drop fails.

Each dashboard is decoded into the Dashboard model of Grafana's Foundation SDK
(`grafana-foundation-sdk` on PyPI, generated from Grafana's schema) and encoded back; every key
path of our JSON must survive. Keys the SDK adds (defaults) are fine, and so is a key whose value
is null (null and absent decode alike). Values that change on the way are reported too.

    python3 tools/grafana_roundtrip.py [dashboard.json ...]   (default: dashboards/*.json)

Without the SDK importable it prints a skip message and exits 0, unless REQUIRE_GRAFANA_SDK is set
(CI sets it), then it fails. Run by tests/lint.rs.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Key paths (a regular expression over "/key/list[]/key") the SDK drops deliberately, with why.
EXCEPTIONS: list[tuple[str, str]] = [
    (
        r"/__inputs(/.*)?|/__requires(/.*)?",
        "the export envelope, not the dashboard model: Grafana's import reads __requires (the "
        "minimum Grafana and data source versions) and __inputs, then strips both",
    ),
    (
        r"/templating/list\[\]/definition",
        "not in the schema, but Grafana's query variable editor writes it and the variables list "
        "shows it; Grafana keeps it (it is the query in words) and the lint checks it equals the query",
    ),
]


def key_paths(value: object, prefix: str = "") -> dict[str, object]:
    """Every key path (list indices kept) with its value; null values count as absent."""
    out: dict[str, object] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None:
                continue
            path = f"{prefix}/{k}"
            out[path] = v
            out.update(key_paths(v, path))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(key_paths(v, f"{prefix}[{i}]"))
    return out


def generic(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def main(argv: list[str]) -> int:
    try:
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.cog.plugins import register_default_plugins
        from grafana_foundation_sdk.models.dashboard import Dashboard
    except ImportError as e:
        if os.environ.get("REQUIRE_GRAFANA_SDK"):
            print(f"REQUIRE_GRAFANA_SDK is set but the SDK does not import: {e}", file=sys.stderr)
            return 1
        print(f"grafana-foundation-sdk not importable ({e}): skipping the round trip")
        return 0
    # Panel options, field configs and queries decode into their plugins' models only once
    # the plugins are registered; unregistered, they would pass through untouched.
    register_default_plugins()
    try:
        from importlib.metadata import version

        sdk = version("grafana-foundation-sdk")
    except Exception:  # an unpackaged checkout of the SDK
        sdk = "unknown"
    # The SDK is released per Grafana version as EPOCH!GRAFANA_VERSION, and a plain `pip install`
    # picks the newest epoch, whose first build targets Grafana 10.1: CI pins the 11.6 one.
    print(f"grafana-foundation-sdk {sdk}")

    paths = [Path(a) for a in argv] or sorted((ROOT / "dashboards").glob("*.json"))
    used: set[int] = set()
    problems: list[str] = []
    for path in paths:
        original = json.loads(path.read_text())
        model = Dashboard.from_json(original)
        back = json.loads(json.dumps(model, cls=JSONEncoder))
        before, after = key_paths(original), key_paths(back)
        dropped: dict[str, list[str]] = {}
        for p in sorted(set(before) - set(after)):
            dropped.setdefault(generic(p), []).append(p)
        for g, concrete in dropped.items():
            if any(g.startswith((other + "/", other + "[")) for other in dropped if other != g):
                continue  # reported with its parent
            for n, (pattern, reason) in enumerate(EXCEPTIONS):
                if re.fullmatch(pattern, g):
                    used.add(n)
                    print(f"{path.name}: dropped {g} ({len(concrete)}x), excepted: {reason}")
                    break
            else:
                problems.append(f"{path.name}: the SDK drops {g} ({len(concrete)}x, e.g. {concrete[0]})")
        for p in sorted(set(before) & set(after)):
            a, b = before[p], after[p]
            if isinstance(a, (dict, list)) or a == b:
                continue
            problems.append(f"{path.name}: {p} changes on the way: {a!r} -> {b!r}")
        added = sorted({generic(p) for p in set(after) - set(before)})
        print(f"{path.name}: {len(before)} key paths kept; the SDK adds {len(added)} default(s)")
    for n, (pattern, _) in enumerate(EXCEPTIONS):
        if n not in used and not argv:
            problems.append(f"stale exception (nothing dropped matches it, remove it): {pattern}")
    if problems:
        print(f"\n{len(problems)} round-trip problem(s) (SDK {sdk}):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{len(paths)} dashboard(s) survive Grafana's schema")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
