-- wrk script of `make bench`. Configured by environment variables (set with `docker exec -e`):
--   BENCH_METHOD   request method (default POST)
--   BENCH_BODY     request body (default a /predict sentence)
--   BENCH_AUTH     value of the Authorization header (omitted when empty)
--   BENCH_CLOSE    "1": send "Connection: close", so every request opens a new connection (and TLS handshake)
--   BENCH_TARGETS  "host:port,host:port,...": thread i connects to target i % n (aggregate over replicas
--                  without a load balancer); empty: every thread uses the URL's host
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles (microseconds).

local method = os.getenv("BENCH_METHOD") or "POST"
local body = os.getenv("BENCH_BODY") or '{"sentence": "I love this product"}'
local auth = os.getenv("BENCH_AUTH") or ""
local close = os.getenv("BENCH_CLOSE") == "1"
local targets = os.getenv("BENCH_TARGETS") or ""

local addrs = {}
local counter = 0

function setup(thread)
  if targets ~= "" and #addrs == 0 then
    for target in string.gmatch(targets, "[^,]+") do
      local host, port = string.match(target, "^(.+):(%d+)$")
      local found = wrk.lookup(host, port)
      if found == nil or #found == 0 then
        error("cannot resolve " .. target)
      end
      table.insert(addrs, found[1])
    end
  end
  if #addrs > 0 then
    thread.addr = addrs[(counter % #addrs) + 1]
  end
  counter = counter + 1
end

-- Static request (no request() function): wrk builds it once per thread, the cheapest way to drive load.
wrk.method = method
if method == "POST" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if auth ~= "" then
  wrk.headers["Authorization"] = auth
end
if close then
  wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 75, 90, 95, 99, 99.9}) do
    table.insert(p, string.format('"%s": %d', tostring(q), latency:percentile(q)))
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, "percentiles": {%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max, table.concat(p, ", ")))
end
