#!/usr/bin/env python3
"""Checks the Kubernetes objects of deploy/kubernetes against each other and
against pgvigil itself.

    kubernetes_objects.py --binary PGVIGIL [--no-tools] DIR

Reads every YAML document of DIR/*.yaml and checks:
- every object: apiVersion and kind (a known pair), metadata.name (a valid
  Kubernetes name), the label app.kubernetes.io/name: pgvigil, no duplicates;
- StatefulSets: serviceName is a headless Service, the selector matches the
  pod labels and no other StatefulSet's pods, the container runs
  `run -c FILE --shard hostname`, replicas equals the config's `shards`,
  securityContext (runAsNonRoot with a numeric uid, read-only root
  filesystem), liveness on /health and readiness on /ready at the port the
  config listens on, resource requests, every mount backed by a volume and
  every ConfigMap volume by a ConfigMap of DIR; the config file, the file_sd
  globs, the password_file and the state directory lie on the right volumes;
- Services select the pods of every StatefulSet, target a declared port;
- the ServiceMonitor selects exactly one Service, by a port name it has, and
  that Service's name makes the job label PgvigilNotScraped expects;
- with pgvigil and promtool (unless --no-tools): the pod's files are laid out
  in a temporary directory (ConfigMap keys, a dummy secret, empty state) and
  `pgvigil check-config` accepts the config; with `shard = N` for every shard
  the shards are disjoint and together hold every file_sd entry; the
  PrometheusRule's spec.groups pass `promtool check rules --lint=all
  --lint-fatal` and equal `pgvigil rules --kubernetes NAME -c` of that config.

Each problem prints as "FILE: KIND/NAME: [code] message"; the exit status is 1
when there is any. Needs PyYAML (Debian python3-yaml); otherwise the standard
library.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

try:
    import yaml
except ImportError:  # pragma: no cover - reported, not hidden
    sys.exit("kubernetes_objects: PyYAML is missing (Debian package python3-yaml)")

API_VERSIONS = {
    "ConfigMap": "v1",
    "Service": "v1",
    "StatefulSet": "apps/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
APP_LABEL = ("app.kubernetes.io/name", "pgvigil")
NOT_SCRAPED_JOB = re.compile(r"pgvigil.*")  # PgvigilNotScraped: up{job=~"pgvigil.*"}
IMAGE = "pgvigil:0.1.0"


class Obj:
    def __init__(self, path: Path, doc: dict):
        self.path = path
        self.doc = doc

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind"))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name"))

    def get(self, *keys, default=None):
        node = self.doc
        for key in keys:
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                return default
        return node


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, obj: Obj | Path, code: str, message: str) -> None:
        where = f"{obj.path.name}: {obj.kind}/{obj.name}" if isinstance(obj, Obj) else str(obj)
        self.problems.append(f"{where}: [{code}] {message}")

    def expect(self, ok: bool, obj: Obj | Path, code: str, message: str) -> bool:
        if not ok:
            self.problem(obj, code, message)
        return ok


def selects(selector: dict | None, labels: dict | None) -> bool:
    """A non-empty equality selector holds for `labels`."""
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def load(directory: Path, check: Checker) -> list[Obj]:
    objects: list[Obj] = []
    files = sorted(directory.glob("*.yaml"))
    check.expect(bool(files), directory, "no-files", "no *.yaml files")
    for path in files:
        try:
            docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        except yaml.YAMLError as error:
            check.problem(path, "yaml", str(error))
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                check.problem(path, "not-an-object", f"a document is a {type(doc).__name__}")
                continue
            objects.append(Obj(path, doc))
    return objects


def check_common(objects: list[Obj], directory: Path, check: Checker) -> None:
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        expected = API_VERSIONS.get(obj.kind)
        if not check.expect(expected is not None, obj, "kind", f"unexpected kind {obj.kind!r}"):
            continue
        check.expect(obj.doc.get("apiVersion") == expected, obj, "api-version",
                     f"apiVersion is {obj.doc.get('apiVersion')!r}, not {expected!r}")
        name = obj.get("metadata", "name")
        check.expect(isinstance(name, str) and bool(NAME.match(name)), obj, "name",
                     f"metadata.name {name!r} is not a Kubernetes name")
        check.expect(obj.get("metadata", "labels", APP_LABEL[0]) == APP_LABEL[1], obj, "app-label",
                     f"metadata.labels lacks {APP_LABEL[0]}: {APP_LABEL[1]}")
        check.expect((obj.kind, obj.name) not in seen, obj, "duplicate", "defined twice")
        seen.add((obj.kind, obj.name))
    for kind in API_VERSIONS:
        check.expect(any(o.kind == kind for o in objects), directory, "missing",
                     f"no {kind}")


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.kind == kind]


def headless(service: Obj) -> bool:
    return service.get("spec", "clusterIP") == "None"


def container_of(sts: Obj) -> dict:
    containers = sts.get("spec", "template", "spec", "containers", default=[]) or []
    return next((c for c in containers if c.get("name") == "pgvigil"), {})


def arg_after(args: list, flag: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == flag:
            return str(args[i + 1])
    return None


@dataclass
class Mount:
    """A volumeMount of the pgvigil container with its volume."""
    path: str
    volume: dict
    read_only: bool

    def source(self, kind: str) -> dict:
        """The volume's `kind` (configMap, secret ...); {} when it is another kind."""
        return self.volume.get(kind) or {}

    def relative(self, path: str) -> str:
        return str(PurePosixPath(path).relative_to(self.path))


