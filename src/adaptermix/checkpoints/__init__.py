"""Checkpoint formats: ours (AdapterHub files + manifest.json), PEFT LoRA and AdapterHub directories.

The stage after `methods` and before `training`: every other stage reads checkpoints through
`read_checkpoint` (any format, told apart by content) and writes them with `write_checkpoint`
(atomic: a temporary directory renamed into place). See docs/formats.md.
"""

from __future__ import annotations

from adaptermix.checkpoints.convert import EXPORT_FORMATS, export_adapter, import_checkpoint
from adaptermix.checkpoints.derive import mixture_manifest, read_mixable, unique_names
from adaptermix.checkpoints.foreign import UNKNOWN_DOMAIN, ImportOptions
from adaptermix.checkpoints.manifest import MANIFEST_NAME, BaseInfo, Manifest, Member, state_sha256
from adaptermix.checkpoints.ours import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    HEAD_CONFIG,
    HEAD_WEIGHTS,
    Checkpoint,
    atomic_dir,
    check_mixable,
    read_ours,
    refuse_existing,
    write_checkpoint,
    write_files,
)
from adaptermix.checkpoints.resolve import (
    detect_format,
    read_checkpoint,
    require_domain,
    require_head,
)
from adaptermix.checkpoints.sparse import SPARSE_WEIGHTS

__all__ = [
    "ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "EXPORT_FORMATS", "HEAD_CONFIG", "HEAD_WEIGHTS", "MANIFEST_NAME",
    "SPARSE_WEIGHTS", "UNKNOWN_DOMAIN", "BaseInfo", "Checkpoint", "ImportOptions", "Manifest", "Member",
    "atomic_dir", "check_mixable", "detect_format", "export_adapter", "import_checkpoint",
    "mixture_manifest", "read_checkpoint", "read_mixable", "read_ours", "refuse_existing", "require_domain",
    "require_head", "state_sha256", "unique_names", "write_checkpoint", "write_files",
]
