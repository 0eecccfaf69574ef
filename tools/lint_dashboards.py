#!/usr/bin/env python3
"""Grafana's dashboard-linter rules, applied to the shipped dashboards.

A stdlib-only implementation of the rule set of github.com/grafana/dashboard-linter (lint/rule_*.go),
run by tests/lint.rs:

    python3 tools/lint_dashboards.py [dashboard.json ...]   (default: dashboards/*.json)

Rules (the linter's names; where ours is stricter, it says so):
  template-datasource-rule        a `datasource` variable of type datasource, labelled "Data source"
  template-job-rule               a `job` query variable: on $datasource, multi, allValue ".+", label "Job"
  template-instance-rule          the same for `instance` (label "Instance")
  template-label-promql-rule      query variables are label_values(<valid PromQL>, label) and friends
  template-on-time-change-reload-rule  query variables refresh on time range change (refresh 2)
  panel-datasource-rule           every panel and every target use ${datasource} (the linter checks
                                  the panel of four types; we check every panel and target)
  panel-title-description-rule    every panel has a title and a description (the linter: six types;
                                  we: every panel but rows, which need a title)
  panel-units-rule                a valid unit, or value mappings (the linter: six types and accepts
                                  an empty mapping list; we: every panel with queries, non-empty mappings)
  panel-no-targets-rule           every panel but rows has a query
  target-promql-rule              every expression is PromQL: checked here for structure, and by
                                  `promtool check rules` when promtool is on PATH (REQUIRE_PROMTOOL=1
                                  makes its absence an error)
  target-rate-interval-rule       rate/irate ranges are $__rate_interval (we add increase)
  target-job-rule                 every selector has job=~"$job"
  target-instance-rule            every selector has instance=~"$instance"
  target-counter-agg-rule         a counter (`_total`) is only read through rate/irate/increase (the
                                  linter misses selectors with matchers; we check the metric name)
  uneditable-dashboard            "editable": false

Deliberate exceptions are in EXCEPTIONS below, each with its reason; an exception that no longer
matches anything is itself an error, so the table cannot go stale.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (rule, dashboard uid, panel title, substring of the expression or "" for the panel) -> reason
EXCEPTIONS: list[tuple[str, str, str, str, str]] = [
    (
        "target-rate-interval-rule",
        "tencentcloud-ssl-overview",
        "Answers not understood (last hour)",
        "increase(tencentcloud_ssl_decode_errors_total",
        "a fixed window by design: the panel counts the answers not understood in the last hour "
        "(its title says so), the same window at every zoom level, not a per-second rate",
    ),
    (
        "target-rate-interval-rule",
        "tencentcloud-ssl-overview",
        "Answers not understood (last hour)",
        "increase(tencentcloud_ssl_totals_mismatches_total",
        "a fixed window by design: totals mismatches counted over the last hour, like the query "
        "beside it",
    ),
]

VALID_UNITS = set(
    """none string short percent percentunit humidity dB hex0x hex sci locale pixel accMS2 accFS2 accG
    degree radian grad arcmin arcsec areaM2 areaF2 areaMI2 flops mflops gflops tflops pflops eflops
    zflops yflops ppm conppb conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL
    conmmolL currencyUSD currencyGBP currencyEUR currencyJPY currencyRUB currencyUAH currencyBRL
    currencyDKK currencyISK currencyNOK currencySEK currencyCZK currencyCHF currencyPLN currencyBTC
    currencymBTC currencyμBTC currencyZAR currencyINR currencyKRW currencyIDR currencyPHP currencyVND
    bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes decgbytes tbytes dectbytes
    pbytes decpbytes pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs Mbits GiBs Gibits
    GBs Gbits TiBs Tibits TBs Tbits PiBs Pibits PBs Pbits dateTimeAsIso dateTimeAsIsoNoDateIfToday
    dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal dateTimeAsLocalNoDateIfToday
    dateTimeAsSystem dateTimeFromNow watt kwatt megwatt gwatt mwatt Wm2 voltamp kvoltamp voltampreact
    kvoltampreact watth watthperkg kwatth kwattm amph kamph mamph joule ev amp kamp mamp volt kvolt
    mvolt dBm ohm kohm Mohm farad µfarad nfarad pfarad ffarad henry mhenry µhenry lumens flowgpm
    flowcms flowcfs flowcfm litreh flowlpm flowmlpm lux forceNm forcekNm forceN forcekN Hs KHs MHs GHs
    THs PHs EHs massmg massg masslb masskg masst lengthmm lengthin lengthft lengthm lengthkm lengthmi
    pressurembar pressurebar pressurekbar pressurepa pressurehpa pressurekpa pressurehg pressurepsi
    radbq radci radgy radrad radsv radmsv radusv radrem radexpckg radr radsvh radmsvh radusvh rotrpm
    rothz rotrads rotdegs celsius fahrenheit kelvin hertz ns µs ms s m h d dtdurationms dtdurations
    dthms dtdhms timeticks clockms clocks cps ops reqps rps wps iops cpm opm rpm wpm mps mpm velocityms
    velocitykmh velocitymph velocityknot mlitre litre m3 Nm3 dm3 gallons bool bool_yes_no
    bool_on_off""".split()
)

DATASOURCE_UIDS = {"$datasource", "${datasource}"}

# ---------------------------------------------------------------------------------------------
# A small PromQL reader: enough to find selectors, their matchers and ranges, and the function
# each range is passed to. Grafana variables ($x, ${x}) are tokens of their own.

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]+\}|\$[A-Za-z_]\w*|\[\[[^\[\]]+\]\])
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=,:@])
  | (?P<open>[({\[])
  | (?P<close>[)}\]])
    """,
    re.VERBOSE,
)

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
BINARY_KEYWORDS = {"and", "or", "unless", "bool", "atan2", "offset"}
MATCH_OPS = {"=", "!=", "=~", "!~"}


