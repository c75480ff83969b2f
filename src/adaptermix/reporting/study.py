"""Everything the HTML report and the findings read, loaded from a study store once (issue 9).

`load_study(path)` reads every row (all mixers and conditions), the FSD matrix, the code versions
and the dataset analysis artifact; the section builders and the findings then slice it in memory.
Reporting reads only the store, never a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.reporting.sweep_tables import SweepData
from adaptermix.store import EvalRow, Store, StudyMeta, aggregates

#: Artifact kind under which the dataset analysis (`CorpusAnalysis.to_json()`) is stored.
CORPUS_KIND = "corpus_analysis"
#: Artifact kind of the `advise:` stage's result (`reporting.advice` reads it).
ADVICE_KIND = "mixture_advice"


def mixer_spec(row: EvalRow) -> tuple[str, dict[str, Any]]:
    """(mixer name, its parameters) of a row, from `mixer_params` (a MixSpec's JSON) or else the label.

    Rows written before mixers had parameters carry `{}`; their label is the bare name.
    """
    try:
        spec = json.loads(row.mixer_params or "{}")
    except json.JSONDecodeError:
        spec = {}
    if isinstance(spec, dict) and "mixer" in spec:
        stored = spec.get("params") or {}
        return str(spec["mixer"]), dict(stored) if isinstance(stored, dict) else {}
    name, _, rest = row.mixer.partition("(")
    params: dict[str, Any] = {}
    for part in filter(None, rest.rstrip(")").split(",")):
        key, _, value = part.partition("=")
        try:
            params[key] = float(value) if "." in value else int(value)
        except ValueError:
            params[key] = value
    return name, params


def correctness(row: EvalRow | None) -> np.ndarray | None:
    """The row's per-example correctness as a 0/1 float array, or None when the store has none."""
    vec = None if row is None else row.correctness
    return None if vec is None or vec.size == 0 else vec.astype(np.float64)


@dataclass
class Study:
    """A study store read into memory.

    Attributes:
        path: the store file.
        meta: the study (adapters, eval config, base fingerprint, method).
        rows: every row of the study's eval config, all mixers and conditions.
        fsd: the stored pairwise FSD matrix (domains, S), or None.
        code_versions: the distinct `code_version`s of the rows.
        precisions: the distinct precisions the workers used.
        corpus_json: the stored dataset analysis (`CorpusAnalysis.to_json()`), or None.
        advice_json: the newest stored advice of the `advise:` stage (`reporting.advice`), or None.
    """

    path: Path
    meta: StudyMeta
    rows: list[EvalRow]
    fsd: tuple[list[str], np.ndarray] | None
    code_versions: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)
    corpus_json: str | None = None
    advice_json: str | None = None
    _sweeps: dict[tuple[str, str], SweepData] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Adapters in the study."""
        return len(self.meta.adapters)

    def sweep(self, condition: str = "clean", mixer: str = "average") -> SweepData:
        """The rows of one (condition, mixer) label pair as the sweep report's `SweepData`."""
        key = (condition, mixer)
        if key not in self._sweeps:
            rows = [r for r in self.rows if r.condition == condition and r.mixer == mixer]
            self._sweeps[key] = SweepData(meta=self.meta, rows=rows, aggs=aggregates(rows), fsd=self.fsd,
                                          by_key={r.key: r for r in rows})
        return self._sweeps[key]

    def conditions(self, mixer: str = "average") -> list[str]:
        """Condition labels with rows of `mixer`, `clean` first, the others in sorted order."""
        have = {r.condition for r in self.rows if r.mixer == mixer}
        return [c for c in ("clean",) if c in have] + sorted(have - {"clean"})

    def mixer_labels(self, condition: str = "clean") -> list[str]:
        """Mixer labels with rows under `condition`, `average` first, then sorted."""
        have = {r.mixer for r in self.rows if r.condition == condition}
        return [m for m in ("average",) if m in have] + sorted(have - {"average"})

    def rows_where(self, name: str, condition: str = "clean") -> list[tuple[EvalRow, dict[str, Any]]]:
        """(row, params) of every row whose mixer is named `name` (any parameters) under `condition`."""
        out = []
        for r in self.rows:
            if r.condition != condition:
                continue
            mixer, params = mixer_spec(r)
            if mixer == name:
                out.append((r, params))
        return out


def _distinct(values: Sequence[object]) -> list[str]:
    return sorted({str(v) for v in values if v is not None})


def _newest(store: Store, kind: str) -> str | None:
    """The newest stored artifact of `kind` (e.g. the dataset analysis's `CorpusAnalysis.to_json()`), or None."""
    found = store.artifacts(kind)
    return found[-1].value if found else None


def load_study(store_path: str | Path) -> Study:
    """Read a study store (read-only) into a `Study`.

    Raises:
        StoreError: the file is missing, not a store, or of another schema version.
    """
    path = Path(store_path)
    with Store.read(path) as store:
        rows = store.rows(condition=None, mixer=None)
        versions = _distinct([r["code_version"] for r in store.records(["code_version"])])
        return Study(path=path, meta=store.meta, rows=rows, fsd=store.fsd_matrix(), code_versions=versions,
                     precisions=_distinct([r.precision for r in rows]), corpus_json=_newest(store, CORPUS_KIND),
                     advice_json=_newest(store, ADVICE_KIND))
