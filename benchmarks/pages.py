"""Benchmark: what each page of the web benchmark costs on its own, in this process (no HTTP server, no other load).

    python benchmarks/pages.py --keep DIR [--repeat 12]

Reads the county that `benchmarks/web.py --keep DIR` seeded (run that first), signs in through the sign-in form with
Flask's test client and requests each page `--repeat` times (the first two are not counted: they fill caches), as
an officer (caseload, case, pupil search, worklist) and as the manager (dashboard, worklist). Prints the median and
the slowest time, the median CPU time of this process (steadier than the clock on a shared machine) and the
median number of SQL statements per page. Where web.py measures the server under 16
clients, this shows where a single request's time goes. Prints figures only; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "benchmark passphrase 2026"  # as benchmarks/web.py seeds it
NOW = "2026-07-15T10:00:00+00:00"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", required=True, help="the folder benchmarks/web.py --keep seeded")
    parser.add_argument("--repeat", type=int, default=12)
    args = parser.parse_args()
    folder = Path(args.keep)
    world = json.loads((folder / "web-bench.json").read_text())
    os.environ.update(CASEWORK_DATABASE_URL=f"sqlite:///{folder / 'web-bench.db'}", CASEWORK_NOW=NOW,
                      CASEWORK_INSECURE_COOKIES="1", CASEWORK_SECRET_KEY="benchmark-only-secret",
                      CASEWORK_INSTANCE=str(folder / "instance"))

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from casework.db import upgrade
    from web import create_app

    upgrade(os.environ["CASEWORK_DATABASE_URL"])
    statements = [0]

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*_args, **_kwargs):
        statements[0] += 1

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False

    def signed_in(email: str):
        client = app.test_client()
        answer = client.post("/sign-in", data={"email": email, "password": PASSWORD})
        if answer.status_code != 302:
            raise SystemExit(f"sign-in as {email} failed: {answer.status_code}")
        return client

    rng = random.Random(7)
    officer, manager = signed_in(world["officers"][0]), signed_in("manager@bench.example")
    pages = {
        "caseload": (officer, lambda: f"/cases?page={rng.randint(1, 3)}"),
        "case": (officer, lambda: f"/cases/{rng.choice(world['refs'])}"),
        "pupil search": (officer, lambda: "/pupils?q=" + rng.choice(world["terms"])),
        "dashboard": (manager, lambda: rng.choice(["/dashboard", "/dashboard/absence"])),
        "worklist (officer)": (officer, lambda: "/worklist"),
        "worklist (manager)": (manager, lambda: "/worklist"),
    }
    print(f"{'page':<20}{'median ms':>10}{'max ms':>9}{'CPU ms':>8}{'statements':>11}")
    for name, (client, path) in pages.items():
        times, cpu, counts = [], [], []
        for n in range(args.repeat):
            statements[0] = 0
            began, began_cpu = time.perf_counter(), time.process_time()
            answer = client.get(path())
            elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            if answer.status_code != 200:
                raise SystemExit(f"{name}: {answer.status_code}")
            if n >= 2:
                times.append(elapsed * 1000)
                cpu.append(elapsed_cpu * 1000)
                counts.append(statements[0])
        print(f"{name:<20}{statistics.median(times):>10.1f}{max(times):>9.1f}{statistics.median(cpu):>8.1f}"
              f"{statistics.median(counts):>11.0f}")


if __name__ == "__main__":
    main()
