"""The dataset analysis as data: its config and its result, JSON round-trippable (never pickle).

`CorpusAnalysis.to_json()` / `from_json()` are exact inverses (floats are written with `repr`
precision by `json`), so the lead can keep the result in the study store as one JSON blob keyed by
`CorpusAnalysis.key` and render the report from it without recomputing anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from adaptermix.analysis.corpus.lengths import LengthStats
from adaptermix.analysis.corpus.relation import SimilarityFsdRelation
from adaptermix.analysis.corpus.topics import DomainTopics, Topic, TopicMap

SCHEMA_VERSION = 1


class CorpusConfig(BaseModel):
    """What the dataset analysis (Sec. 3.1, App. A.1–A.2) computes; every knob that changes a number.

    Attributes:
        domains: the domains, in display order (≥ 2, distinct).
        split: which split's examples are the documents ("train": what the adapters learn from).
        max_docs: seeded sample size per domain (the paper: 1,000 for Fig. 2a).
        n_topics: LDA topics per domain (the paper: 10).
        top_words: words listed per topic (the paper: 14).
        seed: seed of the document sample and of the LDA.
        max_tokens: word pieces per document for the sentence encoder (sentence-transformers: 256).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    domains: tuple[str, ...] = Field(min_length=2)
    split: str = "train"
    max_docs: int = Field(default=1000, ge=1)
    n_topics: int = Field(default=10, ge=1)
    top_words: int = Field(default=14, ge=1)
    seed: int = Field(default=0, ge=0)
    max_tokens: int = Field(default=256, ge=3, le=512)

    @field_validator("domains")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({d for d in value if value.count(d) > 1})
        if repeated:
            raise ValueError(f"domains repeat: {', '.join(repeated)}; name each domain once")
        return value

    @field_validator("split")
    @classmethod
    def _known_split(cls, value: str) -> str:
        if value not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {value!r}; use train, validation or test")
        return value


def analysis_key(config: CorpusConfig, fingerprints: Sequence[str], encoder: str) -> str:
    """The store key of an analysis, computable before running it (16 hex characters).

    Args:
        config: the settings.
        fingerprints: the domains' `DomainData.fingerprint`, in `config.domains` order.
        encoder: the embedder's `identity` (e.g. `MiniLMEmbedder().identity`).

    Returns:
        sha256 over all three and the schema version; equal keys mean equal numbers.
    """
    payload = {"config": config.model_dump(mode="json"), "fingerprints": list(fingerprints), "encoder": encoder,
               "schema": SCHEMA_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CorpusAnalysis:
    """Everything the dataset analysis found, in the paper's order.

    Attributes:
        config: the effective configuration.
        fingerprints: each domain's content fingerprint (`DomainData.fingerprint`), in `config.domains` order.
        encoder: identity of the sentence encoder (model hash, truncation, pooling).
        lengths: Table 3, one row per domain.
        similarity: Fig. 2a, the k×k centroid cosine matrix over `config.domains`.
        topics: Tables 4–16, one per domain.
        topic_map: Fig. 2b.
        relation: Sec. 5.2, similarity vs FSD over domain pairs; None without adapters.
        seconds: wall time of each step (`lengths`, `embeddings`, `topics`, ...), for the record.
    """

    config: CorpusConfig
    fingerprints: tuple[str, ...]
    encoder: str
    lengths: tuple[LengthStats, ...]
    similarity: tuple[tuple[float, ...], ...]
    topics: tuple[DomainTopics, ...]
    topic_map: TopicMap
    relation: SimilarityFsdRelation | None = None
    seconds: tuple[tuple[str, float], ...] = ()

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains, in order (the axes of `similarity`)."""
        return self.config.domains

    @property
    def similarity_matrix(self) -> np.ndarray:
        """`similarity` as a float64 array."""
        return np.asarray(self.similarity, dtype=np.float64)

    @property
    def key(self) -> str:
        """A content key for the store: config + data fingerprints + encoder (16 hex characters).

        Two runs with the same key compute the same numbers, so a study can skip a re-run. The
        relation to FSD depends on adapters too and is not part of the key.
        """
        return analysis_key(self.config, self.fingerprints, self.encoder)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists for tuples)."""
        out = {f: _plain(getattr(self, f)) for f in ("fingerprints", "encoder", "similarity", "seconds")}
        out["lengths"] = [asdict(row) for row in self.lengths]
        out["topics"] = [_plain(asdict(t)) for t in self.topics]
        out["topic_map"] = _plain(asdict(self.topic_map))
        out["relation"] = None if self.relation is None else _plain(asdict(self.relation))
        return {"schema_version": SCHEMA_VERSION, "key": self.key, "config": self.config.model_dump(mode="json"),
                **out}

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text (`from_json` inverts it exactly)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusAnalysis:
        """Rebuild a result from `to_dict()` output.

        Raises:
            ValueError: an unknown schema version or a missing/invalid field.
        """
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"corpus analysis schema {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
        try:
            relation = data["relation"]
            return cls(
                config=CorpusConfig.model_validate(data["config"]),
                fingerprints=tuple(data["fingerprints"]),
                encoder=str(data["encoder"]),
                lengths=tuple(LengthStats(**row) for row in data["lengths"]),
                similarity=_tuples(data["similarity"]),
                topics=tuple(
                    DomainTopics(
                        domain=t["domain"], documents=t["documents"], vocabulary=t["vocabulary"],
                        topics=tuple(Topic(words=tuple(x["words"]), weights=tuple(x["weights"]),
                                           prevalence=x["prevalence"]) for x in t["topics"]),
                    )
                    for t in data["topics"]
                ),
                topic_map=TopicMap(**{k: _tuples(v) for k, v in data["topic_map"].items()}),
                relation=None if relation is None else SimilarityFsdRelation(
                    **{k: _tuples(v) for k, v in relation.items()}
                ),
                seconds=tuple((str(k), float(v)) for k, v in data["seconds"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"corpus analysis JSON is missing or has a bad field: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> CorpusAnalysis:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively (what `json` writes anyway), so `to_dict` is plain data."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _tuples(value: Any) -> Any:
    """Lists → tuples, recursively (the inverse of `_plain` for our frozen dataclasses)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
