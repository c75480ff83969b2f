"""Crash safety of the store: SIGKILL a writer mid-loop, several times, then resume (issue 4, Reliability)."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

WRITER = '''
import hashlib, itertools, sys
from adaptermix.store import AdapterRef, EvalRow, Store, StudyMeta

DOMAINS = [f"d{i:02d}" for i in range(12)]
META = StudyMeta(adapters=tuple(AdapterRef(d, hashlib.sha256(d.encode()).hexdigest(), d) for d in DOMAINS),
                 eval_config={"split": "test"}, base_fingerprint="tiny", method="pfeiffer")


def accuracy(target, members):
    return int(hashlib.sha256(f"{target}|{members}".encode()).hexdigest()[:8], 16) / 2**32


def rows_for(target):
    others = [d for d in DOMAINS if d != target]
    out = []
    for r in range(len(others) + 1):
        for extra in itertools.combinations(others, r):
            members = tuple(sorted((target, *extra)))
            out.append(EvalRow(target, members, "clean", accuracy(target, "+".join(members)), 0.5, 10,
                               None, 0.0, None, 0.01, 10))
    return out


if __name__ == "__main__":
    store = Store.open(sys.argv[1], META)
    done = store.done_keys()
    for target in DOMAINS:
        rows = [r for r in rows_for(target) if r.key not in done]
        if not rows:
            continue
        print("begin", target, flush=True)
        store.upsert(rows)  # one transaction of 2048 rows: the kill often lands inside it
        print("done", target, flush=True)
    print("finished", flush=True)
'''
PER_TARGET = 2**11


def _check(path: Path, begun: set[str], done: set[str], committed_before: set[str]) -> set[str]:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total, distinct = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT target || '|' || members || '|' || condition) FROM evaluations").fetchone()
        assert total == distinct, "duplicate rows"
        per_target = dict(con.execute("SELECT target, COUNT(*) FROM evaluations GROUP BY target"))
    finally:
        con.close()
    assert all(n == PER_TARGET for n in per_target.values()), f"partial transaction visible: {per_target}"
    committed = set(per_target)
    # Everything reported done is there; nothing beyond what was begun (or committed by an earlier run).
    assert done | committed_before <= committed <= begun | committed_before
    return committed


def test_sigkill_mid_run_keeps_committed_rows_and_resumes(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "study.sqlite"
    rng = random.Random(4)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    committed: set[str] = set()
    kills = 0
    while kills < 3:
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        begun, done = set(), set()
        wait_for = rng.randint(1, 2)
        for line in proc.stdout:
            word, *arg = line.split()
            (begun if word == "begin" else done).update(arg)
            # Wait for the next "begin" after enough "done"s: an upsert of 2048 rows takes ~0.1 s here,
            # so a kill 0–0.12 s later lands inside that transaction most of the time, or just after it.
            if word == "finished" or (word == "begin" and len(done) >= wait_for):
                break
        time.sleep(rng.uniform(0.0, 0.12))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        for line in rest.splitlines():
            word, *arg = line.split()
            (begun if word == "begin" else done).update(arg)
        assert proc.returncode == -signal.SIGKILL
        committed = _check(path, begun, done, committed)
        kills += 1
        assert len(committed) < 12, "the writer finished before it could be killed: make the work longer"
    # Resume to the end and compare with what an uninterrupted run writes.
    finished = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, env=env,
                              timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "finished" in finished.stdout
    # A resumed run begins only the targets that were not committed before: nothing is recomputed.
    resumed = {line.split()[1] for line in finished.stdout.splitlines() if line.startswith("begin")}
    assert resumed.isdisjoint(committed)
    spec = importlib.util.spec_from_file_location("writer", script)
    assert spec and spec.loader
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    con = sqlite3.connect(path)
    got = {(t, m): a for t, m, a in con.execute("SELECT target, members, accuracy FROM evaluations")}
    con.close()
    expected = {(r.target, r.members_key): r.accuracy for d in writer.DOMAINS for r in writer.rows_for(d)}
    assert got == expected


def test_reader_sees_only_committed_rows_while_writing(tmp_path: Path) -> None:
    from adaptermix.store import Store
    from adaptermix.store.synthetic import synthetic_study

    meta, rows, _ = synthetic_study()
    path, n = tmp_path / "s.sqlite", 5
    with Store.open(path, meta) as writer:
        writer.upsert(rows[:n])
        with Store.read(path) as reader:  # WAL: a reader works beside an open writer
            assert reader.count() == n
            writer.upsert(rows[n:])
            assert reader.count() == len(rows)