def mounts_of(sts: Obj, check: Checker) -> list[Mount]:
    volumes = {v.get("name"): v
               for v in sts.get("spec", "template", "spec", "volumes", default=[]) or []}
    out = []
    for mount in container_of(sts).get("volumeMounts", []) or []:
        volume = volumes.get(mount.get("name"))
        if check.expect(volume is not None, sts, "volume",
                        f"mount {mount.get('name')!r} has no volume"):
            out.append(Mount(str(mount.get("mountPath")).rstrip("/"), volume,
                             bool(mount.get("readOnly"))))
    return out


def mount_for(path: str, mounts: list[Mount]) -> Mount | None:
    """The innermost mount holding `path`."""
    holding = [m for m in mounts if path == m.path or path.startswith(m.path + "/")]
    return max(holding, key=lambda m: len(m.path), default=None)


def configmap_keys(mount: Mount | None, configmaps: dict[str, Obj]) -> dict:
    """The data of the ConfigMap mounted at `mount` ({} when it is none)."""
    cm = configmaps.get(mount.source("configMap").get("name")) if mount else None
    return (cm.get("data") if cm else None) or {}


def config_of(sts: Obj, configmaps: dict[str, Obj], check: Checker) -> tuple[str, str] | None:
    """(path in the pod, text) of the config file the container runs with."""
    args = [str(a) for a in container_of(sts).get("args", []) or []]
    path = arg_after(args, "-c") or arg_after(args, "--config")
    if not check.expect(path is not None, sts, "args", "the container args name no -c FILE"):
        return None
    mount = mount_for(path, mounts_of(sts, Checker()))
    data = configmap_keys(mount, configmaps)
    key = mount.relative(path) if mount else ""
    if not check.expect(key in data, sts, "config-file",
                        f"{path} is no key of a mounted ConfigMap"):
        return None
    return path, data[key]


