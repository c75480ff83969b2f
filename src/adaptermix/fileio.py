"""Atomic file writes shared by every stage (caches, exports, reports), and an up-front check of outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from adaptermix.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder and `os.replace`.

    Readers therefore see either the old file or the complete new one, even when two processes
    (e.g. parallel sweep workers) fill a cache at the same time; a crash leaves no torn file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; results are meant to be shared like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | Path, kind: Literal["file", "folder"], what: str = "--out") -> Path:
    """Refuse, before any work is done, an output path that cannot be written.

    Commands that write several files (an export and its aggregates, a report folder) call this
    first, so a bad `--out` fails in one line instead of after minutes of work or half-way through
    the files. The test is a real one: a temporary file is created (and removed) in the folder that
    would receive the output, which also catches read-only mounts and root-proof places such as
    /proc, where permission bits alone say "writable".

    Args:
        path: the file or folder to be written (it need not exist; missing parents are fine).
        kind: "file" (must not be an existing folder) or "folder" (must not be an existing file).
        what: how the user gave the path, for the message (e.g. "--out").

    Returns:
        `path` as a `Path`.

    Raises:
        ConfigError: the path is the wrong kind of thing, sits under a regular file, or its folder
            cannot be written.
    """
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{what} {path} is an existing folder, not a file: give a file path")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is an existing file, not a folder: give a folder path")
    # The nearest existing ancestor is where the output (or its first missing folder) would be created.
    probe = path if kind == "folder" and path.is_dir() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{what} {path} is under {probe}, which is a file, not a folder: choose another path")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".adaptermix-write-test.", suffix=".tmp")
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"{what} {path} cannot be written ({reason} in {probe}): choose another path") from exc
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)
    return path
