"""Expensive inputs (issue 11, finding 4), bounded: three clients at their rate limit send the
costliest sentence the API accepts (the longest, of random printable characters without spaces:
every character n-gram is new) while a fourth client sends normal requests; the fourth client's
p99 stays under 500 ms. Counts and durations are fixed; traffic goes to the project's gateway only.
"""

from __future__ import annotations

import json
import random
import string

from conftest import request_interval
from traffic import Load

HEAVY_BATCH = 40  # requests per heavy client, at the rate limit
NORMAL_COUNT = 40
P99_LIMIT_MS = 500.0


def worst_sentence(manifest) -> str:
    chars = manifest.get("api_max_sentence_chars") or 5000
    rng = random.Random(11)
    return json.dumps({"sentence": "".join(rng.choice(string.ascii_letters) for _ in range(chars))})


def test_worst_case_inputs_at_the_rate_limit_leave_a_normal_client_fast(
    manifest, gateway_inside, load_clients, public_client, basic_auth, report
):
    url, interval = f"{gateway_inside}/predict", request_interval(manifest)
    heavy = Load(load_clients, url, basic_auth, batch=HEAVY_BATCH, interval=interval)
    heavy.spec["body"] = worst_sentence(manifest)
    spec = {
        "body": '{"sentence": "a normal request"}',
        "headers": {"Content-Type": "application/json", **basic_auth},
        "insecure": True,
        "timeout": 15,
    }
    with heavy:
        normal = public_client(url, count=NORMAL_COUNT, interval=interval, **spec)
    times = sorted(r["elapsed_ms"] for r in normal)
    p50, p99 = times[len(times) // 2], times[max(0, int(len(times) * 0.99) - 1)]
    accepted = sum(r["status"] == 200 for r in heavy.results)
    report(
        f"expensive inputs: 3 clients x {HEAVY_BATCH} sentences of "
        f"{manifest.get('api_max_sentence_chars')} chars ({accepted} answered 200) in "
        f"{heavy.duration:.1f} s; normal client {len(normal)} requests p50 {p50:.0f} ms "
        f"p99 {p99:.0f} ms max {times[-1]:.0f} ms"
    )
    assert accepted >= 0.9 * len(heavy.results), "the heavy load was refused: nothing was proven"
    assert all(r["status"] == 200 for r in normal), [r["status"] for r in normal]
    assert p99 < P99_LIMIT_MS, f"normal client p99 {p99:.0f} ms under expensive load"
