"""Benchmark: the web application under load, served by gunicorn, on a county-sized database.

    python benchmarks/web.py [--pupils 150000] [--cases 30000] [--workers 4] [--clients 16] [--seconds 30]
                             [--db URL] [--keep DIR]

Seeds a reproducible county (the register generator of benchmarks/register.py, plus contacts shared by siblings,
officers and cases spread over the pathway's states with hash-chained events and deadlines), serves the app with
gunicorn and loads the caseload, case, pupil search and dashboard pages with `--clients` concurrent clients (each a
signed-in session of its own, in two client processes) for `--seconds`. Prints p50/p95/p99 and requests per second per
page and overall, the number of errors, and the CPU time per request of the server, the clients and (on PostgreSQL)
the database server, all on the same cores. The app runs with CASEWORK_NOW at the end of the seeded summer term. On
PostgreSQL the seeded tables are analysed, as autovacuum would after a bulk load (it is off on this machine's server).
Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))
import register  # noqa: E402  (the county generator of benchmarks/register.py)

import workflows  # noqa: E402
from casework.chronology import GENESIS, event_hash  # noqa: E402
from casework.db import get_engine, upgrade  # noqa: E402
from casework.models import Case, CaseEvent, Contact, Deadline, Pupil, PupilContact  # noqa: E402
from casework.services.users import add_user  # noqa: E402

NOW = "2026-07-15T10:00:00+00:00"  # the summer term of the seeded academic year (2025/26)
PASSWORD = "benchmark passphrase 2026"
STATE_MIX = {"concern": 0.15, "consultation": 0.2, "action_plan": 0.25, "parenting_contract": 0.08,
             "notice_to_improve": 0.1, "penalty_notice": 0.07, "prosecution": 0.02, "closed": 0.13}
ROUTE_TO = {"concern": [], "consultation": ["start_consultation"], "action_plan": ["start_consultation",
            "agree_action_plan"], "parenting_contract": ["start_consultation", "offer_parenting_contract"],
            "notice_to_improve": ["start_consultation", "agree_action_plan", "issue_notice_to_improve"],
            "penalty_notice": ["start_consultation", "agree_action_plan", "issue_notice_to_improve",
                               "issue_penalty_notice"],
            "prosecution": ["start_consultation", "agree_action_plan", "issue_notice_to_improve",
                            "refer_for_prosecution"], "closed": ["start_consultation", "close"]}
CHUNK = 5_000
ROOT = Path(__file__).resolve().parent.parent  # where gunicorn imports `web` from


def seed(url: str, n_pupils: int, n_cases: int, n_officers: int) -> dict:
    """Store the county and its casework; returns what the clients need (users, case refs, search terms)."""
    rng = random.Random(2026)
    register.generate(url, n_pupils, max(40, n_pupils // 500), 2025)
    engine = get_engine(url)
    with engine.begin() as conn:
        pupils = conn.execute(select(Pupil.id, Pupil.upn, Pupil.surname)).all()
    _contacts(engine, pupils, rng)
    from sqlmodel import Session

    with Session(engine) as session:
        officers = [add_user(session, f"aeo{i}@bench.example", "aeo", PASSWORD, name=f"Officer {i}")
                    for i in range(n_officers)]
        add_user(session, "manager@bench.example", "manager", PASSWORD, name="Manager")
        add_user(session, "legal@bench.example", "legal", PASSWORD, name="Legal")
        session.commit()
        officer_ids = [(o.id, o.email) for o in officers]
    refs = _cases(engine, pupils, officer_ids, n_cases, rng)
    return {"officers": [email for _, email in officer_ids], "refs": refs,
            "terms": [p.surname[:-1] for p in rng.sample(pupils, 200)] + [p.upn for p in rng.sample(pupils, 100)]}


def _contacts(engine, pupils, rng: random.Random) -> None:
    """Two parents per pupil; one pupil in eight shares both with the pupil before (siblings)."""
    contact_rows, link_rows, previous = [], [], None
    for pupil_id, _, surname in pupils:
        if previous and rng.random() < 0.125:
            parents = previous
        else:
            parents = [f"B{pupil_id}M", f"B{pupil_id}F"]
            for ref, title, forename in ((parents[0], "Ms", "Sam"), (parents[1], "Mr", "Chris")):
                contact_rows.append({"contact_ref": ref, "title": title, "forename": forename, "surname": surname,
                                     "address_line1": f"{pupil_id % 200 + 1} Mill Road", "town": "Thetford",
                                     "postcode": "IP24 1AA"})
        link_rows.append((pupil_id, parents))
        previous = parents
    with engine.begin() as conn:
        for lo in range(0, len(contact_rows), CHUNK):
            conn.execute(insert(Contact), contact_rows[lo:lo + CHUNK])
        ids = dict(conn.execute(select(Contact.contact_ref, Contact.id)).all())
        links = [{"pupil_id": pupil_id, "contact_id": ids[ref], "relationship": rel, "parental_responsibility": True,
                  "lives_with_pupil": rel == "mother"}
                 for pupil_id, parents in link_rows for ref, rel in zip(parents, ("mother", "father"))]
        for lo in range(0, len(links), CHUNK):
            conn.execute(insert(PupilContact), links[lo:lo + CHUNK])


def _cases(engine, pupils, officers, n_cases: int, rng: random.Random) -> list[str]:
    """Cases over the pathway's states, each with its chain of events and an open deadline."""
    pathway = workflows.load()
    states, weights = zip(*STATE_MIX.items())
    chosen = rng.sample(pupils, n_cases)
    with engine.begin() as conn:
        school_of = dict(conn.execute(select(Pupil.id, Pupil.school_id)).all())
    case_rows, plans = [], []
    for n, (pupil_id, _, _) in enumerate(chosen, start=1):
        state = rng.choices(states, weights)[0]
        opened = date(2025, 9, 8) + timedelta(days=rng.randrange(250))
        officer_id, email = rng.choice(officers)
        ref = f"CW-2025-{n:05d}"
        case_rows.append({"ref": ref, "pupil_id": pupil_id, "school_id": school_of[pupil_id], "state": state,
                          "pathway": pathway.key, "officer_id": officer_id, "version": 1 + len(ROUTE_TO[state]),
                          "opened_on": opened, "closed_on": opened + timedelta(days=30) if state == "closed" else None,
                          "outcome": "attendance_improved" if state == "closed" else "",
                          "limitation_date": opened + timedelta(days=150) if state == "prosecution" else None})
        plans.append((ref, opened, officer_id, email, state))
    with engine.begin() as conn:
        for lo in range(0, len(case_rows), CHUNK):
            conn.execute(insert(Case), case_rows[lo:lo + CHUNK])
        ids = dict(conn.execute(select(Case.ref, Case.id)).all())
        events, deadlines = [], []
        recorded = datetime(2026, 7, 1, 9, 0)
        for ref, opened, officer_id, email, state in plans:
            prev, current, on = GENESIS, None, opened
            for seq, trigger in enumerate(["raise_concern"] + ROUTE_TO[state], start=1):
                target = state if seq == 1 + len(ROUTE_TO[state]) else _next_state(trigger)
                body = json.dumps({"note": "seeded for the benchmark"}, sort_keys=True)
                digest = event_hash(prev, ref, seq, on, recorded, email, trigger, current, target, body)
                events.append({"case_id": ids[ref], "seq": seq, "on": on, "recorded_at": recorded.replace(tzinfo=timezone.utc),
                               "actor_id": officer_id, "actor_email": email, "trigger": trigger,
                               "from_state": current, "to_state": target, "data": body, "prev_hash": prev,
                               "hash": digest})
                prev, current, on = digest, target, on + timedelta(days=7)
            if state != "closed":
                deadlines.append({"case_id": ids[ref], "kind": "review_due", "due_on": on + timedelta(days=21)})
        for lo in range(0, len(events), CHUNK):
            conn.execute(insert(CaseEvent), events[lo:lo + CHUNK])
        conn.execute(insert(Deadline), deadlines)
    return [ref for ref, *_ in plans]