class PromQLError(Exception):
    pass


@dataclass
class Selector:
    name: str
    matchers: list[tuple[str, str, str]]  # (label, op, value without quotes)
    range: str | None = None  # the token between [ and ], for matrix selectors
    call: str | None = None  # the function a matrix selector is passed to
    end: int = 0  # offset in the expression just past the name and matchers


def tokenize(expr: str) -> tuple[list[tuple[str, str]], list[int]]:
    """Tokens (kind, text) and the offset just past each."""
    out, ends, pos = [], [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise PromQLError(f"unexpected character {expr[pos]!r} at {pos}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
            ends.append(pos)
    return out, ends


def unquote(s: str) -> str:
    if s.startswith("`"):
        return s[1:-1]
    return bytes(s[1:-1], "utf-8").decode("unicode_escape")


def selectors(expr: str) -> list[Selector]:
    """Every vector or matrix selector in `expr`; raises PromQLError on a malformed expression."""
    toks, ends = tokenize(expr)
    found: list[Selector] = []
    stack: list[tuple[str, str | None]] = []  # ("call", name) | ("group", None) | ("labels", kw)
    pending_agg: str | None = None
    i = 0

    def peek(j: int) -> tuple[str, str]:
        return toks[j] if j < len(toks) else ("eof", "")

    def read_matchers(j: int) -> tuple[list[tuple[str, str, str]], int]:
        matchers = []
        j += 1  # past {
        while peek(j) != ("close", "}"):
            label, op, value = peek(j), peek(j + 1), peek(j + 2)
            if label[0] not in ("ident", "string") or op[1] not in MATCH_OPS or value[0] != "string":
                raise PromQLError(f"malformed matcher near {label[1]!r} {op[1]!r} {value[1]!r}")
            matchers.append((label[1], op[1], unquote(value[1])))
            j += 3
            if peek(j) == ("op", ","):
                j += 1
            elif peek(j) != ("close", "}"):
                raise PromQLError(f"expected , or }} after a matcher, got {peek(j)[1]!r}")
        return matchers, j + 1

    def read_range(j: int) -> tuple[str, int]:
        j += 1  # past [
        parts = []
        while peek(j) != ("close", "]"):
            if peek(j)[0] == "eof":
                raise PromQLError("unclosed [")
            parts.append(peek(j)[1])
            j += 1
        if not parts:
            raise PromQLError("empty range")
        return "".join(parts), j + 1

    while i < len(toks):
        kind, text = toks[i]
        if kind == "ident" and text in LABEL_LIST_KEYWORDS:
            if peek(i + 1) == ("open", "("):
                stack.append(("labels", text))
                i += 2
                while peek(i) != ("close", ")"):
                    if peek(i)[0] not in ("ident", "string") and peek(i) != ("op", ","):
                        raise PromQLError(f"unexpected {peek(i)[1]!r} in a {text} label list")
                    i += 1
                stack.pop()
            elif text not in ("group_left", "group_right"):
                raise PromQLError(f"{text} needs a label list")
            i += 1
            continue
        if kind == "ident" and text in AGGREGATIONS and peek(i + 1)[1] in ("by", "without"):
            pending_agg = text
            i += 1
            continue
        if kind == "ident" and peek(i + 1) == ("open", "(") and text not in BINARY_KEYWORDS:
            stack.append(("call", text))
            i += 2
            continue
        if kind == "ident" and text.lower() in BINARY_KEYWORDS | {"inf", "nan"}:
            i += 1
            continue
        if (kind == "ident") or (kind == "open" and text == "{"):
            name = text if kind == "ident" else ""
            j = i + 1 if kind == "ident" else i
            matchers: list[tuple[str, str, str]] = []
            if peek(j) == ("open", "{"):
                matchers, j = read_matchers(j)
            if not name and not matchers:
                raise PromQLError("empty selector {}")
            sel = Selector(name, matchers, end=ends[j - 1])
            if peek(j) == ("open", "["):
                sel.range, j = read_range(j)
                top = stack[-1] if stack else None
                sel.call = top[1] if top and top[0] == "call" else None
            found.append(sel)
            i = j
            continue
        if kind == "open" and text == "(":
            stack.append(("call", pending_agg) if pending_agg else ("group", None))
            pending_agg = None
        elif kind == "open" and text == "[":
            # a subquery range after a parenthesised expression
            _, i = read_range(i)
            continue
        elif kind == "close":
            if text != ")" or not stack:
                raise PromQLError(f"unbalanced {text!r}")
            stack.pop()
        elif kind == "open":
            raise PromQLError(f"unexpected {text!r}")
        i += 1
    if stack:
        raise PromQLError("unclosed (")
    return found


def substitute(expr: str) -> str:
    """Grafana's variables replaced by values PromQL parses, as the linter expands them."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        name = name.split(":")[0]
        if name in ("__rate_interval", "__interval", "__range") or name.startswith("__auto"):
            return "5m"
        if name in ("__interval_ms", "__range_ms", "__range_s"):
            return "300"
        return ".+"

    return re.sub(r"\$\{([^}]+)\}|\$([A-Za-z_]\w*)|\[\[([^\[\]]+)\]\]", value, expr)


# ---------------------------------------------------------------------------------------------


@dataclass
class Finding:
    rule: str
    dashboard: str
    panel: str
    expr: str
    message: str


@dataclass
class Linter:
    findings: list[Finding] = field(default_factory=list)
    used_exceptions: set[int] = field(default_factory=set)
    excepted: list[tuple[Finding, str]] = field(default_factory=list)
    promql: list[tuple[str, str, str]] = field(default_factory=list)  # (dashboard, where, expr)

    def report(self, rule: str, uid: str, panel: str, expr: str, message: str) -> None:
        f = Finding(rule, uid, panel, expr, message)
        for n, (r, u, p, snippet, reason) in enumerate(EXCEPTIONS):
            if r == rule and u == uid and p == panel and snippet in expr:
                self.used_exceptions.add(n)
                self.excepted.append((f, reason))
                return
        self.findings.append(f)

    def lint(self, d: dict) -> None:
        uid = d.get("uid", "?")
        variables = d.get("templating", {}).get("list", [])
        by_name = {v.get("name"): v for v in variables}

        # uneditable-dashboard
        if d.get("editable", True) is not False:
            self.report("uneditable-dashboard", uid, "", "", 'is editable: set "editable": false')

        # template-datasource-rule
        ds_vars = [v for v in variables if str(v.get("type", "")).lower() == "datasource"]
        if len(ds_vars) != 1:
            self.report("template-datasource-rule", uid, "", "",
                        f"needs exactly one templated data source, has {len(ds_vars)}")
        for v in ds_vars:
            if v.get("name") not in ("datasource", f"{v.get('query', '')}_datasource"):
                self.report("template-datasource-rule", uid, "", "",
                            f"data source variable named {v.get('name')!r}, should be 'datasource'")
            if v.get("label") != "Data source":
                self.report("template-datasource-rule", uid, "", "",
                            f"data source variable labelled {v.get('label')!r}, should be 'Data source'")
            if v.get("query") != "prometheus":
                self.report("template-datasource-rule", uid, "", "",
                            f"data source variable of {v.get('query')!r}, should be 'prometheus'")

        # template-job-rule, template-instance-rule
        for name in ("job", "instance"):
            rule = f"template-{name}-rule"
            v = by_name.get(name)
            if v is None:
                self.report(rule, uid, "", "", f"is missing the {name} template")
                continue
            ds = v.get("datasource")
            ds_uid = ds.get("uid") if isinstance(ds, dict) else ds
            if ds_uid not in DATASOURCE_UIDS:
                self.report(rule, uid, "", "", f"{name} template should use '$datasource', uses {ds_uid!r}")
            if v.get("type") != "query":
                self.report(rule, uid, "", "", f"{name} template should be a query, is {v.get('type')!r}")
            if v.get("label") != name.title():
                self.report(rule, uid, "", "", f"{name} template should be labelled {name.title()!r}")
            if not v.get("multi"):
                self.report(rule, uid, "", "", f"{name} template should be a multi select")
            if v.get("allValue") != ".+":
                self.report(rule, uid, "", "",
                            f"{name} template allValue should be '.+', is {v.get('allValue')!r}")

        for v in variables:
            if v.get("type") != "query":
                continue
            where = f"variable {v.get('name')}"
            # template-on-time-change-reload-rule
            if v.get("refresh") != 2:
                self.report("template-on-time-change-reload-rule", uid, where, "",
                            f"should refresh on time range change (2), is {v.get('refresh')!r}")
            # template-label-promql-rule
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"([a-z_]+)\((.+)\)", q.strip())
            if not m or m.group(1) not in ("label_names", "label_values", "metrics", "query_result"):
                self.report("template-label-promql-rule", uid, where, q, f"invalid templated label {q!r}")
                continue
            inner = m.group(2)
            if m.group(1) == "label_values":
                sel, _, label = inner.rpartition(",")
                promql = f"count by ({label.strip()}) ({sel.strip()})" if sel else f"count by ({label.strip()}) (up)"
            else:
                promql = inner
            self.check_promql(uid, where, q, promql, ds_vars)
            if v.get("definition") not in (None, q):
                self.report("template-label-promql-rule", uid, where, q,
                            f"definition {v.get('definition')!r} differs from the query")

        for p in walk(d.get("panels", [])):
            self.lint_panel(uid, p, ds_vars)

    def lint_panel(self, uid: str, p: dict, ds_vars: list) -> None:
        title = p.get("title", "")
        ptype = p.get("type")
        if ptype == "row":
            if not title:
                self.report("panel-title-description-rule", uid, f"row {p.get('id')}", "", "row has no title")
            return
        where = title or f"panel {p.get('id')}"
        # panel-title-description-rule
        if not title or not p.get("description"):
            self.report("panel-title-description-rule", uid, where, "",
                        "has a missing title or description")
        # panel-datasource-rule
        ds = p.get("datasource")
        if not isinstance(ds, dict) or ds.get("uid") not in DATASOURCE_UIDS:
            self.report("panel-datasource-rule", uid, where, "",
                        f"does not use the templated data source, uses {ds!r}")
        targets = p.get("targets") or []
        # panel-no-targets-rule
        if not targets:
            self.report("panel-no-targets-rule", uid, where, "", "has no targets")
        # panel-units-rule
        self.check_units(uid, where, p)
        for t in targets:
            expr = t.get("expr", "")
            tds = t.get("datasource")
            if not isinstance(tds, dict) or tds.get("uid") not in DATASOURCE_UIDS:
                self.report("panel-datasource-rule", uid, where, expr,
                            f"target {t.get('refId')} does not use the templated data source")
            if not expr:
                self.report("target-promql-rule", uid, where, "", f"target {t.get('refId')} has no expression")
                continue
            self.lint_target(uid, where, expr, ds_vars)

    def check_units(self, uid: str, where: str, p: dict) -> None:
        fc = p.get("fieldConfig") or {}
        defaults = fc.get("defaults") or {}
        if p.get("type") == "stat" and (p.get("options") or {}).get("reduceOptions", {}).get("fields"):
            return  # the linter: a stat of non-numeric fields needs no unit
        props = [prop for o in fc.get("overrides") or [] for prop in o.get("properties") or []]
        if defaults.get("mappings") or any(pr.get("id") == "mappings" and pr.get("value") for pr in props):
            return
        units = [pr.get("value") for pr in props if pr.get("id") == "unit"]
        unit = defaults.get("unit") or ""
        for u in [unit, *units]:
            if u and u not in VALID_UNITS:
                self.report("panel-units-rule", uid, where, "", f"has an invalid unit {u!r}")
        if not unit and not units:
            self.report("panel-units-rule", uid, where, "", "has no unit (use 'none' for none)")

    def check_promql(self, uid: str, where: str, expr: str, promql: str, ds_vars: list) -> list[Selector]:
        self.promql.append((uid, where, promql))
        try:
            return selectors(promql)
        except PromQLError as e:
            self.report("target-promql-rule", uid, where, expr, f"invalid PromQL {expr!r}: {e}")
            return []

    def lint_target(self, uid: str, where: str, expr: str, ds_vars: list) -> None:
        sels = self.check_promql(uid, where, expr, expr, ds_vars)
        for s in sels:
            shown = s.name or "{...}"
            for label in ("job", "instance"):
                ms = [m for m in s.matchers if m[0] == label]
                if (label, "=~", f"${label}") not in ms:
                    got = f"{ms[0][0]}{ms[0][1]}\"{ms[0][2]}\"" if ms else "none"
                    self.report(f"target-{label}-rule", uid, where, expr,
                                f'{shown} lacks {label}=~"${label}" (has {got})')
            if s.range is not None:
                fixed = s.range != "$__rate_interval"
                if fixed and s.call in ("rate", "irate", "increase"):
                    self.report("target-rate-interval-rule", uid, where, expr,
                                f"{s.call}({shown}[{s.range}]) should use $__rate_interval")
                elif not fixed and s.call not in ("rate", "irate", "increase"):
                    self.report("target-rate-interval-rule", uid, where, expr,
                                f"$__rate_interval used in {s.call or 'no function'}, not a rate")
            if s.name.endswith("_total") and not (s.range is not None and s.call in ("rate", "irate", "increase")):
                self.report("target-counter-agg-rule", uid, where, expr,
                            f"counter {s.name} is not read through rate, irate or increase")


def walk(panels: list) -> list:
    out = []
    for p in panels:
        out.append(p)
        out.extend(walk(p.get("panels") or []))
    return out


def promtool_check(linter: Linter) -> list[str]:
    """Every expression through `promtool check rules` as a recording rule; [] when all parse."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("REQUIRE_PROMTOOL"):
            return ["REQUIRE_PROMTOOL is set but promtool is not on PATH"]
        print("promtool not found: the PromQL parse check is skipped (the structural one ran)")
        return []
    lines = ["groups:", "  - name: dashboards", "    rules:"]
    for n, (_, _, promql) in enumerate(linter.promql):
        lines.append(f"      - record: dashboard:query_{n}:check")
        lines.append(f"        expr: {json.dumps(substitute(promql))}")
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "dashboards.rules.yml")
        path.write_text("\n".join(lines) + "\n")
        out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            report = out.stdout + out.stderr
            for n, (uid, where, promql) in enumerate(linter.promql):
                if f"dashboard:query_{n}:check" in report or f"group 0, rule {n}," in report or f"rule {n + 1}" in report:
                    errors.append(f"target-promql-rule: {uid}: {where}: {promql}")
            errors.append(f"promtool check rules failed:\n{report}")
    return errors


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "dashboards").glob("*.json"))
    linter = Linter()
    for path in paths:
        linter.lint(json.loads(path.read_text()))
    problems = [
        f"{f.rule}: {f.dashboard}: {f.panel or '(dashboard)'}: {f.message}" for f in linter.findings
    ]
    for n, exc in enumerate(EXCEPTIONS):
        if n not in linter.used_exceptions and not argv:
            problems.append(f"stale exception (matches nothing, remove it): {exc[:4]}")
    problems += promtool_check(linter)
    for f, reason in linter.excepted:
        print(f"excepted {f.rule}: {f.dashboard}: {f.panel}: {f.message}\n  because {reason}")
    if problems:
        print(f"\n{len(problems)} dashboard lint violation(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{len(paths)} dashboard(s), {len(linter.promql)} PromQL expression(s): clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
