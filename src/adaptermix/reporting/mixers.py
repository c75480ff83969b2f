"""Mixers side by side (engine v2): Fig. 3 with one curve per mixer, and Table 1's clean column per mixer.

Reads only the store. For every mixer label stored under the `clean` condition: the mean accuracy
per k for each target (one curve per mixer), the drop from k = 1 to k = n averaged over targets,
and the sign statistics of the mixtures beside their accuracy: the flip fraction (share of the
target's weights whose sign the mixture reverses, Fig. 6) and the mean FSD between the mixture and
its members. Under TIES/DARE/magnitude the k = 1 "mixture" is the trimmed or dropped adapter, so the
drop is also given against the untouched adapter (the `average` row at k = 1) where that is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from adaptermix.reporting.sweep_figures import Axes, _grid, _note, k_axes
from adaptermix.reporting.sweep_tables import SweepData, Table, load
from adaptermix.store import Store


def load_mixers(store_path: str | Path, condition: str = "clean") -> dict[str, SweepData]:
    """mixer label → its `SweepData` under `condition`, in the order the mixers were first stored."""
    with Store.read(store_path) as store:
        labels = [m for m, c in store.labels() if c == condition]
    return {m: load(store_path, condition, m) for m in labels}


def short(label: str) -> str:
    """A legend-sized mixer label: the name and the parameters that differ from the usual defaults."""
    if "(" not in label:
        return label
    name, rest = label.split("(", 1)
    keep = [p for p in rest.rstrip(")").split(",") if p not in ("majority_sign=total", "scope=tensor", "seed=0")]
    return f"{name}({','.join(keep)})" if keep else name


def fig3_by_mixer(datas: Mapping[str, SweepData]) -> bytes:
    """Fig. 3 with one mean-accuracy curve per mixer, per target (PNG bytes)."""
    targets: list[str] = []
    for d in datas.values():
        targets += [t for t in d.targets if t not in targets]

    def draw(ax: Axes, target: str) -> None:
        drawn = False
        ks_all: set[int] = set()
        for i, (label, d) in enumerate(datas.items()):
            aggs = sorted((a for a in d.aggs if a.target == target), key=lambda a: a.k)
            if not aggs:
                continue
            ks = [a.k for a in aggs]
            ax.plot(ks, [100 * a.mean for a in aggs], "o-", color=f"C{i}", ms=3, label=short(label))
            ks_all.update(ks)
            drawn = True
        if not drawn:
            return _note(ax, "no rows")
        k_axes(ax, sorted(ks_all), "mean accuracy (%)")

    return _grid("Fig. 3 per mixer: mean in-domain accuracy vs number of mixed adapters", targets, draw)


def _mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def mixer_drop_table(datas: Mapping[str, SweepData]) -> Table:
    """Table 1's clean column per mixer: mean accuracy at k = 1 and k = n, the drop, and sign statistics."""
    t = Table("table_mixers_clean", "Mixers compared (clean): single adapter vs mixture of all n, per mixer",
              ("mixer", "targets", "acc_k1_pct", "acc_kn_pct", "drop_pts", "drop_vs_adapter_pts",
               "flip_fraction_kn_pct", "mixture_fsd_kn_pct", "precision"))
    plain = datas.get("average")
    for label, d in datas.items():
        singles, alls, vs_plain, flips, fsds, precisions = [], [], [], [], [], set()
        for target in d.targets:
            single = d.lookup(target, [target])
            full = d.lookup(target, d.meta.domains)
            precisions |= {r.precision or "?" for r in d.target_rows(target)}
            if single is None or full is None:
                continue
            singles.append(100 * single.accuracy)
            alls.append(100 * full.accuracy)
            if full.flip_fraction is not None:
                flips.append(100 * full.flip_fraction)
            if full.mixture_fsd is not None:
                fsds.append(100 * full.mixture_fsd)
            base = plain.lookup(target, [target]) if plain is not None else None
            if base is not None:
                vs_plain.append(100 * (base.accuracy - full.accuracy))
        drop = None if not singles else float(np.mean(singles) - np.mean(alls))
        t.rows.append((label, len(singles), _mean(singles), _mean(alls), drop, _mean(vs_plain), _mean(flips),
                       _mean(fsds), ",".join(sorted(precisions))))
    t.notes.append("means over the targets with both a k = 1 and a k = n row; drop = acc_k1 − acc_kn in points; "
                   "drop_vs_adapter uses the untouched adapter (average at k = 1) as the start")
    t.notes.append("flip fraction: share of the target adapter's weights whose sign the mixture reverses; mixture FSD: "
                   "mean FSD between the mixture and each member; both in the mixer's view (raw or task vectors)")
    return t


def mixer_k_table(datas: Mapping[str, SweepData]) -> Table:
    """Per mixer and k: mean accuracy, mean flip fraction and mean mixture FSD over all stored mixtures."""
    t = Table("table_mixers_by_k", "Mixers by mixture size: accuracy beside the sign statistics",
              ("mixer", "k", "rows", "mean_acc_pct", "flip_fraction_pct", "mixture_fsd_pct"))
    for label, d in datas.items():
        for k in sorted({r.k for r in d.rows}):
            rows = [r for r in d.rows if r.k == k]
            t.rows.append((label, k, len(rows), _mean([100 * r.accuracy for r in rows]),
                           _mean([100 * r.flip_fraction for r in rows if r.flip_fraction is not None]),
                           _mean([100 * r.mixture_fsd for r in rows if r.mixture_fsd is not None])))
    return t
