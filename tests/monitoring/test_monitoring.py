"""Monitoring role: dashboards and datasource (static), panel queries (live), alert rules.

Live queries need a Prometheus that has seen traffic: FORTRESS_PROMETHEUS_URL (default
http://127.0.0.1:9090). When the variable is unset and nothing answers there, the live tests skip;
when it is set, an unreachable Prometheus fails them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from . import dashboards as dash

HERE = Path(__file__).parent
PROMETHEUS_URL = os.environ.get(dash.PROMETHEUS_URL_ENV, dash.DEFAULT_PROMETHEUS_URL)


@pytest.fixture(scope="module")
def prometheus_url() -> str:
    if not dash.prometheus_reachable(PROMETHEUS_URL):
        if dash.PROMETHEUS_URL_ENV in os.environ:
            pytest.fail(f"Prometheus at {PROMETHEUS_URL} does not answer /-/ready")
        pytest.skip(
            f"no Prometheus at {PROMETHEUS_URL} (set {dash.PROMETHEUS_URL_ENV} to require one)"
        )
    return PROMETHEUS_URL


def test_dashboards_are_valid_json_with_unique_uids() -> None:
    dashboards = dash.load_dashboards()
    assert {"fortress-gateway.json", "fortress-api.json", "fortress-replicas.json"} <= set(
        dashboards
    )
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids)), f"duplicate dashboard uids: {uids}"


@pytest.mark.parametrize("name", sorted(dash.load_dashboards()))
def test_every_panel_uses_the_provisioned_datasource(name: str) -> None:
    problems = dash.check_dashboard(dash.load_dashboards()[name])
    assert not problems, "\n".join(problems)


def test_datasource_provisioning_points_at_prometheus() -> None:
    provisioning = dash.render_datasource_provisioning()
    problems = dash.check_datasource_provisioning(provisioning)
    assert not problems, f"{problems}\nrendered: {provisioning}"


def test_checker_catches_a_foreign_datasource_and_a_wrong_url() -> None:
    dashboard = {
        "uid": "x",
        "title": "x",
        "panels": [
            {
                "id": 1,
                "title": "p",
                "datasource": {"uid": "other"},
                "targets": [{"refId": "A", "expr": "up"}],
            }
        ],
    }
    assert dash.check_dashboard(dashboard, uid="fortress-prometheus")
    provisioning = {
        "datasources": [
            {"uid": "fortress-prometheus", "type": "prometheus", "url": "http://localhost:9090"}
        ]
    }
    assert dash.check_datasource_provisioning(provisioning, uid="fortress-prometheus")


def test_grafana_variables_are_substituted() -> None:
    expr = 'rate(x{v=~"$variant", r=~"${replica}", z=~"[[zone]]"}[$__rate_interval]) * $__interval'
    assert dash.substitute_variables(expr) == 'rate(x{v=~".*", r=~".*", z=~".*"}[1m]) * 30s'
    assert dash.variable_query_to_promql('label_values(up{job="api"}, replica)') == (
        'count by (replica) (up{job="api"})'
    )


@pytest.mark.parametrize("query", dash.panel_queries(), ids=str)
def test_panel_query_returns_data(prometheus_url: str, query: dash.PanelQuery) -> None:
    problem = dash.check_query(prometheus_url, query)
    assert problem is None, problem


def test_alert_rules_pass_promtool_unit_tests() -> None:
    run = subprocess.run(
        ["bash", str(HERE / "run-rule-tests.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if run.returncode == 2 and "promtool not found" in run.stderr:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert "SUCCESS" in run.stdout
