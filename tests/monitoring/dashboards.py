"""Checks of the Grafana provisioning shipped by roles/monitoring, usable without Grafana.

Static checks (no network): dashboard files are valid JSON, every panel, query and template variable
uses the provisioned datasource uid, and the provisioned datasource points at prometheus:9090.
Live check: every panel's PromQL (Grafana variables substituted) evaluates against a Prometheus
without error and with a non-empty result.

Importable (`from tests.monitoring.dashboards import ...`) and runnable:
    python3 tests/monitoring/dashboards.py [PROMETHEUS_URL]
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE_DIR = ROOT / "roles" / "monitoring"
DASHBOARD_DIR = ROLE_DIR / "files" / "grafana" / "dashboards"
DATASOURCE_TEMPLATE = ROLE_DIR / "templates" / "grafana" / "datasource.yml.j2"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
PROMETHEUS_URL_ENV = "FORTRESS_PROMETHEUS_URL"
EXPECTED_DATASOURCE_URL = "http://prometheus:9090"

# What Grafana would put in place of its built-in variables when a panel is shown.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__interval_ms": "30000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


def datasource_uid() -> str:
    """The uid the role provisions (roles/monitoring/vars/main.yml)."""
    role_vars = yaml.safe_load((ROLE_DIR / "vars" / "main.yml").read_text())
    return str(role_vars["_monitoring_grafana_datasource_uid"])


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """Parse every *.json dashboard in `directory` (ValueError names a file that is not JSON)."""
    dashboards = {}
    for path in sorted(directory.glob("*.json")):
        try:
            dashboards[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON: {exc}") from exc
    return dashboards


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _uid_of(datasource: Any) -> str | None:
    if isinstance(datasource, dict):
        return datasource.get("uid")
    return datasource  # legacy: a datasource name or None


def check_dashboard(dashboard: dict[str, Any], uid: str | None = None) -> list[str]:
    """Problems of one dashboard: missing uid/title, foreign datasources, panels without queries."""
    uid = uid or datasource_uid()
    problems = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append("dashboard without uid or title")
    ids = [p.get("id") for p in iter_panels(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate panel ids: {ids}")
    for panel in iter_panels(dashboard):
        title = panel.get("title", "?")
        if panel.get("type") == "row":
            continue
        if _uid_of(panel.get("datasource")) != uid:
            problems.append(
                f"panel {title!r}: datasource {panel.get('datasource')!r}, want uid {uid}"
            )
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        for target in targets:
            if _uid_of(target.get("datasource", panel.get("datasource"))) != uid:
                problems.append(f"panel {title!r} query {target.get('refId')}: foreign datasource")
            if not str(target.get("expr", "")).strip():
                problems.append(f"panel {title!r} query {target.get('refId')}: empty expr")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and _uid_of(variable.get("datasource")) != uid:
            problems.append(f"variable {variable.get('name')!r}: foreign datasource")
    return problems


def render_datasource_provisioning(template: Path = DATASOURCE_TEMPLATE) -> dict[str, Any]:
    """Render the role's datasource template with its defaults and vars, as Ansible would."""
    import jinja2  # comes with ansible-core in the project's .venv

    context: dict[str, Any] = {}
    for name in ("defaults", "vars"):
        context.update(yaml.safe_load((ROLE_DIR / name / "main.yml").read_text()))
    context["ansible_managed"] = "Ansible managed"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["comment"] = lambda text: "# " + text
    return yaml.safe_load(env.from_string(template.read_text()).render(context))


def check_datasource_provisioning(
    provisioning: dict[str, Any], uid: str | None = None
) -> list[str]:
    """Problems of a datasources file: it must define `uid` as Prometheus at prometheus:9090."""
    uid = uid or datasource_uid()
    sources = {d.get("uid"): d for d in provisioning.get("datasources", [])}
    if uid not in sources:
        return [f"no datasource with uid {uid} (found {sorted(map(str, sources))})"]
    ds = sources[uid]
    problems = []
    if ds.get("type") != "prometheus":
        problems.append(f"datasource {uid} has type {ds.get('type')!r}")
    if str(ds.get("url", "")).rstrip("/") != EXPECTED_DATASOURCE_URL:
        problems.append(
            f"datasource {uid} points at {ds.get('url')!r}, want {EXPECTED_DATASOURCE_URL}"
        )
    if ds.get("access", "proxy") != "proxy":
        problems.append(f"datasource {uid} must use server-side (proxy) access")
    return problems


def substitute_variables(expr: str) -> str:
    """Replace Grafana variables: built-ins by typical values, template variables by `.*`."""

    def repl(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return BUILTIN_VARIABLES.get(name, ".*")

    return _VARIABLE.sub(repl, expr)


def variable_query_to_promql(query: str) -> str:
    """label_values(metric, label) -> a PromQL query with one series per value."""
    m = _LABEL_VALUES.match(query.strip())
    if not m:
        return query
    selector, label = m.group(1) or "up", m.group(2)
    return f"count by ({label}) ({selector})"


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def promql(self) -> str:
        return substitute_variables(self.expr)

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def panel_queries(dashboards: dict[str, dict[str, Any]] | None = None) -> list[PanelQuery]:
    """Every PromQL expression of every panel and every query variable."""
    dashboards = load_dashboards() if dashboards is None else dashboards
    queries = []
    for name, dashboard in dashboards.items():
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                if str(target.get("expr", "")).strip():
                    queries.append(
                        PanelQuery(
                            name, panel.get("title", "?"), target.get("refId", "?"), target["expr"]
                        )
                    )
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                q = variable.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                expr = variable_query_to_promql(str(q))
                queries.append(PanelQuery(name, f"${variable.get('name')}", "variable", expr))
    return queries


def query_prometheus(base_url: str, expr: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Instant query: the result list, or RuntimeError carrying Prometheus' error."""
    url = base_url.rstrip("/") + "/api/v1/query"
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data), timeout=timeout
        ) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:  # 400/422 carry Prometheus' error in the body
        try:
            body = json.load(exc)
        except ValueError:
            raise RuntimeError(f"HTTP {exc.code} from {url}") from exc
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
    result = body["data"]["result"]
    return result if isinstance(result, list) else [result]


def prometheus_reachable(base_url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/-/ready", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def check_query(base_url: str, query: PanelQuery) -> str | None:
    """None when the query evaluates to a non-empty result, else a description of the problem."""
    try:
        result = query_prometheus(base_url, query.promql)
    except (RuntimeError, OSError) as exc:
        return f"{query}: error {exc} for {query.promql}"
    if not result:
        return f"{query}: empty result for {query.promql}"
    return None


def main(argv: list[str]) -> int:
    base_url = argv[1] if len(argv) > 1 else DEFAULT_PROMETHEUS_URL
    problems = []
    dashboards = load_dashboards()
    for name, dashboard in dashboards.items():
        problems += [f"{name}: {p}" for p in check_dashboard(dashboard)]
    problems += check_datasource_provisioning(render_datasource_provisioning())
    queries = panel_queries(dashboards)
    for query in queries:
        problem = check_query(base_url, query)
        if problem:
            problems.append(problem)
    for problem in problems:
        print("FAIL", problem)
    print(
        f"{len(dashboards)} dashboards, {len(queries)} queries against {base_url}: "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
