"""A small, bounded load on one page of a local firstline: N concurrent clients.

Usage (against a server you started, loopback only):
    .venv/bin/python bench/web_load.py http://127.0.0.1:8000/login/ [--clients 50]
        [--requests 20] [--seconds 30] [--server-pid PID]

Each client opens a new connection per request (as 50 separate browsers would); all start at
once. Stops after --requests per client or --seconds, whichever comes first. Prints
requests/s, answers by status, failures by kind (connection reset, refused, timeout...),
connects that took a SYN retry (the listen backlog was full) and the latency percentiles.
"""

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# A connect this slow had its SYN dropped (a full listen backlog) and retried after ~1 s.
SYN_RETRY_SECONDS = 0.9


def run_load(url: str, clients: int, requests: int, seconds: float,
             timeout: float = 30.0) -> dict[str, object]:
    """Run the load and return the figures (also used by tests/test_run_command.py)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise ValueError(f"url: only http:// on the loopback interface, got {url!r}")
    host, port = parts.hostname, parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    statuses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    slow_connects: list[float] = []
    lock = threading.Lock()
    start_together = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def client() -> None:
        start_together.wait()
        deadline = deadline_box[0]
        for _ in range(requests):
            if time.monotonic() >= deadline:
                return
            began = time.monotonic()
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                connection.connect()
                connected = time.monotonic() - began
                connection.request("GET", target, headers={"Connection": "close"})
                response = connection.getresponse()
                response.read()
                outcome, is_failure = str(response.status), False
            except OSError as exc:
                outcome, is_failure = type(exc).__name__, True
            except http.client.HTTPException as exc:
                outcome, is_failure = type(exc).__name__, True
            finally:
                connection.close()
            with lock:
                (failures if is_failure else statuses)[outcome] += 1
                latencies.append(time.monotonic() - began)
                if not is_failure and connected >= SYN_RETRY_SECONDS:
                    slow_connects.append(connected)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline_box.append(began + seconds)
    start_together.wait()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    elapsed = time.monotonic() - began
    ordered = sorted(latencies) or [0.0]
    done = sum(statuses.values()) + sum(failures.values())
    return {
        "requests": done,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(done / elapsed, 1) if elapsed else 0.0,
        "statuses": dict(statuses),
        "failures": dict(failures),
        "connects_retried": len(slow_connects),
        "latency_p50_ms": round(statistics.median(ordered) * 1000),
        "latency_p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000),
        "latency_max_ms": round(ordered[-1] * 1000),
    }


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pending.extend(int(child) for child in children)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="at most")
    parser.add_argument("--server-pid", type=int,
                        help="also report the server's CPU time per request (its process tree)")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.requests <= 1000:
        sys.exit("--clients: 1..200, --requests: 1..1000")
    cpu_before = process_tree_cpu_seconds(args.server_pid) if args.server_pid else 0.0
    result = run_load(args.url, args.clients, args.requests, args.seconds)
    if args.server_pid:
        cpu = process_tree_cpu_seconds(args.server_pid) - cpu_before
        result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(1, result["requests"]), 2)
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
