"""The command line as tests outside the project drive it: real processes, a database of their own, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from stdnum.gb import upn as upn_check

from .conftest import fresh_database

PG = os.environ.get("CASEWORK_TEST_DATABASE_URL", "")
TODAY = "2026-11-23T09:00:00"


def make_upn(n: int) -> str:
    body = f"926212025{n:03d}"
    return upn_check.calc_check_digit("X" + body) + body


@pytest.fixture()
def cli(tmp_path):
    """Run `casework` in a process against a fresh database of its own."""
    env = {**os.environ, "CASEWORK_INSTANCE": str(tmp_path / "instance"), "CASEWORK_STORAGE": str(tmp_path / "files"),
           "CASEWORK_NOW": TODAY}

    def run(*args, stdin: str = "", check: int | None = 0):
        proc = subprocess.run([sys.executable, "-m", "casework", *args], input=stdin, capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
        return proc

    with fresh_database(tmp_path) as url:
        env["CASEWORK_DATABASE_URL"] = url
        run.env, run.dir = env, tmp_path
        run("init")
        yield run


def write(path: Path, header: str, rows: list[str]) -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


@pytest.fixture()
def county(cli):
    """Two schools, two pupils (one persistently absent), parents and users, imported through the CLI."""
    d = cli.dir
    schools = write(d / "schools.csv", "urn,name,la_code,estab,phase,independent",
                    ["121000,Queensway Primary,926,2120,primary,no", "121007,Thetford Academy,926,4120,secondary,no"])
    pupils = write(d / "pupils.csv", "upn,school_urn,surname,forename,date_of_birth,year_group,sen,fsm,eal,"
                   "social_worker,looked_after,young_carer,address_line1,address_line2,town,postcode",
                   [f"{make_upn(1)},121000,Tester,Ava,2016-03-01,5,none,yes,no,no,no,no,1 Mill Road,,Thetford,IP24 1AA",
                    f"{make_upn(2)},121000,Tester,Ben,2017-05-02,4,none,yes,no,no,no,no,1 Mill Road,,Thetford,IP24 1AA"])
    contacts = write(d / "contacts.csv", "upn,contact_ref,title,forename,surname,relationship,parental_responsibility,"
                     "lives_with_pupil,address_line1,address_line2,town,postcode,email,phone,address_confidential",
                     [f"{make_upn(n)},P1,Ms,Sam,Tester,mother,yes,yes,1 Mill Road,,Thetford,IP24 1AA,,,no" for n in (1, 2)])
    marks = []
    day = date(2026, 9, 7)
    while day <= date(2026, 11, 20):
        if day.weekday() < 5:
            for n in (1, 2):
                absent = n == 1 and date(2026, 9, 14) <= day <= date(2026, 9, 21)
                marks.append(f"{make_upn(n)},121000,{day},AM,{'O' if absent else '/'}")
                marks.append(f"{make_upn(n)},121000,{day},PM,{'O' if absent else chr(92)}")
        day += timedelta(days=1)
    marks_csv = write(d / "marks.csv", "upn,school_urn,date,session,code", marks)
    cli("import", schools, pupils, contacts, marks_csv)
    cli("users", "add", "aeo@example.org", "--role", "aeo", "--name", "Alex Officer", stdin="a long password\n")
    cli("users", "add", "head@queensway.example", "--role", "school", "--school", "121000",
        stdin="a long password\n")
    cli("users", "add", "other@school.example", "--role", "school", "--school", "121007", stdin="a long password\n")
    return cli


def test_triggers_json_follows_the_interface(county):
    rows = json.loads(county("triggers", "--as-of", "2026-11-20", "--json").stdout)
    assert [r["upn"] for r in rows] == sorted([make_upn(1), make_upn(2)])
    ava = next(r for r in rows if r["upn"] == make_upn(1))
    assert ava["unauthorised_absence"] == 12 and ava["pn_threshold"]["met"] is True
    assert ava["pn_threshold"]["sessions"][0] == ["2026-09-14", "AM", "O"]
    assert set(ava) == {"upn", "school_urn", "possible_sessions", "present_sessions", "authorised_absence",
                        "unauthorised_absence", "absence_rate", "persistent_absence", "severe_absence",
                        "pn_threshold", "consecutive_unauthorised_days", "cme_alert"}


def test_explain_lists_the_sessions_behind_each_figure(county):
    out = county("explain", make_upn(1), "--as-of", "2026-11-20").stdout.splitlines()
    assert "PN threshold met: 12 unauthorised session(s)" in out[2]
    assert out[3].split() == ["2026-09-14", "AM", "O"]
    assert county("explain", make_upn(1), "--as", "other@school.example", check=1).stderr.startswith("error: permission")


def test_a_case_through_the_command_line(county):
    ref = county("case", "open", make_upn(1), "--as", "head@queensway.example", "--on", "2026-10-01").stdout.strip()
    assert ref.startswith("CW-2026-")
    assert county("case", "fire", ref, "start_consultation", "--as", "aeo@example.org", "--on", "2026-10-01"
                  ).stdout.strip() == "consultation"
    refused = county("case", "fire", ref, "agree_action_plan", "--as", "aeo@example.org", check=3)
    assert refused.stderr.splitlines() == ["blocked: actions is required", "blocked: review_on is required"]
    county("case", "fire", ref, "agree_action_plan", "--as", "aeo@example.org", "--on", "2026-10-02",
           "--set", "actions=Morning check-in", "--set", "review_on=2026-10-30")
    shown = json.loads(county("case", "show", ref, "--json").stdout)
    assert shown["state"] == "action_plan" and shown["officer"] == "aeo@example.org"
    assert {l["kind"] for l in shown["letters"]} == {"attendance_concern", "action_plan"}
    out = county.dir / "letters"
    written = county("case", "letters", ref, "--out", str(out)).stdout.split()
    assert len(written) == 2 and all(Path(p).read_bytes().startswith(b"%PDF") for p in written)
    assert county("case", "verify", ref).stdout.strip().endswith("chronology intact")


def test_exit_codes_for_bad_input_refusals_and_scope(county):
    bad = county("case", "fire", "CW-2026-99999", "close", "--as", "aeo@example.org", check=2)
    assert bad.stderr.startswith("error: case CW-2026-99999")
    county("case", "open", make_upn(1), "--as", "other@school.example", check=3)
    ref = county("case", "open", make_upn(1), "--as", "aeo@example.org").stdout.strip()
    assert county("case", "fire", ref, "no_such_trigger", "--as", "aeo@example.org", check=2).stderr.startswith("error:")
    wrong_date = county("case", "fire", ref, "close", "--as", "aeo@example.org", "--set", "outcome=other",
                        "--set", "note=x", "--on", "2026-13-01", check=2)
    assert "not a date" in wrong_date.stderr
    county("case", "fire", ref, "record_payment", "--as", "aeo@example.org", check=3)
    county("users", "add", "weak@example.org", "--role", "aeo", stdin="short\n", check=2)
    assert "may not import" in county("import", str(county.dir / "schools.csv"), "--as", "head@queensway.example",
                                      check=1).stderr
    assert "error: permission denied" in county("case", "show", ref, "--as", "other@school.example", "--json",
                                                 check=1).stderr


def test_import_errors_name_file_and_line_and_write_nothing(county):
    bad = write(county.dir / "bad.csv", "upn,school_urn,date,session,code",
                [f"{make_upn(1)},121000,2026-11-20,AM,H", f"{make_upn(1)},999999,2026-11-20,AM,/"])
    proc = county("import", bad, check=2)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"error: {bad}:2: ") and "H" in lines[0]
    assert lines[1].startswith(f"error: {bad}:3: ") and "999999" in lines[1]
    rows = json.loads(county("triggers", "--as-of", "2026-11-20", "--json").stdout)
    assert next(r for r in rows if r["upn"] == make_upn(1))["possible_sessions"] > 0


def test_import_runs_the_arrival_checks_and_fills_the_worklist(county):
    day = write(county.dir / "day.csv", "upn,school_urn,date,session,code", [f"{make_upn(2)},121000,2026-11-23,AM,O"])
    assert "alerts raised" not in county("import", day).stdout, "one unauthorised session: nothing new to raise"
    late = write(county.dir / "late.csv", "upn,school_urn,date,session,code",
                 [f"{make_upn(2)},121000,2026-11-{d},{s},O" for d in (16, 17, 18, 19, 20) for s in ("AM", "PM")][:9])
    out = county("import", late).stdout
    assert "marks: 0 added, 9 changed, 0 unchanged" in out
    assert f"{make_upn(2)} now meets the penalty-notice threshold (as of 2026-11-23)" in out
    work = json.loads(county("worklist", "--as", "aeo@example.org", "--json").stdout)
    assert any(a["kind"] == "pn_threshold" and make_upn(2) in a["message"] for a in work["alerts"])
    assert json.loads(county("worklist", "--as", "other@school.example", "--json").stdout)["alerts"] == []
    assert "alerts raised" not in county("import", late).stdout, "the same post again changes nothing"


def test_tick_and_pathway_diagram(county):
    assert "0 deadline(s) raised" in county("tick", "--on", "2026-11-23").stdout
    diagram = county("pathway", "diagram").stdout
    assert "stateDiagram-v2" in diagram and "notice_to_improve --> penalty_notice: issue_penalty_notice" in diagram


def test_two_processes_raising_a_concern_for_one_pupil_open_one_case(county):
    """The pupil's row is locked (PostgreSQL) or the writers serialised (SQLite): the second sees the first's case."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: county("case", "open", make_upn(2), "--as", "aeo@example.org", check=None),
                             range(2)))
    assert sorted(r.returncode for r in runs) == [0, 3], [(r.returncode, r.stderr) for r in runs]
    refused = next(r for r in runs if r.returncode == 3)
    assert "open case" in refused.stdout + refused.stderr


@pytest.mark.skipif(not PG.startswith("postgresql"), reason="row locking is tested on PostgreSQL")
def test_two_processes_firing_the_same_trigger_exactly_one_succeeds(county):
    ref = county("case", "open", make_upn(1), "--as", "aeo@example.org").stdout.strip()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: county("case", "fire", ref, "start_consultation", "--as", "aeo@example.org",
                                              check=None), range(2)))
    codes = sorted(r.returncode for r in runs)
    assert codes == [0, 3], [(r.returncode, r.stderr) for r in runs]
    shown = json.loads(county("case", "show", ref, "--json").stdout)
    assert [e["trigger"] for e in shown["events"]] == ["raise_concern", "start_consultation"]
