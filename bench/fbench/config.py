"""Everything the benchmark knows about the stack it deploys, in one place.

The private copy is the project `fbench`. The variables it sets are the stack contract's
(roles/fortress/defaults/main.yml) and role variables; the container, network and alias names below
are what that contract derives from `fortress_project`.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
LOG_DIR = BENCH / "logs"
RESULTS = BENCH / "results.json"
REPORT = ROOT / "docs" / "BENCHMARK.md"
CLIENT_CONTEXT = BENCH / "client"
HTPASSWD_FILTER = ROOT / "roles" / "htpasswd" / "filter_plugins" / "htpasswd.py"
INVENTORY = "inventory/local"
INVENTORY_HOST = "localhost"

PROJECT = "fbench"
DATA_DIR = Path("/opt/fbench")

# Variables every playbook run of the private stack gets (extra vars: they win over the inventory).
STACK_VARS: dict[str, object] = {
    "fortress_project": PROJECT,
    "fortress_data_dir": str(DATA_DIR),
    "fortress_http_port": 28081,
    "fortress_https_port": 28444,
    "fortress_prometheus_port": 29091,
    "fortress_grafana_port": 23001,
}
USERS_VAR = "htpasswd_users"
RATE_LIMIT_EXEMPT_VAR = "nginx_gateway_rate_limit_exempt"

# Names derived from fortress_project by the stack contract.
NET_PUBLIC = f"{PROJECT}_public"
NET_BACKEND = f"{PROJECT}_backend"
GATEWAY = f"{PROJECT}-gateway"
GATEWAY_URL = "https://gateway:8443"  # alias on the public network, the container's HTTPS port
GATEWAY_TLS_ADDRESS = "gateway:8443"
API_PORT = 8000  # fortress_api_port's default
API_V1_CONTAINER = re.compile(rf"{PROJECT}-api-v1-\d+")
API_CANDIDATE = f"{PROJECT}-api-candidate"
PROJECT_LABEL = f"fortress.project={PROJECT}"

# The private stack's rendered files that the experiments edit (and restore).
GATEWAY_CONF = DATA_DIR / "gateway" / "conf" / "nginx.conf"
GATEWAY_CONF_IN_CONTAINER = "/etc/nginx/fortress/nginx.conf"
HTPASSWD = DATA_DIR / "auth" / "htpasswd"
SERVER_CERT = DATA_DIR / "certs" / "server.crt"
SERVER_KEY = DATA_DIR / "certs" / "server.key"

CLIENT_IMAGE = f"{PROJECT}/bench-client"
CLIENT_PUBLIC = f"{PROJECT}-bench-client-public"
CLIENT_BACKEND = f"{PROJECT}-bench-client-backend"
BODY = '{"sentence": "I love this product"}'
# The benchmark's user: a generated secret per run, as a production vault holds (htpasswd_scheme
# auto stores such a password as {SSHA}); BENCH_PASSWORD=admin measures what a short password costs
# (sha512-crypt).
USER = os.environ.get("BENCH_USER", "bench")
PASSWORD = os.environ.get("BENCH_PASSWORD") or secrets.token_urlsafe(24)

GOALS = {
    "ratio_at_32": 0.80,
    "added_p50_ms_at_1": 1.0,
    "gateway_rps_at_32": 1300,
}


def api_v1_alias(index: int) -> str:
    """Network alias of the index-th api-v1 replica (1-based) on the backend network."""
    return f"api-v1-{index}"


def is_api_v1(container: str) -> bool:
    return API_V1_CONTAINER.fullmatch(container) is not None
