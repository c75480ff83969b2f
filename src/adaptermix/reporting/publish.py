"""Reports for one or several stores: what `adaptermix report` and `adaptermix.report` both call.

Each study's report goes in `report/` beside its store; with several stores an overview page compares
them, each study named by its store (`StudyMeta.name`: the recipe's label, else `<encoder>/<method>`),
so `adaptermix report A B C` names studies the way `adaptermix run` did.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from adaptermix.fileio import check_writable
from adaptermix.reporting.overview import write_overview
from adaptermix.reporting.report import write_html_report
from adaptermix.store import Store, StoreError


def study_labels(stores: Sequence[Path]) -> list[str]:
    """Each store's study name: its stored label or `<encoder>/<method>`, else its folder's name; where
    two would read the same, every study is named by its path instead."""
    labels = []
    for path in stores:
        with Store.read(path) as store:
            name = store.meta.name
        labels.append(name or (path.parent.name if path.parent.name else path.stem))
    return labels if len(set(labels)) == len(labels) else [str(s) for s in stores]


def write_reports(stores: Sequence[str | Path], out: str | Path | None = None, what: str = "--out") -> list[Path]:
    """Write each store's report and, for several stores, the overview; returns the pages written (the
    overview last).

    Args:
        stores: study .sqlite files.
        out: the report folder (one store; default report/ beside it), or for several stores the folder
            that holds the overview and each study's report in a subfolder named after the study
            (default: the overview in the stores' common parent folder, each report beside its store).
        what: how the caller names `out` in messages (`--out`, `out`).

    Raises:
        StoreError: no store, a missing file, a file that is not a store, or a store named twice.
        ConfigError: an output folder that cannot be written (checked before anything is written).
    """
    paths = [Path(s) for s in stores]
    if not paths:
        raise StoreError("no study store given: pass the study .sqlite file that `adaptermix run` or a sweep wrote")
    for store in paths:
        if not store.is_file():
            raise StoreError(f"no study store at {store}: pass the study .sqlite file that `adaptermix run` or a "
                             "sweep wrote")
        Store.read(store).close()  # a file that is not a store fails here, in one line, before anything is written
    if len(set(map(Path.resolve, paths))) != len(paths):
        raise StoreError("a store is named twice: pass each study's .sqlite file once")
    if len(paths) == 1:
        dest = Path(out) if out is not None else paths[0].parent / "report"
        check_writable(dest, "folder", what)
        return [write_html_report(paths[0], dest)]
    labels = study_labels(paths)
    if out is not None:  # everything under --out: nothing is written beside the stores
        dest = Path(out)
        names = [_folder_name(label) for label in labels]
        if len(set(names)) < len(names):  # two labels that read alike as folder names
            names = [f"{i + 1}-{name}" for i, name in enumerate(names)]
        folders = [dest / name for name in names]
    else:
        dest = Path(os.path.commonpath([s.resolve().parent for s in paths]))
        folders = [s.parent / "report" for s in paths]
    for folder in [dest, *folders]:
        check_writable(folder, "folder", what)
    pages = [write_html_report(store, folder) for store, folder in zip(paths, folders, strict=True)]
    return [*pages, write_overview(list(zip(labels, paths, strict=True)), dest, folders)]


def _folder_name(label: str) -> str:
    """A study's label as one folder name (`minilm/lora` → `minilm-lora`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "study"