def _next_state(trigger: str) -> str:
    return {"raise_concern": "concern", "start_consultation": "consultation", "agree_action_plan": "action_plan",
            "offer_parenting_contract": "parenting_contract", "issue_notice_to_improve": "notice_to_improve",
            "issue_penalty_notice": "penalty_notice", "refer_for_prosecution": "prosecution",
            "close": "closed"}[trigger]


# ---------------------------------------------------------------- the server and its clients

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, workers: int, port: int, instance: str) -> subprocess.Popen:
    env = {**os.environ, "CASEWORK_DATABASE_URL": url, "CASEWORK_NOW": NOW, "CASEWORK_INSECURE_COOKIES": "1",
           "CASEWORK_INSTANCE": instance, "CASEWORK_SECRET_KEY": "benchmark-only-secret"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", "web:create_app()"], env=env, start_new_session=True, cwd=ROOT)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def request(port: int, method: str, path: str, cookie: str = "", body: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def sign_in(port: int, email: str) -> str:
    """A session cookie for the user, through the sign-in form (CSRF token and all)."""
    response, page = request(port, "GET", "/sign-in")
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token})
    response, _ = request(port, "POST", "/sign-in", cookie, body)
    if response.status != 302:
        raise SystemExit(f"sign-in as {email} failed: {response.status}")
    return response.getheader("Set-Cookie").split(";", 1)[0]