def check_statefulset(sts: Obj, objects: list[Obj], config: dict, check: Checker) -> None:
    spec = sts.get("spec", default={}) or {}
    services = {s.name: s for s in of_kind(objects, "Service")}
    configmaps = {c.name: c for c in of_kind(objects, "ConfigMap")}
    service = services.get(spec.get("serviceName"))
    check.expect(service is not None and headless(service), sts, "service-name",
                 f"serviceName {spec.get('serviceName')!r} is no headless Service here")
    selector = sts.get("spec", "selector", "matchLabels")
    pod_labels = sts.get("spec", "template", "metadata", "labels", default={})
    check.expect(selects(selector, pod_labels), sts, "selector",
                 f"selector {selector} does not match the pod labels {pod_labels}")
    for other in of_kind(objects, "StatefulSet"):
        if other is not sts:
            other_pods = other.get("spec", "template", "metadata", "labels")
            check.expect(not selects(selector, other_pods), sts, "selector-overlap",
                         f"the selector also matches the pods of {other.name}")

    container = container_of(sts)
    if not check.expect(bool(container), sts, "container", "no container named pgvigil"):
        return
    check.expect(container.get("image") == IMAGE, sts, "image", f"image is not {IMAGE}")
    args = [str(a) for a in container.get("args", []) or []]
    check.expect(args[:1] == ["run"], sts, "args", f"args {args} do not start with run")
    check.expect(arg_after(args, "--shard") == "hostname", sts, "args",
                 f"args {args} lack --shard hostname")
    check.expect(spec.get("replicas") == config.get("shards", 1), sts, "replicas",
                 f"replicas {spec.get('replicas')} differ from shards = {config.get('shards', 1)}")

    pod_security = sts.get("spec", "template", "spec", "securityContext", default={}) or {}
    security = {**pod_security, **(container.get("securityContext") or {})}
    check.expect(security.get("runAsNonRoot") is True, sts, "security", "runAsNonRoot is not true")
    uid = security.get("runAsUser")
    check.expect(isinstance(uid, int) and uid > 0, sts, "security",
                 "runAsUser must be a non-zero number: the image's USER is a name, which the "
                 "kubelet cannot check against runAsNonRoot")
    check.expect(security.get("readOnlyRootFilesystem") is True, sts, "security",
                 "readOnlyRootFilesystem is not true")
    check.expect(security.get("allowPrivilegeEscalation") is False, sts, "security",
                 "allowPrivilegeEscalation is not false")

    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", []) or []}
    listen = config.get("server", {}).get("listen", ["0.0.0.0:9816"])
    listen_ports = {int(address.rsplit(":", 1)[1]) for address in listen}
    check.expect(set(ports.values()) <= listen_ports and bool(ports), sts, "port",
                 f"container ports {ports} are not those pgvigil listens on ({listen})")
    check.expect(all(address.rsplit(":", 1)[0] in ("0.0.0.0", "[::]") for address in listen), sts,
                 "listen", f"[server] listen {listen} is not reachable from outside the pod")
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        check.expect(get.get("path") == path, sts, "probe", f"{probe} is not GET {path}")
        check.expect(get.get("port") in ports or get.get("port") in ports.values(), sts, "probe",
                     f"{probe} port {get.get('port')!r} is not a container port")
    requests = (container.get("resources") or {}).get("requests") or {}
    check.expect("cpu" in requests and "memory" in requests, sts, "resources",
                 "resources.requests lacks cpu or memory")

    mounts = mounts_of(sts, check)
    for mount in mounts:
        name = mount.source("configMap").get("name")
        if name is not None:
            check.expect(name in configmaps, sts, "configmap",
                         f"ConfigMap {name} is not in this directory")

    # What the config names must be where the pod has it.
    state = config.get("state_directory", "/var/lib/pgvigil")
    mount = mount_for(state, mounts)
    writable = mount is not None and not mount.read_only and (
        "emptyDir" in mount.volume or "persistentVolumeClaim" in mount.volume)
    check.expect(writable, sts, "state", f"state_directory {state} is not on a writable volume "
                 "(the root filesystem is read-only)")
    for sd in config.get("file_sd", []):
        for pattern in sd.get("files", []):
            mount = mount_for(pattern, mounts)
            keys = configmap_keys(mount, configmaps)
            matched = mount is not None and any(fnmatch.fnmatch(k, mount.relative(pattern))
                                                for k in keys)
            check.expect(matched, sts, "file-sd",
                         f"file_sd glob {pattern} matches no key of a mounted ConfigMap")
    for template in config.get("target_template", []):
        password_file = template.get("password_file")
        if password_file is None:
            continue
        mount = mount_for(password_file, mounts)
        secret = mount.source("secret") if mount else {}
        items = [item.get("path") for item in secret.get("items", [])]
        check.expect(mount is not None and mount.relative(password_file) in items, sts,
                     "password-file",
                     f"password_file {password_file} is not an item of a mounted Secret")


