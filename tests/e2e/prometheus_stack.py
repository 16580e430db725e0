#!/usr/bin/env python3
"""End to end: fixture primary + replica, pgvigil watching both, real Prometheus.

    prometheus_stack.py --work-dir DIR [--rules FILE]

1. Every panel expression of dashboards/*.json (variables substituted) runs
   through Prometheus's query API and must succeed and return data, except the
   ALLOWED_EMPTY entries, each with its reason (and, where the reason is a
   probe that is not there yet, only while that probe really has not run).
2. The dashboards' job and target variables list the job and both targets.
3. tests/compat/*.rules.yml (awesome-prometheus-alerts and postgres_exporter's
   mixin) load into the same Prometheus; every rule whose metrics pgvigil
   claims in docs/metrics.md must evaluate without error, and each metric
   selector in it must return series on the healthy fixture.
4. alerts/pgvigil.rules.yml (or --rules FILE), when present, loads with every
   `for` shortened to 2s (a copy; said in the output); after the replica stops,
   Prometheus's own PostgresReplicaMissing alert must go firing. The compat
   rule PostgresqlDown (for: 0m) must fire too.

Python 3 standard library only; tests/e2e/lib/stack.py does the process work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from stack import E2EError, Prometheus, Stack, check_promtool_rules, install_signal_exit, log, wait_until  # noqa: E402

JOB = "pgvigil"
SCRAPE_INTERVAL = "1s"
SUBSTITUTIONS = {
    "$__rate_interval": "1m", "${__rate_interval}": "1m",
    "$__interval": "1m", "${__interval}": "1m",
    "$__range": "1h", "${__range}": "1h",
    "${job}": JOB, "$job": JOB, "${target}": ".*", "$target": ".*",
}
DATA_TIMEOUT = 30.0  # seconds an expression may take to return data (rates need two samples)
ALERT_TIMEOUT = 90.0

# Expressions that may return nothing on a healthy fixture, matched by a
# metric they use. "probe" names a host probe: the allowance holds only while
# pgvigil has never run that probe (it is not registered yet); once it runs,
# its panels must show data like every other.
ALLOWED_EMPTY = [
    {"match": "ALERTS{", "reason": "no alert fires on a healthy fixture"},
    {"match": "pg_stat_io_", "reason": "pg_stat_io is PostgreSQL 16+ and this fixture runs 15 (the io probe's "
     "integration tests run on 16, 17 and 18)"},
    {"match": "patroni_", "reason": "the e2e fixture has no Patroni (tests/integration/patroni_test.cpp runs a real one)"},
    {"match": "redis_", "reason": "the e2e fixture has no Redis (tests/integration/redis_test.cpp runs a real one; "
     "dashboards_lint checks the redis.json queries' names and labels)"},
    {"match": "pgbouncer_", "reason": "the e2e fixture has no pgbouncer (tests/integration/pgbouncer_test.cpp runs a "
     "real one; dashboards_lint checks the pgbouncer.json queries' names and labels)"},
    {"match": "neo4j_", "reason": "the e2e fixture has no Neo4j (none can be installed; tests/integration/neo4j_test.cpp runs the "
     "daemon against a fixture server; dashboards_lint checks the neo4j.json queries' names and labels)"},
    {"match": "pg_filesystem_predicted_full_timestamp_seconds",
     "reason": "a fill forecast exists only while a filesystem is filling"},
    {"match": "pg_filesystem_avail_bytes_slope",
     "reason": "the forecaster needs 60 s of samples (min_span) before it reports a slope"},
    {"match": "pg_filesystem_", "probe": "disk", "reason": "the disk probe is not registered yet"},
    {"match": "pg_wal_directory_", "probe": "disk", "reason": "the disk probe is not registered yet"},
    {"match": "pg_backup_", "probe": "backups", "reason": "the backups probe is not registered yet"},
    {"match": "pg_datadir_", "probe": "datadir", "reason": "the datadir probe is not registered yet"},
]

# Compat rule selectors that may be empty although pgvigil claims the metric.
COMPAT_ALLOWED_EMPTY = {
    "pg_stat_user_tables_last_autovacuum": "no sample until autovacuum has processed the table",
    "pg_stat_user_tables_last_autoanalyze": "no sample until autoanalyze has processed the table",
    "pg_replication_slots_xmin_age": "not a pgvigil name (pgvigil: pg_replication_slots_xmin_age_xids)",
}

# Compat rules that match `on (instance, ...)` one series per instance: one
# pgvigil serves several targets, so Prometheus refuses the many-to-many match
# (docs/migrating-from-postgres_exporter.md: match on (instance, target)).
# Only that refusal is tolerated for them; any other error still fails.
COMPAT_NEEDS_TARGET_MATCH = {
    "PostgresAcquiredTooManyLocks": "on (instance, namespace) group_left over two targets",
}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "offset", "bool", "inf", "nan", "atan2"}


def substitute(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard_queries(paths: list[Path]) -> list[tuple[str, str]]:
    queries = []
    for path in paths:
        dashboard = json.loads(path.read_text())
        panels = list(dashboard.get("panels", []))
        for panel in list(panels):
            panels.extend(panel.get("panels", []) or [])
        for panel in panels:
            for target in panel.get("targets", []) or []:
                where = f"{path.name}: '{panel.get('title')}' {target.get('refId')}"
                queries.append((where, target.get("expr", "")))
    return queries


def probe_has_run(prom: Prometheus, probe: str) -> bool:
    result = prom.query(f'pgvigil_probe_runs_total{{job="{JOB}", probe="{probe}"}}')
    return result.ok and bool(result.result)


def allowance(prom: Prometheus, expr: str) -> str | None:
    for entry in ALLOWED_EMPTY:
        if entry["match"] not in expr:
            continue
        if "probe" in entry and probe_has_run(prom, entry["probe"]):
            continue  # the probe runs now: its data must be there
        return entry["reason"]
    return None


def check_dashboards(prom: Prometheus, paths: list[Path], timeout: float = DATA_TIMEOUT) -> list[str]:
    failures = []
    pending: dict[int, tuple[str, str]] = {}
    queries = dashboard_queries(paths)
    for index, (where, expr) in enumerate(queries):
        if not expr.strip():
            failures.append(f"{where}: no expression")
            continue
        result = prom.query(substitute(expr))
        if not result.ok:
            failures.append(f"{where}: query error {result.error}: {expr}")
        elif not result.has_data:
            pending[index] = (where, expr)

    deadline = time.monotonic() + timeout
    waiting = {index for index, (_where, expr) in pending.items() if not allowance(prom, expr)}
    while waiting and time.monotonic() < deadline:
        time.sleep(1)
        for index in list(waiting):
            if prom.query(substitute(pending[index][1])).has_data:
                del pending[index]
                waiting.discard(index)
    allowed = 0
    for where, expr in pending.values():
        reason = allowance(prom, expr)
        if reason:
            allowed += 1
            log(f"  empty by design ({reason}): {where}")
        else:
            failures.append(f"{where}: no data after {timeout:.0f}s: {substitute(expr)}")
    log(f"dashboards: {len(queries)} expressions, {len(queries) - len(pending)} with data, "
        f"{allowed} allowed empty, {len(failures)} failed")
    return failures


def check_variables(prom: Prometheus) -> list[str]:
    jobs = set(prom.api("label/job/values", {"match[]": "pg_up"}).get("data", []))
    targets = set(prom.api("label/target/values", {"match[]": f'pg_up{{job=~"{JOB}"}}'}).get("data", []))
    failures = []
    if JOB not in jobs:
        failures.append(f"variable job: label_values(pg_up, job) = {sorted(jobs)}, lacks {JOB}")
    if not {"primary", "replica"} <= targets:
        failures.append(f"variable target: label_values(pg_up, target) = {sorted(targets)}")
    return failures


def claimed_metrics(source_dir: Path) -> set[str]:
    text = (source_dir / "docs" / "metrics.md").read_text()
    return set(re.findall(r"`((?:pg|pgvigil|process)_[a-z0-9_]+)`", text))


def strip_strings(expr: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)


def metric_names(expr: str) -> tuple[set[str], list[str]]:
    """The metric names an expression selects, and any __name__ regexes."""
    regexes = re.findall(r'__name__\s*=~\s*"((?:\\.|[^"\\])*)"', expr)
    text = strip_strings(expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text,
                  flags=re.I)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()", text):
        word = match.group(1)
        if word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names, regexes


def selectors(expr: str, name: str) -> list[str]:
    pattern = rf'(?<![\w:]){re.escape(name)}\s*(\{{(?:[^}}"]|"(?:\\.|[^"\\])*")*\}})?'
    found = []
    for match in re.finditer(pattern, expr):
        matchers = (match.group(1) or "{}").strip()
        inner = matchers[1:-1].strip().strip(",")
        found.append(f'{name}{{job="{JOB}"{", " + inner if inner else ""}}}')
    return found


def check_compat(prom: Prometheus, source_dir: Path, compat_files: list[Path]) -> list[str]:
    claimed = claimed_metrics(source_dir)
    files = {str(path) for path in compat_files}
    rules = [rule for rule in prom.rules() if rule.get("file") in files]
    failures, applicable, skipped = [], 0, []
    for rule in rules:
        name, expr = rule.get("name"), rule.get("query", "")
        if rule.get("health") == "err":
            error = rule.get("lastError") or ""
            if name in COMPAT_NEEDS_TARGET_MATCH and "many-to-many matching not allowed" in error:
                log(f"  compat {name}: needs `target` in its on(...) with several targets "
                    f"({COMPAT_NEEDS_TARGET_MATCH[name]})")
                continue
            failures.append(f"compat {name}: Prometheus reports {error}")
            continue
        names, regexes = metric_names(expr)
        missing = sorted(names - claimed)
        for regex in regexes:
            if not any(re.fullmatch(regex, metric) for metric in claimed):
                missing.append(f"__name__=~{regex}")
        if missing:
            skipped.append(f"{name} ({', '.join(missing)})")
            continue
        applicable += 1
        result = prom.query(expr)
        if not result.ok:
            failures.append(f"compat {name}: {result.error}")
            continue
        for metric in sorted(names):
            for selector in sorted(set(selectors(expr, metric))):
                if prom.query(selector).has_data:
                    continue
                if metric in COMPAT_ALLOWED_EMPTY:
                    log(f"  compat {name}: {selector} empty by design ({COMPAT_ALLOWED_EMPTY[metric]})")
                else:
                    failures.append(f"compat {name}: {selector} returns no series")
    log(f"compat: {len(rules)} rules loaded, {applicable} use only metrics pgvigil claims, "
        f"{len(failures)} failed")
    for entry in skipped:
        log(f"  not applicable (metrics pgvigil does not provide): {entry}")
    if not rules:
        failures.append("compat: no compat rules were loaded")
    return failures


def check_exposition(address: str) -> list[str]:
    """promtool parses pgvigil's real /metrics body. Lint remarks (counter
    names without _total kept for postgres_exporter compatibility) are logged,
    parse errors fail."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
        body = reply.read()
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    output = (result.stdout + result.stderr).decode(errors="replace")
    if "error while linting" in output or "text format parsing error" in output:
        return [f"promtool cannot parse /metrics: {output.strip()[:2000]}"]
    remarks = [line for line in output.splitlines() if line.strip()]
    log(f"promtool parsed /metrics ({len(body)} bytes); {len(remarks)} lint remarks")
    return []


