"""Stdlib-only HTTP probe executed ON the target (host, instance or client container).

Usage: python3 probe.py '<json request spec>'  -> prints one JSON document with the results.
Spec keys: url, method (POST), headers ({}), body (str) or body_b64 or sentence_chars (a
{"sentence": "xxx…"} body of that many characters, too big for a command line), cafile,
insecure (bool),
timeout (s), count (repeat over one keep-alive connection), interval (s between requests),
tls_version ("1.0".."1.3" to pin), sentences (a list: request i sends sentences[i % n]).
Each result: {"status", "headers" (lower-cased names), "body", "error", "elapsed_ms"}.
"""

import base64
import http.client
import json
import ssl
import sys
import time
import urllib.parse

_TLS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def _connection(spec: dict, url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
    timeout = float(spec.get("timeout", 10))
    if url.scheme == "http":
        return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    ctx = ssl.create_default_context(cafile=spec.get("cafile"))
    if spec.get("insecure"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if spec.get("tls_version"):
        if spec["tls_version"] in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = _TLS[spec["tls_version"]]
    return http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=timeout, context=ctx)


def main() -> None:
    spec = json.loads(sys.argv[1])
    url = urllib.parse.urlsplit(spec["url"])
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    body = spec.get("body")
    if spec.get("sentence_chars") is not None:
        body = json.dumps({"sentence": "x" * int(spec["sentence_chars"])}).encode()
    elif spec.get("body_b64") is not None:
        body = base64.b64decode(spec["body_b64"])
    elif body is not None:
        body = body.encode()
    sentences = spec.get("sentences") or []
    results = []
    conn = None
    for i in range(int(spec.get("count", 1))):
        if i and spec.get("interval"):
            time.sleep(float(spec["interval"]))
        if sentences:
            body = json.dumps({"sentence": sentences[i % len(sentences)]}).encode()
        started = time.perf_counter()
        try:
            if conn is None:
                conn = _connection(spec, url)
            conn.request(
                spec.get("method", "POST"), path, body=body, headers=spec.get("headers", {})
            )
            resp = conn.getresponse()
            data = resp.read()
            results.append(
                {
                    "status": resp.status,
                    "headers": {k.lower(): v for k, v in resp.getheaders()},
                    "body": data.decode("utf-8", "replace"),
                    "error": None,
                    "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            results.append(
                {
                    "status": None,
                    "headers": {},
                    "body": "",
                    "error": f"{type(exc).__name__}: {exc}",
                    "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
            if conn is not None:
                conn.close()
            conn = None
    print(json.dumps(results))


if __name__ == "__main__":
    main()
