#!/usr/bin/env python3
"""Checks pgvigil's Grafana dashboards against the project's conventions.

    dashboards_lint.py [--source-dir DIR] [--no-promtool] FILE.json...

Without files it checks every DIR/dashboards/*.json. Each problem prints as
"FILE: panel 'TITLE': [code] message"; the exit status is 1 when there is any.
No Grafana server is needed: this checks what Grafana would load and what it
would send to Prometheus. With promtool on PATH every panel expression (the
dashboard variables replaced by sample values) is also parsed by Prometheus's
own PromQL parser.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIN_SCHEMA_VERSION = 38
DATASOURCE_REFS = {"${datasource}", "$datasource", "${datasource:raw}"}
RATE_FUNCTIONS = re.compile(r"\b(rate|irate|increase)\s*\(")
RANGE = re.compile(r"\[([^\]]*)\]")
RUNBOOK_LINK = re.compile(r"^\$\{runbook_base\}/([A-Za-z0-9]+)\.md$")

# Panels that show a metric an alert fires on must link that alert's runbook
# and, when the rule has a numeric default threshold, draw it. The values are
# the default rule thresholds (docs/runbooks/README.md).
ALERT_METRICS: dict[str, tuple[str, tuple[float, ...]]] = {
    "pg_up": ("PostgresDown", ()),
    "pg_connections_utilization_ratio": ("PostgresTooManyConnections", (0.8,)),
    "pg_replication_lag_seconds": ("PostgresReplicationLag", (5, 300)),
    "pg_stat_replication_replay_delay_seconds": ("PostgresReplicationLag", (5, 300)),
    "pg_replication_missing_replicas": ("PostgresReplicaMissing", ()),
    "pg_filesystem_used_ratio": ("PostgresDiskSpaceLow", (0.9,)),
    "pg_filesystem_predicted_full_timestamp_seconds": ("PostgresDiskWillFill", (14400,)),
    "pg_backup_last_timestamp_seconds": ("PostgresBackupStale", (86400,)),
    "pg_stat_archiver_last_archive_age": ("PostgresWalArchivingFailing", (900,)),
    "pg_stat_activity_oldest_idle_in_transaction_seconds": ("PostgresIdleInTransaction", (300,)),
    "pg_stat_activity_longest_query_seconds": ("PostgresLongRunningQuery", (300,)),
    "pg_database_wraparound_fraction": ("PostgresXidWraparound", (0.5, 0.75)),
    "pg_table_bloat_ratio": ("PostgresTableBloat", (0.5,)),
    "patroni_cluster_unlocked": ("PatroniNoLeader", ()),
    "redis_up": ("RedisDown", ()),
    "redis_memory_max_bytes": ("RedisMemoryNearMax", (0.9,)),
    "redis_rdb_last_bgsave_status": ("RedisRdbBgsaveFailing", ()),
    "redis_master_link_up": ("RedisReplicaLinkDown", ()),
    "redis_rejected_connections_total": ("RedisRejectingConnections", ()),
    "pgbouncer_up": ("PgbouncerDown", ()),
    "pgbouncer_pools_client_maxwait_seconds": ("PgbouncerClientsWaiting", (5,)),
    "pgbouncer_pools_server_active_connections": ("PgbouncerPoolSaturated", ()),
    "neo4j_up": ("Neo4jDown", ()),
    "neo4j_database_available": ("Neo4jDatabaseUnavailable", ()),
    "neo4j_cluster_leader_known": ("Neo4jNoWritableMember", ()),
}

# Sample values for the variables, enough for the PromQL parser.
PROMTOOL_SUBSTITUTIONS = {
    "$__rate_interval": "1m", "${__rate_interval}": "1m", "$__interval": "1m",
    "${__interval}": "1m", "$__range": "1h", "${__range}": "1h",
    "${job}": "pgvigil", "$job": "pgvigil", "${target}": ".*", "$target": ".*",
}


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def error(self, where: str, code: str, message: str) -> None:
        self.problems.append(f"{where}: [{code}] {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: warning: {message}")


def rule_names(source_dir: Path) -> set[str]:
    """The alert names of the exported rule file, which `pgvigil rules` writes
    from the rule table (a unit test keeps the file byte-identical to it)."""
    text = (source_dir / "alerts" / "pgvigil.rules.yml").read_text()
    names = set(re.findall(r"^\s*- alert: ([A-Za-z0-9]+)\s*$", text, re.M))
    if not names:
        raise SystemExit("dashboards_lint: no alert names in alerts/pgvigil.rules.yml")
    return names


def walk_datasources(node, path: str = ""):
    """Yields (path, value) for every "datasource" key anywhere in the JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key == "datasource":
                yield here, value
            yield from walk_datasources(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_datasources(value, f"{path}[{index}]")


def balanced(expr: str) -> str | None:
    """A structural check that needs no Prometheus: brackets and quotes pair up."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote = ""
    escaped = False
    for char in expr:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in ")]}":
            if not stack or stack.pop() != pairs[char]:
                return f"unbalanced '{char}'"
    if quote:
        return "unterminated string"
    if stack:
        return f"unclosed '{stack[-1]}'"
    return None


def panel_threshold_values(panel: dict) -> set[float]:
    values: set[float] = set()

    def collect(thresholds):
        for step in (thresholds or {}).get("steps", []) or []:
            if isinstance(step, dict) and isinstance(step.get("value"), (int, float)):
                values.add(float(step["value"]))

    field_config = panel.get("fieldConfig", {}) or {}
    collect((field_config.get("defaults", {}) or {}).get("thresholds"))
    for override in field_config.get("overrides", []) or []:
        for prop in override.get("properties", []) or []:
            if prop.get("id") == "thresholds":
                collect(prop.get("value"))
    return values


def draws_thresholds(panel: dict) -> bool:
    if panel.get("type") != "timeseries":
        return True  # stat, gauge and table colour by thresholds
    custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {}) or {}
    return (custom.get("thresholdsStyle", {}) or {}).get("mode", "off") != "off"


def check_variables(dashboard: dict, where: str, report: Report) -> None:
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", []) or []}
    datasource = variables.get("datasource")
    if not datasource or datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        report.error(where, "datasource-variable",
                     "needs a variable 'datasource' of type datasource with query 'prometheus'")
    for name in ("job", "target"):
        variable = variables.get(name)
        if not variable:
            report.error(where, "variable-missing", f"no '{name}' variable")
            continue
        query = variable.get("query")
        query_text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        # pg_up lists PostgreSQL targets; redis_up, pgbouncer_up and neo4j_up those of their kind.
        if variable.get("type") != "query" or not query_text.startswith(
                ("label_values(pg_up", "label_values(redis_up", "label_values(pgbouncer_up",
                 "label_values(neo4j_up")):
            report.error(where, "variable-query", f"'{name}' must be a query variable over label_values(pg_up...), "
                         "label_values(redis_up...), label_values(pgbouncer_up...) or label_values(neo4j_up...)")
        elif not query_text.rstrip().endswith(f", {name})"):
            report.error(where, "variable-query", f"'{name}' must list the '{name}' label, got {query_text}")
        if not variable.get("multi") or not variable.get("includeAll"):
            report.error(where, "variable-multi", f"'{name}' must be multi-value and include All")
        if variable.get("datasource", {}).get("uid") not in DATASOURCE_REFS:
            report.error(where, "hardcoded-datasource", f"'{name}' variable must use ${{datasource}}")
    if "__inputs" in dashboard:
        report.error(where, "inputs", "__inputs (${DS_...}) break file provisioning; use the datasource variable")


def check_expr(expr: str, where: str, report: Report) -> None:
    problem = balanced(expr)
    if problem:
        report.error(where, "promql-syntax", f"{problem} in: {expr}")
    if "${DS_" in expr:
        report.error(where, "inputs", "expression refers to a ${DS_...} input")
    if RATE_FUNCTIONS.search(expr):
        for window in RANGE.findall(expr):
            if ":" in window:
                continue  # a subquery step, not a rate window
            if window not in ("$__rate_interval", "${__rate_interval}"):
                report.error(where, "rate-interval", f"rate window [{window}] must be $__rate_interval: {expr}")
    for name in ("job", "target"):
        if re.search(rf'\b{name}\s*(=|!=)\s*"\$\{{?{name}', expr):
            report.error(where, "variable-match", f"multi-value ${name} needs =~, not =: {expr}")
    if not re.search(r'\btarget\s*=~\s*"\$\{?target\}?"', expr):
        report.error(where, "target-filter", f"expression ignores the $target variable: {expr}")
    if not re.search(r'\bjob\s*=~\s*"\$\{?job\}?"', expr):
        report.error(where, "job-filter", f"expression ignores the $job variable: {expr}")


def check_panel(panel: dict, where: str, names: set[str], runbooks: Path | None,
                report: Report, exprs: list[tuple[str, str]]) -> None:
    if not (panel.get("description") or "").strip():
        report.error(where, "no-description", "panel has no description")
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if not unit:
        report.error(where, "no-unit", "panel has no unit (fieldConfig.defaults.unit)")
    for key in ("id", "gridPos"):
        if key not in panel:
            report.error(where, "layout", f"panel has no {key}")
    targets = panel.get("targets") or []
    if not targets:
        report.error(where, "no-query", "panel has no queries")
    for target in targets:
        expr = (target.get("expr") or "").strip()
        ref = target.get("refId", "?")
        if not expr:
            report.error(where, "no-expr", f"query {ref} has no PromQL expression")
            continue
        check_expr(expr, f"{where} query {ref}", report)
        exprs.append((f"{where} query {ref}", expr))

    linked: set[str] = set()
    for link in panel.get("links", []) or []:
        url = link.get("url", "")
        match = RUNBOOK_LINK.match(url)
        if "runbook" in url.lower() and not match:
            report.error(where, "runbook-link", f"runbook links look like ${{runbook_base}}/AlertName.md, got {url}")
        if not match:
            continue
        name = match.group(1)
        linked.add(name)
        if name not in names:
            report.error(where, "runbook-link", f"{name} is not an alert name in alerts/pgvigil.rules.yml")
        elif runbooks is not None and not (runbooks / f"{name}.md").is_file():
            report.warn(where, f"docs/runbooks/{name}.md does not exist (yet)")

    thresholds = panel_threshold_values(panel)
    all_exprs = " ".join(t.get("expr", "") or "" for t in targets)
    for metric, (alert, values) in ALERT_METRICS.items():
        if not re.search(rf"\b{metric}\b", all_exprs):
            continue
        if alert not in linked:
            report.error(where, "alert-link", f"shows {metric} but does not link the {alert} runbook")
        missing = [v for v in values if float(v) not in thresholds]
        if missing:
            report.error(where, "alert-threshold",
                         f"shows {metric} but does not draw the {alert} default threshold(s) {missing}")
        elif values and not draws_thresholds(panel):
            report.error(where, "alert-threshold", f"thresholds for {alert} are set but not drawn")


def check_dashboard(path: Path, names: set[str], runbooks: Path | None, report: Report,
                    uids: dict[str, Path], exprs: list[tuple[str, str]]) -> None:
    where = str(path)
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        report.error(where, "json", f"cannot parse: {error}")
        return
    if not isinstance(dashboard, dict):
        report.error(where, "json", "top level is not an object")
        return
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid or ""):
        report.error(where, "uid", f"needs a stable uid (1-40 of [A-Za-z0-9_-]), got {uid!r}")
    elif uid in uids:
        report.error(where, "duplicate-uid", f"uid {uid} is also used by {uids[uid]}")
    else:
        uids[uid] = path
    if not (dashboard.get("title") or "").strip():
        report.error(where, "title", "dashboard has no title")
    schema = dashboard.get("schemaVersion")
    if not isinstance(schema, int) or schema < MIN_SCHEMA_VERSION:
        report.error(where, "schema-version", f"schemaVersion must be >= {MIN_SCHEMA_VERSION}, got {schema!r}")
    check_variables(dashboard, where, report)

    for location, value in walk_datasources(dashboard):
        if isinstance(value, dict):
            if value.get("type") == "grafana" or value.get("uid") in DATASOURCE_REFS:
                continue
            report.error(where, "hardcoded-datasource", f"{location} uses {value}; use {{\"uid\": \"${{datasource}}\"}}")
        elif isinstance(value, str) and value not in DATASOURCE_REFS:
            report.error(where, "hardcoded-datasource", f"{location} is {value!r}; use the datasource variable")
        elif value is None:
            report.error(where, "hardcoded-datasource", f"{location} is null (the default data source)")

    panels = list(dashboard.get("panels", []) or [])
    for panel in list(panels):
        panels.extend(panel.get("panels", []) or [])  # panels inside collapsed rows
    if not [p for p in panels if p.get("type") != "row"]:
        report.error(where, "no-panels", "dashboard has no panels")
    ids: set[int] = set()
    for panel in panels:
        if panel.get("id") in ids:
            report.error(where, "duplicate-id", f"panel id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if panel.get("type") == "row":
            continue
        check_panel(panel, f"{where}: panel '{panel.get('title', '?')}'", names, runbooks, report, exprs)


def promtool_check(exprs: list[tuple[str, str]], report: Report) -> None:
    """Parses every expression with promtool (as recording rules of a scratch file)."""
    if not exprs:
        return
    lines = ["groups:", "  - name: dashboards_lint", "    rules:"]
    for index, (_where, expr) in enumerate(exprs):
        for variable, value in PROMTOOL_SUBSTITUTIONS.items():
            expr = expr.replace(variable, value)
        lines.append(f"      - record: dashboards_lint:expr_{index}")
        lines.append(f"        expr: {json.dumps(expr)}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as scratch:
        scratch.write("\n".join(lines) + "\n")
        scratch_path = Path(scratch.name)
    try:
        result = subprocess.run(["promtool", "check", "rules", str(scratch_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    finally:
        scratch_path.unlink(missing_ok=True)
    if result.returncode == 0:
        return
    reported = False
    for match in re.finditer(r"rule (\d+), \"[^\"]*\": (.*)", result.stdout):
        index = int(match.group(1)) - 1
        if 0 <= index < len(exprs):
            report.error(exprs[index][0], "promql-syntax", f"{match.group(2)}: {exprs[index][1]}")
            reported = True
    if not reported:
        report.error("promtool", "promql-syntax", result.stdout.strip())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--source-dir", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--no-promtool", action="store_true", help="skip parsing with promtool")
    args = parser.parse_args(argv)

    files = args.files or sorted((args.source_dir / "dashboards").glob("*.json"))
    if not files:
        print("dashboards_lint: no dashboards found", file=sys.stderr)
        return 1
    names = rule_names(args.source_dir)
    runbooks = args.source_dir / "docs" / "runbooks"
    report = Report()
    uids: dict[str, Path] = {}
    exprs: list[tuple[str, str]] = []
    for path in files:
        check_dashboard(path, names, runbooks if runbooks.is_dir() else None, report, uids, exprs)
    if not args.no_promtool:
        if shutil.which("promtool"):
            promtool_check(exprs, report)
        else:
            print("dashboards_lint: promtool not found; PromQL parsed only structurally")

    for warning in report.warnings:
        print(warning)
    for problem in report.problems:
        print(problem)
    print(f"dashboards_lint: {len(files)} dashboard(s), {len(exprs)} expression(s), "
          f"{len(report.problems)} problem(s), {len(report.warnings)} warning(s)")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