def check_services(objects: list[Obj], check: Checker) -> None:
    pods = [(sts, sts.get("spec", "template", "metadata", "labels"))
            for sts in of_kind(objects, "StatefulSet")]
    for service in of_kind(objects, "Service"):
        selector = service.get("spec", "selector")
        for sts, labels in pods:
            check.expect(selects(selector, labels), service, "selector",
                         f"selector {selector} does not select the pods of StatefulSet {sts.name}")
        for port in service.get("spec", "ports", default=[]) or []:
            check.expect(bool(port.get("name")), service, "port", "a port has no name")
            for sts, _ in pods:
                names = {p.get("name"): p.get("containerPort")
                         for p in container_of(sts).get("ports", []) or []}
                target = port.get("targetPort", port.get("port"))
                check.expect(target in names or target in names.values(), service, "target-port",
                             f"targetPort {target!r} is no port of StatefulSet {sts.name}")


def check_servicemonitor(objects: list[Obj], check: Checker) -> None:
    for monitor in of_kind(objects, "ServiceMonitor"):
        selector = monitor.get("spec", "selector", "matchLabels")
        chosen = [service for service in of_kind(objects, "Service")
                  if selects(selector, service.get("metadata", "labels"))]
        if not check.expect(len(chosen) == 1, monitor, "selector",
                            f"selects {len(chosen)} Services ({[s.name for s in chosen]}), not 1: "
                            "each selected Service is scraped, pods twice"):
            continue
        service = chosen[0]
        port_names = {p.get("name") for p in service.get("spec", "ports", default=[]) or []}
        endpoints = monitor.get("spec", "endpoints", default=[]) or []
        check.expect(bool(endpoints), monitor, "endpoints", "no endpoints")
        for endpoint in endpoints:
            check.expect(endpoint.get("port") in port_names, monitor, "port",
                         f"endpoint port {endpoint.get('port')!r} is no port name of "
                         f"Service {service.name}")
            check.expect(endpoint.get("path", "/metrics") == "/metrics", monitor, "path",
                         "endpoint path is not /metrics")
        check.expect(bool(NOT_SCRAPED_JOB.fullmatch(service.name)) or
                     monitor.get("spec", "jobLabel") is not None, monitor, "job",
                     f"the job label would be {service.name!r}, which PgvigilNotScraped "
                     "(up{job=~\"pgvigil.*\"}) does not watch")


