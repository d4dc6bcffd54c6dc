"""Stdlib-only socket probes of test_abuse.py, executed ON the target or in a client container
(like probe.py). Every probe is bounded by `max_wait` seconds and a fixed socket count.

Usage: python3 abuse_probe.py '<json spec>'  -> prints one JSON document.
Spec keys: mode, host, port, tls (bool), max_wait (s), auth (an Authorization value); per mode:
  hold         `plain` bare TCP connections (no TLS hello), `tls` TLS-handshaken ones and `kept`
               keep-alive ones (one GET /healthz answered, then idle); nothing else is sent.
               Reports when the server closed each (s after it was opened; null: still open).
  slow_header  a request line, then a header line every `interval` s, never the blank line.
  slow_body    a POST /predict header (Content-Length 64) and `sent` body bytes, then silence.
  conn_limit   `count` POST /predict headers (Content-Length 64, body never sent), one every
               `interval` s, held open; then `settle` s to collect answers (status null: held).
  alpn         the protocol the server picks when a client offers h2 and http/1.1.
"""

import json
import selectors
import socket
import ssl
import sys
import time


def connect(spec: dict, tls: bool | None = None, alpn: list | None = None) -> socket.socket:
    sock = socket.create_connection((spec["host"], int(spec["port"])), timeout=10)
    if not (spec.get("tls", True) if tls is None else tls):
        return sock
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(sock, server_hostname="localhost")


def request_head(spec: dict, method: str, path: str, length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json"]
    if spec.get("auth"):
        lines.append(f"Authorization: {spec['auth']}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_chunk(sock: socket.socket) -> bytes | None:
    """Bytes the server sent, b"" when it closed the connection, None when nothing is there yet."""
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    except (ConnectionError, ssl.SSLError, OSError):
        return b""


def watch(socks: list, started: list, max_wait: float) -> tuple[list, list]:
    """Wait (bounded) until the server closes each socket: close times, bytes received."""
    closed: list = [None] * len(socks)
    data = [b""] * len(socks)
    sel = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, i)
    deadline = time.monotonic() + max_wait
    while any(c is None for c in closed) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            i = key.data
            while True:
                chunk = read_chunk(socks[i])
                if chunk is None:
                    break
                if not chunk:
                    closed[i] = round(time.monotonic() - started[i], 2)
                    sel.unregister(socks[i])
                    break
                data[i] += chunk
    for sock in socks:
        sock.close()
    return closed, data


def hold(spec: dict) -> dict:
    socks, started, kinds = [], [], []
    for kind in ("plain", "tls", "kept"):
        for _ in range(int(spec.get(kind, 0))):
            started.append(time.monotonic())
            sock = connect(spec, tls=kind != "plain")
            if kind == "kept":
                sock.sendall(request_head(spec, "GET", "/healthz"))
                answer = sock.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            socks.append(sock)
            kinds.append(kind)
    opened = time.monotonic()
    closed, _ = watch(socks, started, float(spec["max_wait"]))
    return {
        "opened": len(socks),
        "open_seconds": round(opened - started[0], 2) if started else 0,
        "closed": {
            k: [c for c, kk in zip(closed, kinds, strict=True) if kk == k]
            for k in sorted(set(kinds))
        },
    }


def slow_header(spec: dict) -> dict:
    started = time.monotonic()
    sock = connect(spec)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    sock.settimeout(float(spec["interval"]))
    deadline, lines = started + float(spec["max_wait"]), 0
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                break
        except TimeoutError:
            try:
                sock.sendall(f"X-Slow-{lines}: a\r\n".encode())
                lines += 1
            except OSError:
                break
        except (ConnectionError, ssl.SSLError, OSError):
            break
    else:
        return {"closed": None, "header_lines": lines}
    sock.close()
    return {"closed": round(time.monotonic() - started, 2), "header_lines": lines}


def slow_body(spec: dict) -> dict:
    started = [time.monotonic()]
    sock = connect(spec)
    sock.sendall(request_head(spec, "POST", "/predict", 64) + b"{" * int(spec.get("sent", 1)))
    closed, data = watch([sock], started, float(spec["max_wait"]))
    return {"closed": closed[0], "answer": data[0].decode("utf-8", "replace")[:200]}


def conn_limit(spec: dict) -> dict:
    socks, started = [], []
    for i in range(int(spec["count"])):
        if i:
            time.sleep(float(spec["interval"]))
        started.append(time.monotonic())
        sock = connect(spec)
        sock.sendall(request_head(spec, "POST", "/predict", 64))
        socks.append(sock)
    _, data = watch(socks, started, float(spec["settle"]))
    answers = []
    for raw in data:
        text = raw.decode("utf-8", "replace")
        status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else None
        answers.append({"status": status, "body": text.split("\r\n\r\n", 1)[-1][:200]})
    return {"answers": answers}


def alpn(spec: dict) -> dict:
    sock = connect(spec, tls=True, alpn=["h2", "http/1.1"])
    chosen = sock.selected_alpn_protocol()
    sock.close()
    return {"alpn": chosen}


def main() -> None:
    spec = json.loads(sys.argv[1])
    modes = {"hold": hold, "slow_header": slow_header, "slow_body": slow_body}
    modes.update({"conn_limit": conn_limit, "alpn": alpn})
    print(json.dumps(modes[spec["mode"]](spec)))


if __name__ == "__main__":
    main()
