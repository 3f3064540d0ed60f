"""The request path against its ceilings, in one run: `make bench` (about 6 minutes).

    .venv/bin/python bench/bench_http.py [--duration 8] [--runs 3] [--workers 1 2] [--output http]

Everything runs on this machine, and every ratio divides two figures measured in this run,
because the absolute figures move with whatever else the machine is doing:

- ceilings: a bare FastAPI hello (bench/hello_app.py) served by `tessera.server` with the
  same settings and worker count as Tessera; raw argon2id verifications per second with
  Tessera's parameters on every core; `pgbench -b tpcb-like` on the same PostgreSQL;
- Tessera on PostgreSQL + Redis with 1 and 2 workers: `GET /healthz`, `GET /auth/me` (Bearer
  token, live-session check), `POST /auth/login`; then `/healthz` and `/auth/me` latency while
  logins run flat out (a login storm); RSS per worker after the load; cold start to ready.

Load comes from wrk, a separate process (its CPU use is recorded next to each figure). Each
case is warmed up, then run `--runs` times; the median is the figure. Results go to
bench/results/http.json (machine, versions, commit, every run) and bench/results/http.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx2
from support import (
    free_port,
    pg_database_url,
    pgbench_tps,
    require_tools,
    scratch_database_sync,
)

from tessera.core.db.migrate import upgrade
from tessera.core.identity.passwords import argon2_hasher

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
REDIS_URL = os.environ.get("TESSERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct-horse-battery-staple-42"
CONNECTIONS = 32  # wrk connections for the throughput cases, as in the measurements
LOGIN_CONNECTIONS = 8
PROBE_CONNECTIONS = 4
WARMUP_SECONDS = 3

TARGETS = {
    "healthz_over_hello": 0.8,
    "me_over_hello": 0.25,
    "me_2w_over_1w": 1.5,
    "login_over_argon2": 0.9,
    "login_2w_over_1w": 1.0,
}


# --- services ----------------------------------------------------------------------------------


def reachable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def ensure_services() -> None:
    """PostgreSQL and Redis as CI starts them (.ci/run), if they are not up already, and the
    load generator."""
    require_tools("wrk", "pgbench")
    if not reachable(5432) and shutil.which("pg_ctlcluster"):
        version = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
        )
    if not reachable(6379) and shutil.which("redis-server"):
        subprocess.run(
            [
                *("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379"),
                *("--save", "", "--appendonly", "no"),
            ],
            check=False,
        )
    for _ in range(30):
        if reachable(5432) and reachable(6379):
            return
        time.sleep(1)
    raise SystemExit("PostgreSQL (5432) and Redis (6379) are needed on 127.0.0.1")


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    started_in: float

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the spawned workers if any, else the one
        (multiprocessing's resource tracker is a child too, and serves nothing)."""
        workers = [
            pid
            for pid in descendants(self.proc.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        return workers or [self.proc.pid]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(argv: list[str], env: dict[str, str], ready_path: str, port: int) -> Server:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT / "bench",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited with {proc.returncode}")
        try:
            if httpx2.get(base + ready_path, timeout=1).status_code == 200:
                return Server(proc, base, time.perf_counter() - started)
        except httpx2.HTTPError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{argv} did not start")


def tessera_env(database_url: str, data_dir: Path, redis_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "TESSERA_ENV": "test",
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_REDIS_URL": REDIS_URL,
        "TESSERA_REDIS_PREFIX": redis_prefix,
        "TESSERA_SECRET_KEY": SECRET,
        "TESSERA_SCHEDULER": "off",
        "TESSERA_DATA_DIR": str(data_dir),
        "TESSERA_LOG_LEVEL": "INFO",  # the access log is part of the cost being measured
        "TESSERA_LOGIN_ACCOUNT_LIMIT": "100000000/hour",
        "TESSERA_LOGIN_IP_LIMIT": "100000000/hour",
        "TESSERA_REGISTER_IP_LIMIT": "100000/hour",
    }


def start_tessera(env: dict[str, str], workers: int, log_to: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "tessera", "serve", "--port", str(port)]
    argv += ["--workers", str(workers)]
    # The access log is written (to a file, as a log shipper would read it): its cost counts.
    env = {**env, "TESSERA_BENCH_LOG": str(log_to)}
    server = start(
        ["sh", "-c", 'exec "$@" 2>>"$TESSERA_BENCH_LOG"', "sh", *argv], env, "/healthz", port
    )
    return server


def start_hello(workers: int) -> Server:
    port = free_port()
    argv = [sys.executable, "-c", "import hello_server; hello_server.main()"]
    env = {**os.environ, "HELLO_PORT": str(port), "HELLO_WORKERS": str(workers)}
    return start(argv, env, "/hello", port)


# --- load --------------------------------------------------------------------------------------


@dataclass
class WrkRun:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    wrk_cpu_share: float  # of one core, over the run


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(out: str, percentile: str) -> float:
    """A latency percentile from wrk's --latency report, in ms (NaN if wrk printed none)."""
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
    if found is None:
        return float("nan")
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(
    url: str,
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> WrkRun:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p99 = _ms(out, "50"), _ms(out, "99")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return WrkRun(rate, p50, p99, errors, round(cpu / seconds, 3))


@dataclass
class Load:
    url: str
    connections: int = CONNECTIONS
    headers: dict[str, str] | None = None
    script: Path | None = None

    def run(self, seconds: float) -> WrkRun:
        return wrk(self.url, seconds, self.connections, self.headers, self.script)


@dataclass
class Case:
    name: str
    runs: list[WrkRun] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(run.requests_per_second for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_per_second": round(self.rate, 1),
            "p99_ms_median": round(statistics.median(run.p99_ms for run in self.runs), 2),
            "runs": [asdict(run) for run in self.runs],
        }


def login_script(directory: Path, email: str) -> Path:
    path = directory / "login.lua"
    body = json.dumps({"email": email, "password": PASSWORD})
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


# --- ceilings ----------------------------------------------------------------------------------


def argon2_rate(seconds: float) -> float:
    """argon2id verifications per second with Tessera's parameters, one thread per core."""
    hasher = argon2_hasher(fast=False)
    hashed = hasher.hash(PASSWORD)
    threads = os.cpu_count() or 1
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        count = 0
        while time.perf_counter() < deadline:
            hasher.verify(PASSWORD, hashed)
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    return total / (time.perf_counter() - started)


# --- the run -----------------------------------------------------------------------------------


def bearer_token(base: str, email: str) -> str:
    with httpx2.Client(base_url=base, timeout=30) as http:
        r = http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code in (201, 400), r.text
        r = http.post("/auth/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        token: str = r.json()["access_token"]
        assert http.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        return token


def login_storm(base: str, token: str, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    """/healthz and /auth/me latency (a few connections each) while logins run flat out."""
    seconds = args.duration + 2
    storm = subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{LOGIN_CONNECTIONS}",
            f"-d{round(seconds)}s",
            "-s",
            str(script),
            base + "/auth/login",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        with ThreadPoolExecutor(2) as pool:
            health = pool.submit(wrk, base + "/healthz", args.duration, PROBE_CONNECTIONS)
            me = pool.submit(
                wrk,
                base + "/auth/me",
                args.duration,
                PROBE_CONNECTIONS,
                {"Authorization": f"Bearer {token}"},
            )
            figures = {"healthz": asdict(health.result()), "auth_me": asdict(me.result())}
    finally:
        storm.wait()
    print(
        f"  storm p99: healthz {figures['healthz']['p99_ms']} ms, "
        f"me {figures['auth_me']['p99_ms']} ms"
    )
    return figures


def run_workers(workers: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every case for one worker count, round by round: in each round the ceiling and the
    cases divided by it run back to back, so that a ratio compares figures taken within
    seconds of each other on a machine whose load moves."""
    with scratch_database_sync("bench_http") as name:
        return _run_cases(workers, args, work, pg_database_url(name))


def _run_cases(workers: int, args: argparse.Namespace, work: Path, url: str) -> dict[str, Any]:
    hello = start_hello(workers)
    try:
        upgrade(url, "head")
        env = tessera_env(url, work, f"bench-{secrets.token_hex(4)}")
        server = start_tessera(env, workers, work / f"tessera-{workers}w.log")
        try:
            print(f"{workers} worker(s): Tessera ready in {server.started_in:.2f} s")
            email = f"bench-{secrets.token_hex(4)}@example.com"
            token = bearer_token(server.base, email)
            script = login_script(work, email)
            bearer = {"Authorization": f"Bearer {token}"}
            cases: dict[str, Load] = {
                "hello": Load(hello.base + "/hello"),
                "healthz": Load(server.base + "/healthz"),
                "auth_me": Load(server.base + "/auth/me", headers=bearer),
                "login": Load(server.base + "/auth/login", LOGIN_CONNECTIONS, script=script),
            }
            for load in cases.values():  # warm-up
                load.run(WARMUP_SECONDS)
            runs: dict[str, Case] = {key: Case(key) for key in cases}
            argon2: list[float] = []
            per_round: list[dict[str, float]] = []
            for round_ in range(args.runs):
                for key, load in cases.items():
                    run = load.run(args.duration)
                    if run.errors:
                        raise RuntimeError(f"{key}: {run.errors} errors in {run}")
                    runs[key].runs.append(run)
                argon2.append(argon2_rate(args.duration))
                rate = {key: case.runs[-1].requests_per_second for key, case in runs.items()}
                per_round.append(
                    {
                        "healthz_over_hello": rate["healthz"] / rate["hello"],
                        "me_over_hello": rate["auth_me"] / rate["hello"],
                        "login_over_argon2": rate["login"] / argon2[-1],
                    }
                )
                print(
                    f"  round {round_ + 1}: "
                    + ", ".join(f"{key} {value:.1f}/s" for key, value in rate.items())
                    + f", argon2id {argon2[-1]:.1f}/s"
                )
            figures: dict[str, Any] = {key: case.as_dict() for key, case in runs.items()}
            figures["argon2id_verifications_per_second"] = {
                "median": round(statistics.median(argon2), 1),
                "runs": [round(value, 1) for value in argon2],
            }
            figures["ratios_per_round"] = per_round
            figures["ratios"] = {
                key: round(statistics.median(r[key] for r in per_round), 3) for key in per_round[0]
            }
            figures["login_storm"] = login_storm(server.base, token, script, args)
            rss = [rss_mib(pid) for pid in server.worker_pids()]
            figures["rss_mib_per_worker"] = [round(value, 1) for value in rss]
            figures["cold_start_seconds"] = round(server.started_in, 2)
            return figures
        finally:
            server.stop()
    finally:
        hello.stop()


def versions() -> dict[str, str]:
    names = [
        "fastapi",
        "starlette",
        "pydantic",
        "sqlalchemy",
        "asyncpg",
        "redis",
        "uvicorn",
    ]
    found = {name: metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    found["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[
        0
    ]
    found["pgbench"] = subprocess.run(
        ["pgbench", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return found


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def ratios(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for w in (1, 2):
        for key, value in result[f"tessera_{w}w"]["ratios"].items():
            out[f"{key}_{w}w"] = value

    def rate(workers: int, case: str) -> float:
        return float(result[f"tessera_{workers}w"][case]["requests_per_second"])

    out["me_2w_over_1w"] = round(rate(2, "auth_me") / rate(1, "auth_me"), 3)
    out["login_2w_over_1w"] = round(rate(2, "login") / rate(1, "login"), 3)
    return out


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = result["ratios"]
    targets = {
        key: next((t for name, t in TARGETS.items() if key.startswith(name)), None)
        for key in values
    }
    labels = list(values)
    fig, ax = plt.subplots(figsize=(10, 4.8))
    colours = [
        "#2e7d32" if targets[k] is None or values[k] >= targets[k] else "#c62828" for k in labels
    ]
    ax.barh(labels, [values[k] for k in labels], color=colours)
    for i, key in enumerate(labels):
        target = targets[key]
        if target is not None:
            ax.plot([target, target], [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.text(values[key], i, f" {values[key]:.2f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("ratio (same run); black tick = target")
    ax.set_title(f"Tessera request path, {result['machine']['cpus']} CPUs, {result['measured_at']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(result: dict[str, Any]) -> str:
    """The table for docs/performance.md."""
    one, two = result["tessera_1w"], result["tessera_2w"]
    r = result["ratios"]

    def rate(figures: dict[str, Any], case: str) -> str:
        return f"{figures[case]['requests_per_second']:,.0f}"

    def argon(figures: dict[str, Any]) -> str:
        return f"{figures['argon2id_verifications_per_second']['median']:,.1f}"

    def storm(figures: dict[str, Any], case: str) -> str:
        return f"{figures['login_storm'][case]['p99_ms']:.1f} ms"

    rows = [
        "| case | 1 worker | 2 workers | target |",
        "|---|---|---|---|",
        f"| bare FastAPI hello, req/s (ceiling) | {rate(one, 'hello')} | {rate(two, 'hello')} | |",
        f"| `GET /healthz`, req/s | {rate(one, 'healthz')} | {rate(two, 'healthz')} | |",
        f"| … ÷ hello (same rounds) | **{r['healthz_over_hello_1w']:.2f}** | "
        f"**{r['healthz_over_hello_2w']:.2f}** | ≥ 0.8 |",
        f"| `GET /auth/me`, req/s | {rate(one, 'auth_me')} | {rate(two, 'auth_me')} | |",
        f"| … ÷ hello (same rounds) | **{r['me_over_hello_1w']:.3f}** | "
        f"**{r['me_over_hello_2w']:.3f}** | ≥ 0.25 |",
        f"| `/auth/me` 2 workers ÷ 1 worker | | **{r['me_2w_over_1w']:.2f}** | ≥ 1.5 |",
        f"| raw argon2id verifications/s, every core (ceiling) | {argon(one)} | {argon(two)} | |",
        f"| `POST /auth/login`, req/s | {rate(one, 'login')} | {rate(two, 'login')} | |",
        f"| … ÷ raw argon2id (same rounds) | **{r['login_over_argon2_1w']:.2f}** | "
        f"**{r['login_over_argon2_2w']:.2f}** | ≥ 0.9 |",
        f"| login 2 workers ÷ 1 worker | | **{r['login_2w_over_1w']:.2f}** | ≥ 1 |",
        f"| `/healthz` p99 during a login storm | {storm(one, 'healthz')} | "
        f"{storm(two, 'healthz')} | ≤ 50 ms |",
        f"| `/auth/me` p99 during a login storm | {storm(one, 'auth_me')} | "
        f"{storm(two, 'auth_me')} | ≤ 50 ms |",
        f"| RSS per worker after the load | {max(one['rss_mib_per_worker']):.0f} MiB | "
        f"{max(two['rss_mib_per_worker']):.0f} MiB | ≤ 150 MB |",
        f"| cold start to ready | {one['cold_start_seconds']:.1f} s | "
        f"{two['cold_start_seconds']:.1f} s | ≤ 3 s |",
        f"| `pgbench -b tpcb-like` (ceiling), tps | {result['ceilings']['pgbench_tpcb_tps']:,.0f} |"
        " | |",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", default="http", help="file name under bench/results/")
    args = parser.parse_args()
    ensure_services()
    began = time.perf_counter()
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "load_average_at_start": os.getloadavg(),
        },
        "versions": versions(),
        "settings": {
            "duration_s": args.duration,
            "runs": args.runs,
            "warmup_s": WARMUP_SECONDS,
            "connections": CONNECTIONS,
            "login_connections": LOGIN_CONNECTIONS,
        },
        "ceilings": {"hello and argon2id": "per worker count, under tessera_<n>w"},
    }
    result["ceilings"]["pgbench_tpcb_tps"] = round(
        pgbench_tps(args.duration, clients=8, scale=1), 1
    )
    print(f"pgbench -b tpcb-like: {result['ceilings']['pgbench_tpcb_tps']} tps")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            result[f"tessera_{workers}w"] = run_workers(workers, args, Path(tmp))
    result["ratios"] = ratios(result) if set(args.workers) >= {1, 2} else {}
    result["targets"] = TARGETS
    result["wall_seconds"] = round(time.perf_counter() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.output}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if result["ratios"]:
        chart(result, RESULTS / f"{args.output}.png")
        (RESULTS / f"{args.output}.md").write_text(markdown(result))
        for key, value in result["ratios"].items():
            print(f"  {key:28} {value:.3f}")
    print(f"saved to bench/results/{out.name} in {result['wall_seconds']} s")


if __name__ == "__main__":
    main()
