"""Asterisk queue_log import on PostgreSQL: `calls_import queue_log FILE` over 1M lines.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/calls_queue_log.py [--lines 1000000] [--rounds 3]
        [--baseline REV] [--baseline-lines 1000000] [--baseline-rounds 1]
        [--profile FILE.prof]

Each round imports a freshly generated file into empty call tables, through `import_file`
as the command runs it. The file is what Asterisk writes: lines in time order, a call a
second across 100 partners' queues, 4 lines a call (answered: ENTERQUEUE, RINGNOANSWER,
CONNECT, COMPLETECALLER; one in ten abandoned and one in twenty-five timed out after
ringing twice), so each call's lines interleave with those of the ~200 calls around it and
many calls span two batches. It reports lines/s, the importer's CPU per line
(process time, which does not depend on the machine's load) and the PostgreSQL backend's
CPU per line (from /proc, the server being on this machine). Baseline in the same run: an
earlier revision's path (`--baseline`, by default the one before this file read a
time-ordered log: its services/importer/queue_log/events/phones, loaded under other module
names) over `--baseline-lines`, on today's schema (its indexes are not put back: run this
file in that revision's tree for the whole difference). The load average is printed with
every figure: on a shared machine, wall-clock figures move with it; CPU per line does not.
"""

import argparse
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "firstline_bench_queuelog"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
# The revision before the time-ordered log: Django's bulk_update for calls spanning two
# batches, and their look-up by `external_id = ANY(...)`.
BASELINE = "509604d"
_MODULES = ("events", "phones", "queue_log", "services", "importer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--baseline-lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-rounds", type=int, default=1)
    parser.add_argument("--profile", default="", help="write a cProfile of round 1 here")
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket, as bench/calls.py: TCP to 127.0.0.1 costs more per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        from bench.calls import setup

        setup()
        ours = [_round("current", args.lines, n, args.profile if n == 0 else "")
                for n in range(args.rounds)]
        base = [_round(f"baseline {args.baseline}", args.baseline_lines, n, "",
                       importer=_baseline_importer(args.baseline))
                for n in range(args.baseline_rounds)] if args.baseline_rounds else []
        _summary("current", ours)
        if base:
            _summary(f"baseline {args.baseline}", base)
            ratio = statistics.median(r["rate"] for r in ours) / statistics.median(
                r["rate"] for r in base)
            cpu_ratio = statistics.median(r["cpu_us"] for r in base) / statistics.median(
                r["cpu_us"] for r in ours)
            print(f"ratio current/baseline: {ratio:.1f}x lines/s, "
                  f"{cpu_ratio:.1f}x less importer CPU per line")
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def _baseline_importer(revision: str) -> types.ModuleType:
    """That revision's importer and the modules it reads, under other names."""
    loaded: dict[str, types.ModuleType] = {}
    for name in _MODULES:
        source = subprocess.run(["git", "show", f"{revision}:firstline/calls/{name}.py"],
                                cwd=ROOT, check=True, capture_output=True, text=True).stdout
        for other in _MODULES:
            source = source.replace(f"firstline.calls.{other} ", f"bench_old_{other} ")
            source = source.replace(f"from firstline.calls import {other}\n",
                                    f"import bench_old_{other} as {other}\n")
        module = types.ModuleType(f"bench_old_{name}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"{revision}:{name}.py", "exec"), module.__dict__)  # noqa: S102
        loaded[name] = module
    return loaded["importer"]


def _queue_log_file(lines: int, first_call: int) -> str:
    """A queue_log of `lines` lines (4 a call) in time order; see the module's docstring."""
    start = int(time.time()) - 86400 * 30
    partners = 100
    stamped: list[tuple[int, int, str]] = []
    for n in range(first_call, first_call + lines // 4):
        t = start + n - first_call
        call, queue, caller = f"{t}.{n}", f"q{n % partners}", f"7900{n % 10**7:07d}"
        events = [(0, f"NONE|ENTERQUEUE||{caller}|1"), (3, "PJSIP/102|RINGNOANSWER|15000")]
        if n % 10 == 3:
            events += [(20, "PJSIP/103|RINGNOANSWER|15000"), (45, "NONE|ABANDON|1|1|45")]
        elif n % 25 == 7:
            events += [(20, "PJSIP/103|RINGNOANSWER|15000"), (300, "NONE|EXITWITHTIMEOUT|1|1|300")]
        else:
            events += [(20, f"PJSIP/101|CONNECT|20|{t}.9|4"),
                       (200, "PJSIP/101|COMPLETECALLER|20|180|1")]
        stamped += [(t + offset, n, f"{t + offset}|{call}|{queue}|{rest}\n")
                    for offset, rest in events]
    stamped.sort()
    with tempfile.NamedTemporaryFile("w", suffix=".queue_log", delete=False) as handle:
        handle.writelines(text for _t, _n, text in stamped)
        return handle.name


def _backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend (user + system, from /proc)."""
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(label: str, lines: int, number: int, profile: str,
           importer: types.ModuleType | None = None) -> dict:
    from django.db import connection

    from firstline.calls import importer as current

    importer = importer or current
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE calls_rawcallevent, calls_call, calls_queuelogposition")
    path = _queue_log_file(lines, number * lines)
    load = os.getloadavg()
    try:
        backend = _backend_cpu()
        profiler = cProfile.Profile() if profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        counts = importer.import_file(path)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        backend = _backend_cpu() - backend
    finally:
        os.unlink(path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_call")
        calls = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM calls_rawcallevent")
        raws = cursor.fetchone()[0]
    assert counts.read == lines and raws == lines and calls == lines // 4, (counts, raws, calls)
    result = {"rate": counts.read / elapsed, "cpu_us": cpu / counts.read * 1e6,
              "pg_us": backend / counts.read * 1e6, "load": load}
    print(f"{label} round {number + 1}: {result['rate']:,.0f} lines/s ({lines:,} lines, "
          f"{elapsed:.1f} s); importer CPU {result['cpu_us']:.1f} us/line, PostgreSQL "
          f"backend CPU {result['pg_us']:.1f} us/line; load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}", flush=True)
    return result


def _summary(label: str, rounds: list[dict]) -> None:
    def line(name: str, unit: str) -> str:
        values = sorted(r[name] for r in rounds)
        return (f"{name} p50 {statistics.median(values):,.1f} {unit} "
                f"(min-max {values[0]:,.1f}-{values[-1]:,.1f})")

    print(f"{label}, {len(rounds)} rounds: {line('rate', 'lines/s')}; "
          f"{line('cpu_us', 'us/line importer CPU')}; {line('pg_us', 'us/line backend CPU')}; "
          f"load 1-min {min(r['load'][0] for r in rounds):.2f}-"
          f"{max(r['load'][0] for r in rounds):.2f}")


if __name__ == "__main__":
    main()
