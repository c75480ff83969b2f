"""Loading the paper's 13 Hugging Face datasets (PAPER.md §2, Table 2) from Parquet files.

Files come from `huggingface_hub.snapshot_download` (which honours `HF_HUB_OFFLINE` and keeps its
own cache), or, when `$ADAPTERMIX_HUB_ROOT` / `hub_root` is set, from a local folder laid out as
`<root>/<repo_id>/<same relative paths as on the hub>` (tests, air-gapped mirrors). Patterns are
globs, so shard counts and hashed file names on the hub do not matter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from adaptermix.data.splits import DEFAULT_SEED, Pool, assemble
from adaptermix.data.types import DomainData, DomainSpec
from adaptermix.errors import DataError

HUB_ROOT_ENV = "ADAPTERMIX_HUB_ROOT"


@dataclass(frozen=True, kw_only=True)
class HubDomain(DomainSpec):
    """A domain read from Parquet files of a Hugging Face dataset repository.

    Attributes:
        repo_id: dataset repository, e.g. "nyu-mll/glue".
        revision: branch / ref; "refs/convert/parquet" for datasets that only have a script.
        files: source split ("all", "train", "validation", "test") -> glob patterns in the repo;
            the key set picks the split policy (`splits.assemble`).
        text_field: column of the (first) text.
        pair_field: column of the second text, for pair tasks.
        label_field: column of the label (class index, or label string for string columns).
        hub_root: local mirror folder overriding `$ADAPTERMIX_HUB_ROOT`.
        seed: split seed.
    """

    repo_id: str
    files: Mapping[str, tuple[str, ...]]
    text_field: str
    pair_field: str | None = None
    label_field: str = "label"
    revision: str | None = None
    hub_root: Path | None = None
    seed: int = DEFAULT_SEED
    kind: str = "hub"
    stands_in_for: str | None = field(default=None)

    @property
    def patterns(self) -> list[str]:
        """All glob patterns, for `allow_patterns`."""
        return [p for globs in self.files.values() for p in globs]

    def _root(self) -> Path | None:
        root = self.hub_root or os.environ.get(HUB_ROOT_ENV)
        return Path(root) / self.repo_id if root else None

    def _match(self, folder: Path) -> dict[str, list[Path]] | None:
        """Files per source split under `folder`; None if any pattern matches nothing."""
        found: dict[str, list[Path]] = {}
        for split, globs in self.files.items():
            paths = sorted({p for g in globs for p in folder.glob(g)})
            if not paths:
                return None
            found[split] = paths
        return found

    def _snapshot(self, local_only: bool) -> Path:
        from huggingface_hub import snapshot_download  # imported lazily: slow import, hub-only

        return Path(
            snapshot_download(
                repo_id=self.repo_id,
                repo_type="dataset",
                revision=self.revision,
                allow_patterns=self.patterns,
                local_files_only=local_only,
            )
        )

    def available(self) -> tuple[bool, str]:
        """True if the local mirror or the HF cache already holds every file; never downloads."""
        root = self._root()
        if root is not None:
            ok = self._match(root) is not None
            return ok, f"local mirror {root}" if ok else f"files missing under {root}"
        try:
            folder = self._snapshot(local_only=True)
        except Exception:  # noqa: BLE001 - any failure here just means "not in the cache"
            return False, "needs the Hugging Face hub (not in the local HF cache)"
        if self._match(folder) is None:
            return False, "needs the Hugging Face hub (not in the local HF cache)"
        return True, "cached"

    def locate(self) -> dict[str, list[Path]]:
        """The local Parquet files per source split, downloading via the hub if needed.

        Raises:
            DataError: if the mirror lacks files or the hub cannot be reached.
        """
        root = self._root()
        if root is not None:
            found = self._match(root)
            if found is None:
                raise DataError(f"{root} lacks files matching {self.patterns}; fix ${HUB_ROOT_ENV} or add them")
            return found
        try:
            folder = self._snapshot(local_only=False)
        except Exception as exc:  # noqa: BLE001 - hub errors vary (offline, auth, HTTP); report one line
            raise DataError(
                f"domain {self.name!r} needs {self.repo_id} from the Hugging Face hub ({type(exc).__name__}); "
                f"allow hub access or set ${HUB_ROOT_ENV} to a local mirror, or use an offline domain"
            ) from exc
        found = self._match(folder)
        if found is None:
            raise DataError(f"{self.repo_id} has no files matching {self.patterns}; the hub layout changed")
        return found

    def _read(self, path: Path) -> Pool:
        columns = [self.text_field, self.label_field] + ([self.pair_field] if self.pair_field else [])
        try:
            table = pq.read_table(path, columns=columns).to_pydict()
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files/columns
            raise DataError(f"cannot read {path} (needs columns {columns}): {exc}") from exc
        lower = [n.lower() for n in self.label_names]
        pool = Pool(text_pair=[] if self.pair_field else None)
        for row, (text, raw) in enumerate(zip(table[self.text_field], table[self.label_field], strict=True)):
            label = lower.index(raw.lower()) if isinstance(raw, str) and raw.lower() in lower else raw
            if not isinstance(label, int) or not 0 <= label < len(self.label_names):
                raise DataError(f"{path} row {row}: label {raw!r} is not one of {', '.join(self.label_names)}")
            pair = (table[self.pair_field][row] or "").strip() if self.pair_field else None
            # Rows without text (or without the second text of a pair) cannot be classified.
            if text and text.strip() and pair != "":
                pool.add(text.strip(), label, pair)
        return pool

    def load(self, cache_dir: Path | None = None) -> DomainData:
        """Read the Parquet files and split per PAPER.md §2. `cache_dir` is unused (HF has its own)."""
        pools: dict[str, Pool] = {}
        for split, paths in self.locate().items():
            pool = Pool(text_pair=[] if self.pair_field else None)
            for path in paths:
                part = self._read(path)
                pool.text += part.text
                pool.label += part.label
                if pool.text_pair is not None and part.text_pair is not None:
                    pool.text_pair += part.text_pair
            pools[split] = pool
        return assemble(self.name, self.label_names, pools, self.seed)
