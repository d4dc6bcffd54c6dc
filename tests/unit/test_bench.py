"""The benchmark's pieces that need no Docker: report, hashing, results as data, parsing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nginx_auth import crypt_verify, ssha_verify

from fbench import breakdown, config, deploy, drive, experiments, hashing, measure, report

REPO = Path(__file__).resolve().parents[2]
RESULTS = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))
PASSWORD = "k3Jx9vQ2mZ7pL0sT4wYb8nC1dF6gH5aE"


def test_report_from_committed_results_reproduces_benchmark_md_byte_for_byte() -> None:
    expected = (REPO / "docs" / "BENCHMARK.md").read_text(encoding="utf-8")
    rendered = report.markdown(RESULTS)
    if rendered != expected:
        import difflib

        diff = difflib.unified_diff(expected.splitlines(), rendered.splitlines(), lineterm="")
        pytest.fail("\n".join(diff))


def test_handshakes_are_reported_in_measured_order_not_results_json_key_order() -> None:
    measured = {name: {} for name in sorted([*breakdown.HANDSHAKE_ORDER, "SSL 3 full"])}
    assert report.handshake_names(measured) == [*breakdown.HANDSHAKE_ORDER, "SSL 3 full"]


def test_breakdown_summary_is_recomputed_from_its_rows() -> None:
    assert breakdown.summary(RESULTS["breakdown"]) == RESULTS["breakdown"]["summary"]


@pytest.mark.parametrize("rounds", [1000, 5000])
def test_sha512_crypt_comes_from_the_htpasswd_filter_and_verifies_like_nginx(rounds: int) -> None:
    hashed = hashing.sha512_crypt(PASSWORD, rounds)
    assert crypt_verify(PASSWORD, hashed), hashed
    assert not crypt_verify(PASSWORD + "x", hashed), hashed
    assert hashing.hash_label(hashed) == f"sha512-crypt, {rounds} rounds", hashed
    # the filter recognises its own hash of this password: a re-run keeps the line
    filters = hashing.htpasswd_filters()
    assert filters.htpasswd_hash(PASSWORD, "sha512_crypt", rounds=rounds, current=hashed) == hashed


def test_ssha_comes_from_the_htpasswd_filter_and_verifies_like_nginx() -> None:
    hashed = hashing.ssha(PASSWORD)
    assert hashed.startswith("{SSHA}") and ssha_verify(PASSWORD, hashed), hashed
    assert not ssha_verify(PASSWORD + "x", hashed), hashed
    assert hashing.hash_label(hashed) == "{SSHA}"
    assert hashing.htpasswd_filters().htpasswd_hash(PASSWORD, "ssha", current=hashed) == hashed
    assert hashing.time_hash(hashed, PASSWORD, n=10) > 0


def test_missing_htpasswd_filter_stops_with_a_message_naming_the_path(tmp_path: Path) -> None:
    absent = tmp_path / "htpasswd.py"
    with pytest.raises(SystemExit, match=r"htpasswd filter plugin is not at .*htpasswd\.py"):
        hashing.htpasswd_filters(absent)


def test_deployed_hash_finds_the_benchmark_user() -> None:
    text = "other:{SSHA}abc\nbench:$6$rounds=1000$salt$hash\n"
    assert hashing.deployed_hash(text, "bench") == "$6$rounds=1000$salt$hash"
    with pytest.raises(SystemExit, match="user nobody"):
        hashing.deployed_hash(text, "nobody")


def test_recap_comes_from_the_json_callback_stats_with_recap_names() -> None:
    stats = {"changed": 4, "failures": 0, "ignored": 0, "ok": 188, "rescued": 0, "skipped": 26}
    document = {"plays": [], "stats": {"localhost": {**stats, "unreachable": 0}}}
    assert deploy.recap(document) == RESULTS["deployment"]["exempt"]["recap"]
    assert deploy.recap({"stats": {}}) == {}


def test_failures_name_the_task_host_and_message() -> None:
    outcome = {"failed": True, "msg": "Module result deserialization failed", "changed": False}
    document = {
        "plays": [
            {
                "tasks": [
                    {"task": {"name": "ok task"}, "hosts": {"localhost": {"changed": False}}},
                    {"task": {"name": "broken task"}, "hosts": {"localhost": outcome}},
                ]
            }
        ]
    }
    assert deploy.failures(document) == [
        "broken task (localhost): Module result deserialization failed"
    ]


def test_playbooks_run_with_the_json_callback_only() -> None:
    assert deploy.JSON_CALLBACK_ENV["ANSIBLE_STDOUT_CALLBACK"] == "ansible.posix.json"
    # profile_tasks (ansible.cfg) would print timings into the JSON document
    assert "profile_tasks" not in deploy.JSON_CALLBACK_ENV["ANSIBLE_CALLBACKS_ENABLED"]


def test_playbook_vars_carry_the_stack_vars_the_user_and_extras() -> None:
    extra = {config.RATE_LIMIT_EXEMPT_VAR: ["172.29.0.3/32"]}
    variables = deploy.playbook_vars(extra)
    assert variables["fortress_project"] == config.PROJECT == "fbench"
    assert variables[config.USERS_VAR] == [{"name": config.USER, "password": config.PASSWORD}]
    assert variables[config.RATE_LIMIT_EXEMPT_VAR] == ["172.29.0.3/32"]
    assert json.loads(json.dumps(variables)) == variables


@pytest.mark.parametrize(
    ("variables", "defaults"),
    [
        (sorted(config.STACK_VARS), "roles/fortress/defaults/main.yml"),
        ([config.USERS_VAR], "roles/htpasswd/defaults/main.yml"),
        ([config.RATE_LIMIT_EXEMPT_VAR], "roles/nginx_gateway/defaults/main.yml"),
    ],
)
def test_bench_sets_only_variables_the_roles_define(variables: list[str], defaults: str) -> None:
    defined = yaml.safe_load((REPO / defaults).read_text(encoding="utf-8"))
    missing = [name for name in variables if name not in defined]
    assert not missing, f"{defaults} lacks {missing} (renamed? update bench/fbench/config.py)"


def test_wrk_result_line_becomes_rates_and_milliseconds() -> None:
    raw = {
        "duration_us": 10_000_000,
        "requests": 50_000,
        "latency_us": {
            "percentiles": {"50": 5800, "90": 9000, "95": 12000, "99": 32000},
            "max": 80000,
            "mean": 6300,
        },
        "errors": {"connect": 0, "read": 1, "status": 2},
    }
    out = "Running 10s test\nBENCH_JSON " + json.dumps(raw) + "\n"
    summary = measure.wrk_summary(measure.wrk_raw(out), conns=32, threads=8)
    assert summary["rps"] == 5000.0 and summary["p50_ms"] == 5.8 and summary["p99_ms"] == 32.0
    assert summary["errors"] == 3 and summary["seconds"] == 10.0
    assert set(summary) | {"loadavg_before", "cpu_us_per_request"} == set(
        RESULTS["levels"][0]["gateway"]
    )
    assert measure.wrk_raw("no result here") is None


def test_cpu_per_request_is_net_of_the_idle_background() -> None:
    meter = measure.CpuMeter(idle_ns_per_s={"api": 1_000_000.0})
    before, after = {"api": 0, "client": 0}, {"api": 12_000_000, "client": 500_000}
    # 12 ms used in 2 s, 2 ms of it idle background; 1000 requests
    assert meter.per_request_us(before, after, wall=2.0, requests=1000) == {
        "api": 10.0,
        "client": 0.5,
    }


def test_s_time_output_is_parsed() -> None:
    out = (
        "Collecting connection statistics for 5 seconds\n"
        "2189 connections in 2.31s; 947.62 connections/user sec, bytes read 0\n"
        "2189 connections in 5 real seconds, 0 bytes read per connection\n"
    )
    parsed = measure.parse_s_time(out, 5)
    assert parsed == {
        "connections": 2189,
        "real_seconds": 5,
        "handshakes_per_s_real": 437.8,
        "client_cpu_s": 2.31,
        "ms_per_handshake_real": 2.284,
    }
    assert "error" in measure.parse_s_time("connect: Connection refused", 5)


def test_basic_auth_header() -> None:
    assert measure.basic_auth("admin", "admin") == "Basic YWRtaW46YWRtaW4="


def test_level_row_and_goals_from_committed_levels() -> None:
    for committed in RESULTS["levels"]:
        row = drive.level_row(committed["concurrency"], committed["gateway"], committed["direct"])
        assert row == committed
    by_c = {r["concurrency"]: r for r in RESULTS["levels"]}
    assert drive.goals(by_c) == RESULTS["goals"]
    assert drive.goals({}) == []


def test_docker_listings_are_parsed() -> None:
    stats = "fbench-api-v1-1\t61.2MiB / 7.7GiB\nfbench-bench-client-public\t2MiB / 7.7GiB\n"
    assert drive.parse_memory(stats) == {"fbench-api-v1-1": "61.2MiB"}
    images = "redis:7\t40MB\nfbench/api:abc\t300MB\ndebian:bookworm-slim\t74MB\n"
    assert drive.parse_images(images) == {
        "debian:bookworm-slim": "74MB",
        "fbench/api:abc": "300MB",
    }


def test_api_v1_containers_are_recognised_by_name() -> None:
    assert config.is_api_v1("fbench-api-v1-3")
    assert not config.is_api_v1("fbench-api-v2") and not config.is_api_v1("fortress-api-v1-1")


def test_access_log_options_of_the_deployed_line() -> None:
    line = "    access_log /dev/stdout fortress_main buffer=64k flush=1s if=$fortress_loggable;"
    assert experiments.access_log_options(line) == "buffer=64k flush=1s"
    assert experiments.access_log_options(None) == "?"


@pytest.mark.parametrize("command", [["bench/run.py"], ["-m", "bench"]])
def test_command_line_help(command: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, *command, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for flag in ("--render", "--purge", "--keep", "--levels"):
        assert flag in run.stdout, run.stdout
