"""Which adapter directories a sweep takes, and reading them: ours (they record their domain), and PEFT or
AdapterHub directories named with `--domain NAME=DIR` (those formats record none)."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from adaptermix.checkpoints import Checkpoint, detect_format, read_checkpoint
from adaptermix.checkpoints.manifest import MANIFEST_NAME
from adaptermix.errors import AdapterMixError, CheckpointError, ConfigError


def discover(paths: Sequence[Path], named: Container[Path] = ()) -> list[Path]:
    """Checkpoint directories: each path itself if it is one, else its sub-directories that are.

    A PEFT or AdapterHub directory is one only when `named` holds it (resolved: its domain was given);
    any other is refused, naming `--domain NAME=DIR`.
    """
    found: list[Path] = []
    for path in paths:
        if (path / MANIFEST_NAME).is_file() or path.resolve() in named:
            found.append(path)
        elif path.is_dir():
            _refuse_foreign(path)
            # Hidden entries are temporary directories of interrupted writes, never checkpoints.
            subdirs = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_dir())
            for sub in subdirs:
                if sub.resolve() not in named:
                    _refuse_foreign(sub)
            found.extend(p for p in subdirs if (p / MANIFEST_NAME).is_file() or p.resolve() in named)
        else:
            raise ConfigError(f"{path} is neither a checkpoint nor a folder of checkpoints")
    if len(found) < 1:
        raise ConfigError(f"no checkpoints found in {', '.join(map(str, paths))}: train adapters first")
    return found


def _refuse_foreign(path: Path) -> None:
    """A PEFT or AdapterHub directory joins a sweep only with its domain: the directory does not record it."""
    try:
        fmt = detect_format(path)
    except CheckpointError:
        return
    if fmt != "adaptermix":
        raise ConfigError(f"{path} is a {'PEFT' if fmt == 'peft' else 'AdapterHub'} adapter, which does not record "
                          f"its domain: name it with --domain NAME={path} (or convert it with `adaptermix import`)")


def foreign_dirs(domains: Mapping[str, Path]) -> dict[Path, str]:
    """The PEFT / AdapterHub directories of `--domain NAME=DIR`, resolved, with their domain.

    Raises:
        ConfigError: an unknown domain, a directory that is missing, ours, or no PEFT / AdapterHub
            adapter, or one directory named twice.
    """
    from adaptermix.data import get_domain

    out: dict[Path, str] = {}
    for name, path in domains.items():
        flag = f"--domain {name}={path}"
        try:
            get_domain(name)  # an unknown domain fails here, before any store is made
            fmt = detect_format(path)
        except AdapterMixError as exc:
            raise ConfigError(f"{flag}: {exc}") from exc
        if fmt == "adaptermix":
            raise ConfigError(f"{flag}: {path} is an adaptermix checkpoint, which records its domain: "
                              "pass it with --adapters")
        key = path.resolve()
        if key in out:
            raise ConfigError(f"{flag}: {path} is also named --domain {out[key]}: give each directory one domain")
        out[key] = name
    return out


def sweep_dirs(adapters: Sequence[Path], domains: Mapping[str, Path] | None) -> list[tuple[Path, str | None]]:
    """The sweep's adapter directories in study order, each with its domain when it is PEFT / AdapterHub.

    Those of `adapters` (see `discover`) first, then each directory of `domains` not among them.
    """
    named = foreign_dirs(domains or {})
    found = discover(adapters, named) if adapters else []
    seen = {p.resolve() for p in found}
    only_named = [(Path(p), name) for name, p in (domains or {}).items() if Path(p).resolve() not in seen]
    return [(p, named.get(p.resolve())) for p in found] + only_named


def read_adapters(dirs: Sequence[tuple[Path, str | None]]) -> list[Checkpoint]:
    """The checkpoints of `sweep_dirs`; a foreign one is named after its domain, as training names ours.

    Its own name (a PEFT directory's folder name, an AdapterHub save name) says nothing of its domain,
    and a sweep labels each adapter by name: targets, row keys and the store's study use that label.
    """
    from adaptermix.training.train import adapter_name

    ckpts = []
    for path, domain in dirs:
        ckpt = read_checkpoint(path, domain)
        if domain is not None:
            ckpt = replace(ckpt, manifest=ckpt.manifest.model_copy(update={"name": adapter_name(domain)}))
        ckpts.append(ckpt)
    return ckpts


def study_names(checkpoints: Sequence[Checkpoint]) -> list[str]:
    """One label per adapter (its name: the domain for registered domains); duplicates refused."""
    names = [c.name for c in checkpoints]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(f"two adapters are named {dup!r}: a sweep takes one adapter per domain")
    return names