def run(command: list[str], timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def lay_out_pod(sts: Obj, root: Path, configmaps: dict[str, Obj]) -> list[str]:
    """The pod's mounted files under `root`; returns the mount paths."""
    paths = []
    for mount in mounts_of(sts, Checker()):
        target = root / mount.path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        paths.append(mount.path)
        for key, value in configmap_keys(mount, configmaps).items():
            (target / key).write_text(value)
        for item in mount.source("secret").get("items", []):
            (target / item["path"]).write_text("not-a-password\n")
            (target / item["path"]).chmod(0o600)
    return paths


def relocate(text: str, root: Path, mount_paths: list[str]) -> str:
    """Absolute paths in TOML strings that lie on a mount, moved under `root`."""
    longest_first = sorted(mount_paths, key=len, reverse=True)
    alternatives = "|".join(re.escape(path) for path in longest_first)
    return re.sub(r"""(["'])(""" + alternatives + r""")(?=[/"'])""",
                  lambda m: f"{m.group(1)}{root}{m.group(2)}", text)


def sd_entries(config: dict, root: Path) -> int:
    count = 0
    for sd in config.get("file_sd", []):
        for pattern in sd.get("files", []):
            for path in sorted(root.glob(pattern.lstrip("/"))):
                text = path.read_text()
                groups = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
                count += sum(len(group.get("targets", [])) for group in groups or [])
    return count


def check_with_tools(objects: list[Obj], binary: str, check: Checker) -> None:
    configmaps = {c.name: c for c in of_kind(objects, "ConfigMap")}
    rules = of_kind(objects, "PrometheusRule")
    with tempfile.TemporaryDirectory(prefix="pgvigil-k8s.") as work:
        work_dir = Path(work)
        for sts in of_kind(objects, "StatefulSet"):
            found = config_of(sts, configmaps, check)
            if found is None:
                continue
            path, text = found
            root = work_dir / sts.name
            mount_paths = lay_out_pod(sts, root, configmaps)
            relocated = relocate(text, root, mount_paths)
            config_file = root / path.lstrip("/")
            config_file.write_text(relocated)
            result = run([binary, "check-config", str(config_file)])
            if not check.expect(result.returncode == 0, sts, "check-config",
                                f"pgvigil check-config rejects {path}:\n{result.stderr}"):
                continue
            for line in result.stderr.splitlines():
                check.problem(sts, "check-config-warning", f"{path}: {line}")

            # Every shard: disjoint, and together every entry of the files.
            shards = tomllib.loads(text).get("shards", 1)
            names: list[str] = []
            for shard in range(shards):
                shard_file = config_file.with_name(f"shard-{shard}.toml")
                shard_file.write_text(f"shard = {shard}\n" + relocated)
                result = run([binary, "check-config", str(shard_file)])
                _, marker, discovered = result.stdout.partition("# Targets as discovered now")
                if not check.expect(result.returncode == 0 and bool(marker), sts, "shards",
                                    f"check-config of shard {shard} lists no targets:\n"
                                    f"{result.stderr}"):
                    continue
                check.expect("# problem:" not in discovered, sts, "shards",
                             f"discovery problems in shard {shard}:\n{discovered}")
                names += re.findall(r"^name = '([^']*)'$", discovered, re.M)
            entries = sd_entries(tomllib.loads(text), root)
            check.expect(len(names) == len(set(names)) == entries and entries > 0, sts, "shards",
                         f"the {shards} shards hold {len(names)} targets "
                         f"({len(set(names))} distinct), the target files {entries} entries")

            # The committed rules are those of this config.
            for rule in rules:
                result = run([binary, "rules", "--kubernetes", rule.name, "-c", str(config_file)])
                if not check.expect(result.returncode == 0, rule, "rules",
                                    f"pgvigil rules --kubernetes failed:\n{result.stderr}"):
                    continue
                generated = yaml.safe_load(result.stdout)
                check.expect(generated.get("metadata", {}).get("name") == rule.name, rule, "rules",
                             "pgvigil rules --kubernetes NAME names the object otherwise")
                check.expect(generated.get("spec") == rule.get("spec"), rule, "stale",
                             f"spec differs from `pgvigil rules --kubernetes {rule.name} -c` of "
                             f"{path} (StatefulSet {sts.name}): regenerate it")

        for rule in rules:
            groups = rule.get("spec", "groups")
            if not check.expect(isinstance(groups, list) and len(groups) > 0, rule, "groups",
                                "spec.groups is empty"):
                continue
            rule_file = work_dir / f"{rule.name}.rules.yml"
            rule_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
            result = run(["promtool", "check", "rules", "--lint=all", "--lint-fatal",
                          str(rule_file)])
            check.expect(result.returncode == 0, rule, "promtool",
                         f"promtool check rules rejects spec.groups:\n"
                         f"{result.stdout}{result.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--binary", help="the pgvigil binary (needed without --no-tools)")
    parser.add_argument("--no-tools", action="store_true", help="skip pgvigil and promtool")
    options = parser.parse_args()
    if not options.no_tools and not options.binary:
        parser.error("--binary is required unless --no-tools")

    check = Checker()
    objects = load(options.directory, check)
    check_common(objects, options.directory, check)
    configmaps = {c.name: c for c in of_kind(objects, "ConfigMap")}
    for sts in of_kind(objects, "StatefulSet"):
        found = config_of(sts, configmaps, check)
        config: dict = {}
        if found is not None:
            try:
                config = tomllib.loads(found[1])
            except tomllib.TOMLDecodeError as error:
                check.problem(sts, "toml", f"{found[0]}: {error}")
        check_statefulset(sts, objects, config, check)
    check_services(objects, check)
    check_servicemonitor(objects, check)
    if not options.no_tools and not check.problems:
        check_with_tools(objects, options.binary, check)

    for line in check.problems:
        print(line)
    inventory = " ".join(f"{kind} {', '.join(sorted(o.name for o in of_kind(objects, kind)))};"
                         for kind in sorted({o.kind for o in objects}))
    print(f"kubernetes_objects: {options.directory}: {inventory} {len(check.problems)} problems")
    return 1 if check.problems else 0


if __name__ == "__main__":
    sys.exit(main())