def pages(world: dict, rng: random.Random, available: set[str]) -> list[tuple[str, str, str]]:
    """(page kind, user, path) in the mix the clients request."""
    mix = []
    for _ in range(400):
        officer = rng.choice(world["officers"])
        mix.append(("caseload", officer, f"/cases?page={rng.randint(1, 3)}"))
        mix.append(("case", officer, f"/cases/{rng.choice(world['refs'])}"))
        if "search" in available:
            mix.append(("pupil search", officer, "/pupils?" + urllib.parse.urlencode({"q": rng.choice(world["terms"])})))
        if "dashboard" in available:
            mix.append(("dashboard", "manager@bench.example", rng.choice(["/dashboard", "/dashboard/absence"])))
    rng.shuffle(mix)
    return mix


def client(port: int, mix, cookies: dict, seconds: float, threads: int, out) -> None:
    """One client process: `threads` threads requesting the mix round-robin until the time is up."""
    results, lock, stop = [], threading.Lock(), time.perf_counter() + seconds

    def run(offset: int):
        local, i = [], offset
        while time.perf_counter() < stop:
            kind, user, path = mix[i % len(mix)]
            i += threads
            began = time.perf_counter()
            try:
                response, _ = request(port, "GET", path, cookies[user])
                ok = response.status == 200
            except OSError:
                ok = False
            local.append((kind, time.perf_counter() - began, ok))
        with lock:
            results.extend(local)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(results)


