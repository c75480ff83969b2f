"""Leases on sweep chunks, so that several sweeps on one store share the work (issue 10).

A sweep claims a chunk before computing it: one row in the store's `leases` table naming the owner
(host, pid and a random token) and an expiry time. Another sweep skips a chunk leased to a live
owner and comes back to it later; by then the rows are there (nothing to do) or the lease has
expired (the owner died: the chunk is claimed again). A background thread renews the owner's leases
while it works, so a long chunk never expires under a live process. On the same host a lease whose
pid is gone is stale at once (a `kill -9`ed sweep's chunks are taken back without waiting for the
expiry); across hosts the expiry is what frees them. Releasing a lease deletes its row.

The claim reads the lease and the chunk's rows in one `BEGIN IMMEDIATE` transaction, so two
processes never both claim a chunk, and a chunk finished by another process is never recomputed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

#: Seconds a lease lasts without renewal; the owner renews every third of it.
DEFAULT_TTL = 60.0


class Claim(Enum):
    """What `Leases.claim` found."""

    CLAIMED = "claimed"  # the chunk is ours now: compute it, then `release`
    DONE = "done"  # every row of the chunk is already stored: nothing to compute
    BUSY = "busy"  # another live process holds it: come back later


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class Leases:
    """One process's view of the `leases` table of a store.

    Args:
        path: the study's .sqlite file (its `leases` table exists: open it with `Store.open` first).
        eval_config_hash: the study's eval-config hash (a chunk is done when its rows under it exist).
        ttl: seconds a lease lasts without renewal.
        clock: wall-clock seconds (injectable: tests move time instead of waiting).
        alive: whether a pid on this host is alive (injectable).
    """

    def __init__(self, path: str | Path, eval_config_hash: str, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time, alive: Callable[[int], bool] = pid_alive) -> None:
        self.path = Path(path)
        self.eval_config_hash = eval_config_hash
        self.ttl = ttl
        self.clock = clock
        self.alive = alive
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._con = self._connect()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)

    def _stale(self, owner: str, pid: int, host: str, expires: float) -> bool:
        if owner == self.owner:
            return True  # our own (a retried claim)
        if expires <= self.clock():
            return True
        # Same host: a dead pid, or our own pid under another token (the pid was reused), is stale now.
        return host == self.host and (pid == self.pid or not self.alive(pid))

    def claim(self, chunk: str, mixer: str, condition: str, target: str, members: Sequence[str]) -> Claim:
        """Claim `chunk` (the rows of `target` × `members` keys under `mixer`, `condition`).

        Args:
            chunk: a chunk id every cooperating process derives the same way.
            mixer, condition, target: the labels of the chunk's rows.
            members: the `members` keys (sorted names joined by "+") of the rows still to compute.
        """
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT owner, pid, host, expires FROM leases WHERE chunk = ?", (chunk,)).fetchone()
            if row is not None and not self._stale(*row):
                con.execute("ROLLBACK")
                return Claim.BUSY
            marks = ",".join("?" * len(members))
            have = con.execute(
                f"SELECT COUNT(*) FROM evaluations WHERE eval_config_hash = ? AND mixer = ? AND condition = ? "
                f"AND target = ? AND members IN ({marks})",
                (self.eval_config_hash, mixer, condition, target, *members),
            ).fetchone()[0]
            if have >= len(set(members)):
                con.execute("DELETE FROM leases WHERE chunk = ?", (chunk,))
                con.execute("COMMIT")
                return Claim.DONE
            con.execute("INSERT OR REPLACE INTO leases(chunk, owner, pid, host, expires) VALUES (?, ?, ?, ?, ?)",
                        (chunk, self.owner, self.pid, self.host, self.clock() + self.ttl))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return Claim.CLAIMED

    def release(self, chunk: str) -> None:
        """Drop our lease on `chunk` (after its rows are stored)."""
        self._con.execute("DELETE FROM leases WHERE chunk = ? AND owner = ?", (chunk, self.owner))

    def renew(self, con: sqlite3.Connection | None = None) -> None:
        """Push the expiry of every lease we hold `ttl` seconds ahead."""
        (con or self._con).execute("UPDATE leases SET expires = ? WHERE owner = ?",
                                   (self.clock() + self.ttl, self.owner))

    def start_heartbeat(self) -> None:
        """Renew our leases every ttl/3 seconds from a daemon thread (it dies with the process)."""
        if self._thread is not None:
            return

        def beat() -> None:
            con = self._connect()
            try:
                while not self._stop.wait(self.ttl / 3):
                    try:
                        self.renew(con)
                    except sqlite3.Error:  # a busy store: the next beat tries again
                        continue
            finally:
                con.close()

        self._thread = threading.Thread(target=beat, name="adaptermix-lease-heartbeat", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the heartbeat, release every lease we hold, close (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        # After a failure of the connection the leases cannot be deleted: they expire on their own. So do not
        # wait a minute for a busy store here (a Ctrl-C must end the process promptly): one second at most.
        with contextlib.suppress(sqlite3.Error):
            self._con.execute("PRAGMA busy_timeout = 1000")
            self._con.execute("DELETE FROM leases WHERE owner = ?", (self.owner,))
        self._con.close()