def shortened_rules(source: Path, work_dir: Path) -> Path:
    """A copy of the rule file with every `for:` at 2s, so the test need not wait minutes."""
    text = source.read_text()
    copy = work_dir / "pgvigil.rules.short-for.yml"
    copy.write_text(re.sub(r"(?m)^(\s*for:\s*).*$", r"\g<1>2s", text))
    log(f"NOTICE: loading {source} with every 'for' shortened to 2s (copy: {copy})")
    return copy


def firing(prom: Prometheus, alertname: str, **labels: str) -> bool:
    for alert in prom.alerts():
        alert_labels = alert.get("labels", {})
        if alert_labels.get("alertname") != alertname or alert.get("state") != "firing":
            continue
        if all(alert_labels.get(key) == value for key, value in labels.items()):
            return True
    return False


def run(args: argparse.Namespace) -> list[str]:
    source_dir = Path(os.environ.get("PGVIGIL_SOURCE_DIR", Path(__file__).resolve().parents[2]))
    compat_files = sorted((source_dir / "tests" / "compat").glob("*.rules.yml"))
    rules_source = Path(args.rules) if args.rules else source_dir / "alerts" / "pgvigil.rules.yml"
    failures: list[str] = []

    with Stack(args.work_dir, source_dir=str(source_dir)) as stack:
        cluster = stack.start_fixture(replica=True)
        # A second database: many published rules leave out "postgres" (datname!~"...|postgres").
        stack.psql(cluster["PRIMARY_PORT"], "CREATE DATABASE e2e_app")
        # ...with a client in it, as an application would have.
        stack.psql_session(cluster["PRIMARY_PORT"], "e2e_app", "SELECT pg_sleep(600)")
        # A user table with dead rows, so the vacuum panels have something to show.
        stack.psql(cluster["PRIMARY_PORT"],
                   "CREATE TABLE e2e_orders (id int); INSERT INTO e2e_orders SELECT generate_series(1, 2000);"
                   " DELETE FROM e2e_orders WHERE id % 2 = 0; SELECT count(*) FROM e2e_orders;")
        # A table emptied by a mass delete, with an index nobody uses, for the
        # performance dashboard's bloat and unused-index panels (pg_stats shows
        # its columns to the monitoring role once it may read the table).
        stack.psql(cluster["PRIMARY_PORT"],
                   "CREATE TABLE e2e_churn (id int PRIMARY KEY, note text);"
                   " INSERT INTO e2e_churn SELECT g, md5(g::text) FROM generate_series(1, 20000) AS g;"
                   " CREATE INDEX e2e_churn_note ON e2e_churn (note);"
                   " DELETE FROM e2e_churn WHERE id % 4 <> 0;"
                   " GRANT SELECT ON e2e_churn TO pgvigil_monitor;")
        stack.psql(cluster["PRIMARY_PORT"], "VACUUM ANALYZE e2e_churn")
        backups = stack.work_dir / "backups"
        backups.mkdir(exist_ok=True)
        (backups / "base.sql.gz").write_bytes(b"\x1f\x8b" + b"\0" * 1022)
        pgvigil = stack.start_pgvigil(stack.pgvigil_config(cluster, backup_glob=f"{backups}/*.sql.gz"))

        rule_files = list(compat_files)
        if rules_source.is_file():
            rule_files.append(shortened_rules(rules_source, stack.work_dir))
        else:
            log(f"NOTICE: {rules_source} does not exist; skipping the PostgresReplicaMissing check")
        check_promtool_rules(rule_files)
        prom = stack.start_prometheus([pgvigil.address], job=JOB, rule_files=rule_files,
                                      interval=SCRAPE_INTERVAL)
        prom.wait_for_scrapes(5)
        log("Prometheus has scraped pgvigil 5 times")

        failures += check_exposition(pgvigil.address)
        failures += check_variables(prom)
        failures += check_dashboards(prom, sorted((source_dir / "dashboards").glob("*.json")))
        # The same check must catch broken panels: the lint's broken sample has
        # an unclosed parenthesis and an unknown function.
        broken = source_dir / "tests" / "data" / "dashboards" / "broken.json"
        caught = [f for f in check_dashboards(prom, [broken], timeout=2) if "query error" in f]
        if len(caught) < 2:
            failures.append(f"the panel check let broken queries of {broken.name} pass: {caught}")
        else:
            log(f"the panel check rejects the {len(caught)} broken queries of {broken.name}, as it should")
        failures += check_compat(prom, source_dir, compat_files)

        log("stopping the replica")
        stack.fixture_command("stop-server", str(stack.cluster_dir), "replica", "fast")
        started = time.monotonic()
        try:
            wait_until(lambda: firing(prom, "PostgresqlDown", target="replica"), ALERT_TIMEOUT,
                       "compat alert PostgresqlDown for the replica to fire")
            log(f"compat PostgresqlDown firing after {time.monotonic() - started:.0f}s")
        except E2EError as error:
            failures.append(str(error))
        if rules_source.is_file():
            try:
                wait_until(lambda: firing(prom, "PostgresReplicaMissing"), ALERT_TIMEOUT,
                           "Prometheus's PostgresReplicaMissing alert to fire", interval=1)
                log(f"PostgresReplicaMissing firing after {time.monotonic() - started:.0f}s")
            except E2EError as error:
                failures.append(str(error))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--rules", help="pgvigil rule file (default: alerts/pgvigil.rules.yml)")
    args = parser.parse_args()
    install_signal_exit()
    try:
        failures = run(args)
    except E2EError as error:
        print(f"prometheus_stack: FAIL: {error}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if failures:
        print(f"prometheus_stack: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("prometheus_stack: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