def session_cpu(sid: int | None = None, command: str | None = None) -> float:
    """CPU seconds (user + system) used so far by the processes of session `sid` (the server and its workers), or
    by the processes running `command` (postgres: the database server, when the benchmark runs on PostgreSQL)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        fields = fields.split()
        if (sid is not None and int(fields[3]) == sid) or name == command:  # field 6 of stat: the session id
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_speed() -> float:
    """Milliseconds a fixed loop of plain Python takes now. This machine's speed drifts by a third within minutes
    (a shared host): printed before and after the load so that runs can be compared."""
    began, total = time.perf_counter(), 0
    for i in range(3_000_000):
        total += i * i
    return (time.perf_counter() - began) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(results, seconds: float) -> None:
    kinds = sorted({kind for kind, _, _ in results})
    print(f"{'page':<14}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'errors':>8}")
    for kind in kinds + ["all"]:
        rows = [r for r in results if kind in ("all", r[0])]
        times = [t * 1000 for _, t, _ in rows]
        print(f"{kind:<14}{len(rows):>9}{len(rows) / seconds:>8.1f}{statistics.median(times):>8.1f}"
              f"{percentile(times, 95):>8.1f}{percentile(times, 99):>8.1f}{sum(not ok for *_, ok in rows):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=150_000)
    parser.add_argument("--cases", type=int, default=30_000)
    parser.add_argument("--officers", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warm", type=float, default=5, help="seconds of load before measuring (fills caches)")
    parser.add_argument("--db", help="SQLAlchemy URL of an empty database (default: a temporary SQLite file)")
    parser.add_argument("--keep", help="a folder to keep the SQLite database in (reused when it already has data)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = args.db or f"sqlite:///{folder / 'web-bench.db'}"
        world_file = folder / "web-bench.json"
        upgrade(url)  # a kept database is brought up to the current schema too
        if args.keep and world_file.exists():
            world = json.loads(world_file.read_text())
            print(f"reusing the seeded database in {folder}")
        else:
            began = time.perf_counter()
            world = seed(url, args.pupils, args.cases, args.officers)
            if url.startswith("postgresql"):  # what autovacuum does after a bulk load (it is off on this server)
                with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("ANALYZE")
            world_file.write_text(json.dumps(world))
            print(f"seeded {args.pupils} pupils and {args.cases} cases in {time.perf_counter() - began:.0f} s "
                  f"({url.split(':')[0]})")
        get_engine(url).dispose()
        port = free_port()
        server = serve(url, args.workers, port, str(folder / "instance"))
        try:
            available = set()
            cookies = {email: sign_in(port, email) for email in world["officers"] + ["manager@bench.example"]}
            if request(port, "GET", "/pupils?q=x", cookies[world["officers"][0]])[0].status == 200:
                available.add("search")
            if request(port, "GET", "/dashboard", cookies["manager@bench.example"])[0].status == 200:
                available.add("dashboard")
            mix = pages(world, random.Random(7), available)
            print(f"gunicorn: {args.workers} workers; {args.clients} clients in 2 processes; pages: caseload, case"
                  + "".join(f", {a}" for a in sorted(available)) + f"; load average {os.getloadavg()[0]:.2f} "
                  f"on {os.cpu_count()} CPUs")
            results, cpu, speed = [], {}, [machine_speed()]
            for seconds, keep in ((args.warm, False), (args.seconds, True)):
                server_before, clients_before = session_cpu(server.pid), os.times()
                database_before = session_cpu(command="postgres")
                queue = multiprocessing.Queue()
                procs = [multiprocessing.Process(target=client, args=(
                    port, mix[n::2], cookies, seconds, args.clients // 2, queue)) for n in range(2)]
                for p in procs:
                    p.start()
                batch = [r for _ in procs for r in queue.get()]
                for p in procs:
                    p.join()
                if keep:
                    results, after = batch, os.times()
                    cpu = {"server": session_cpu(server.pid) - server_before,
                           "clients": (after.children_user + after.children_system
                                       - clients_before.children_user - clients_before.children_system)}
                    if url.startswith("postgresql"):
                        cpu["postgres"] = session_cpu(command="postgres") - database_before
            speed.append(machine_speed())
            report(results, args.seconds)
            print("CPU per request: " + ", ".join(f"{who} {seconds * 1000 / len(results):.1f} ms"
                                                   for who, seconds in cpu.items())
                  + f" ({sum(cpu.values()) / args.seconds:.2f} of {os.cpu_count()} CPUs busy)")
            print(f"machine speed: a fixed loop took {speed[0]:.0f} ms before the load and {speed[1]:.0f} ms after "
                  "(lower is faster)")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


if __name__ == "__main__":
    main()
