"""`make bench`: deploy a private copy of the stack, load it with wrk, write the numbers, tear it
down.

What it measures, in one run on the same machine:
  * POST /predict through the gateway (HTTPS, basic auth, keep-alive) from a client container on the
    public network, and directly at the api-v1 replicas (HTTP, aggregate over all replicas, no
    gateway) from a client container on the backend network, at fixed concurrency levels;
  * where the gateway's time goes: TLS (full vs resumed handshakes with `openssl s_time`, connection
    per request with wrk), basic-auth hash verification (401 without vs with a wrong password),
    proxying;
  * the gateway's history, replayed on the private copy only (never on the roles): each change ->
    req/s, p50, p99;
  * deployment time (first and repeated run, `changed=`), API replica memory, image sizes.

The private stack is the project `fbench` (containers fbench-*, networks fbench_*, data in
/opt/fbench, its own ports) so it never disturbs `make start-project` or Molecule. The rate limit is
lifted for the benchmark's public client address only (`nginx_gateway_rate_limit_exempt:
[<client>/32]`). Load goes only to fbench containers.

Results: bench/results.json (machine-readable) and docs/BENCHMARK.md (tables); the summary is
printed.

Modules, in the order a run uses them: config (names and variables, one place), proc (commands),
deploy (playbooks, client containers, teardown), measure (wrk, openssl s_time, CPU counters),
hashing (the htpasswd role's filter), breakdown and experiments (the gateway's costs and history),
drive (one whole run), report (docs/BENCHMARK.md), cli (arguments).
"""
