"""The one evaluation spec: built once from CLI flags or YAML, carried unchanged to every worker.

`EvalSpec` holds every knob of how a mixture is scored: the split and its budget, the precision,
the mixers (each a `MixSpec`: mixer + its parameters + reference view + space) and the conditions
(each a `ConditionSpec`: clean or an attack + its parameters). Rows in the store are keyed by the
hash of the study-level part (`EvalSpec.study_config`) plus the mixer and condition labels, so one
store holds many mixers and conditions side by side. The precision a worker actually used is
stored on each row: `auto` may resolve differently on a GPU actor and on a CPU driver.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptermix.errors import ConfigError
from adaptermix.mixing.spec import MixSpec, _canonical, _label
from adaptermix.registry import resolve_named

Precision = Literal["auto", "fp32", "bf16"]

#: Cost of scoring one example under a condition, in clean scorings of one example. Measured on the
#: offline study (MiniLM, 64 tokens, AMD EPYC Zen 4, 2 threads; docs/findings.md): FGSM rows cost 6×
#: clean per example (forward, backward and forward in fp32); an adaptive TextFooler row 600× (a query
#: per word and synonym tried); a transfer row crafts once per target (≈ 740× per example, on the
#: adapter alone) and then scores each clean and adversarial text (≈ 4×). Longer texts cost TextFooler
#: more (more words to swap), so on other corpora treat these as an order of magnitude.
CONDITION_COST: dict[str, float] = {"clean": 1.0, "fgsm": 6.0, "textfooler": 600.0}
TRANSFER_CRAFT_COST = 740.0
TRANSFER_SCORE_COST = 4.0

#: Condition parameters renamed so that each attack setting has one name in CLI, YAML and API (issue 19):
#: old key → new. The old key works for one release, with a one-line warning.
RENAMED_PARAMS: dict[str, str] = {"n": "attack_examples", "seed": "attack_seed", "mode": "attack_mode"}
# Row keys (the label and `condition_params`) keep the old spelling: stores written before the rename resume
# without recomputing a row, and readers of labels (the report) read them as before.
_STORED = {new: old for old, new in RENAMED_PARAMS.items()}


def _renamed(condition: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with old keys (`n`, `seed`, `mode`) under their new names, for conditions that take those."""
    from adaptermix.deprecation import warn_renamed
    from adaptermix.evaluation.conditions import CONDITIONS

    takes = CONDITIONS.get(condition).params if condition in CONDITIONS else {}
    out = dict(params)
    for old, new in RENAMED_PARAMS.items():
        if old in out and new in takes:
            if new in out:
                raise ValueError(f"condition {condition}: {old} is the old name of {new}: give {new} only")
            warn_renamed(old, new)
            out[new] = out.pop(old)
    return out


class ConditionSpec(BaseModel):
    """How a target split is scored with the resident mixture: `clean`, or an attack and its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    condition: str = "clean"
    params: dict[str, Any] = Field(default_factory=dict)
    # Which of the study's mixers this condition scores (names or labels; None: every mixer). Not part
    # of the row key: it only decides which (mixer, condition) pairs a sweep runs.
    mixers: tuple[str, ...] | None = None
    # Which mixture sizes it scores: None (every k), "ends" (k = 1 and k = n: Table 1's two ends), or
    # explicit sizes. Not part of the row key either (e.g. adaptive TextFooler only at the ends).
    sizes: Literal["ends"] | tuple[int, ...] | None = None

    @field_validator("sizes")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, tuple) and (not v or any(k < 1 for k in v)):
            raise ValueError(f"sizes {list(v)}: give mixture sizes ≥ 1, or 'ends'")
        return v

    def scores_size(self, k: int, n: int) -> bool:
        """Whether this condition scores mixtures of k adapters in a study of n."""
        if self.sizes is None:
            return True
        return k in (1, n) if self.sizes == "ends" else k in self.sizes

    @model_validator(mode="after")
    def _resolve(self) -> ConditionSpec:
        from adaptermix.evaluation.conditions import CONDITIONS

        name, params = resolve_named(CONDITIONS, self.condition, _renamed(self.condition, self.params))
        object.__setattr__(self, "condition", name)
        object.__setattr__(self, "params", params)
        return self

    @property
    def label(self) -> str:
        """The row key: `clean`, `fgsm(attack_seed=0,...)` with the stored spelling: `fgsm(...,n=100,seed=0)`."""
        return _label(self.condition, self._stored_params())

    def _stored_params(self) -> dict[str, Any]:
        return {_STORED.get(k, k): v for k, v in self.params.items()}

    def cost(self, max_examples: int | None, k: int | None = None) -> tuple[float, float]:
        """(per mixture of `k` adapters, once per target) cost in clean scorings of a `max_examples` split.

        An attack scores its own `attack_examples` examples (a fraction of the split). The once-per-target part is the
        attack on the target's adapter alone: a transfer condition crafts it, and adaptive TextFooler at
        k = 1 is that very attack, so conditions with the same `alone_attack()` share it.
        """
        frac = 1.0
        if "attack_examples" in self.params and max_examples:
            frac = min(1.0, float(self.params["attack_examples"]) / max_examples)
        if self.alone_attack() is not None:
            if self.params.get("attack_mode") == "transfer":
                return TRANSFER_SCORE_COST * frac, TRANSFER_CRAFT_COST * frac
            if k == 1:
                return 0.0, TRANSFER_CRAFT_COST * frac
        return CONDITION_COST.get(self.condition, 1.0) * frac, 0.0

    def alone_attack(self) -> tuple[object, ...] | None:
        """For TextFooler, the settings of its attack on a target's adapter alone (all but `attack_mode`): a transfer
        condition crafts it, and adaptive mode at k = 1 is that same attack, so the engine runs it once."""
        if self.condition != "textfooler":
            return None
        return tuple(sorted((k, repr(v)) for k, v in self.params.items() if k != "attack_mode"))

    def as_json(self) -> str:
        """Canonical JSON of what the rows' scores depend on (not the `mixers`/`sizes` filters when unset), with
        the parameters in the stored spelling (as `label`)."""
        dumped = self.model_dump(mode="json", exclude={k for k in ("mixers", "sizes") if getattr(self, k) is None})
        return _canonical({**dumped, "params": {_STORED.get(k, k): v for k, v in dumped["params"].items()}})


class EvalSpec(BaseModel):
    """Everything about how mixtures are scored (one frozen object, CLI flags or YAML → workers).

    Attributes:
        split: the target split scored (`test` by default).
        max_examples: score only the first N examples of each target split (None: all).
        max_length: truncation length in tokens.
        precision: `auto` (bf16 on GPU; on CPU bf16 only where a start-up probe measures bf16
            matmul clearly faster), `fp32` or `bf16` (autocast).
        mixers: the mixers to evaluate every mixture with (default: Eq. 1 only).
        conditions: the conditions to score every mixture under (default: clean only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    split: str = "test"
    max_examples: int | None = Field(default=None, gt=0)
    max_length: int = Field(default=128, ge=8)
    precision: Precision = "auto"
    mixers: tuple[MixSpec, ...] = (MixSpec(),)
    conditions: tuple[ConditionSpec, ...] = (ConditionSpec(),)

    @field_validator("mixers", "conditions", mode="before")
    @classmethod
    def _shorthand(cls, value: Any, info: Any) -> Any:
        # YAML shorthand: `- ties` or `- {mixer: ties, density: 0.2}` (parameters beside the name).
        name_key = "mixer" if info.field_name == "mixers" else "condition"
        own = ({"mixer", "params", "reference", "space", "head"} if name_key == "mixer"
               else {"condition", "params", "mixers", "sizes"})
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            return value
        out = []
        for item in value:
            if isinstance(item, str):
                item = {name_key: item.strip()}
            elif isinstance(item, dict):
                extra = {k: v for k, v in item.items() if k not in own}
                item = {**{k: v for k, v in item.items() if k in own},
                        "params": {**(item.get("params") or {}), **extra}}
            out.append(item)
        return out

    @field_validator("mixers", "conditions")
    @classmethod
    def _non_empty_unique(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise ValueError("give at least one")
        labels = [v.label for v in value]
        dup = next((x for x in labels if labels.count(x) > 1), None)
        if dup is not None:
            raise ValueError(f"{dup} is listed twice")
        return value

    @model_validator(mode="after")
    def _known_mixers(self) -> EvalSpec:
        names = {m.mixer for m in self.mixers} | {m.label for m in self.mixers}
        for c in self.conditions:
            unknown = [m for m in c.mixers or () if m not in names]
            if unknown:
                raise ValueError(f"condition {c.condition} lists mixer {unknown[0]!r}, which is not among the "
                                 f"study's mixers ({', '.join(m.label for m in self.mixers)})")
        return self

    def pairs(self) -> list[tuple[int, int]]:
        """The (mixer index, condition index) pairs a sweep evaluates: every mixer under every condition,
        except where a condition names the mixers it applies to (e.g. attacks on `average` only)."""
        return [(mi, ci) for mi, m in enumerate(self.mixers) for ci, c in enumerate(self.conditions)
                if c.mixers is None or m.mixer in c.mixers or m.label in c.mixers]

    def study_config(self) -> dict[str, Any]:
        """The study-level part (hashed into every row's key): split, budget, length, requested precision."""
        return {"split": self.split, "max_examples": self.max_examples, "max_length": self.max_length,
                "precision": self.precision}


def _build(cls: type[Any], **fields: Any) -> Any:
    """`cls(**fields)` with a validation failure as one ConfigError line (for CLI flags)."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise ConfigError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def mix_specs(mixers: str, density: float | None = None, majority_sign: str | None = None, seed: int | None = None,
              scope: str | None = None, reference: str = "raw", space: str = "factors",
              weights: tuple[float, ...] | None = None) -> tuple[MixSpec, ...]:
    """`--mixers average,ties --density 0.2 ...` → MixSpecs; each flag goes to the mixers that take it.

    `weights` (one per member, for `weighted`) become part of that mixer's spec and row key.

    Raises:
        ConfigError: an unknown mixer, or a flag that none of the listed mixers takes.
    """
    from adaptermix.mixing import get_mixer

    names = [m.strip() for m in mixers.split(",") if m.strip()]
    if not names:
        raise ConfigError("--mixers is empty: give e.g. average,ties")
    flags = {"density": density, "majority_sign": majority_sign, "seed": seed, "scope": scope,
             "weights": None if weights is None else tuple(weights)}
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        takes = {n: get_mixer(n).params for n in names}
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for flag in given:
        if not any(flag in p for p in takes.values()):
            option = "--dare-seed" if flag == "seed" else f"--{flag.replace('_', '-')}"  # the DARE mixers' `seed`
            raise ConfigError(f"{option} is not used by any of --mixers {','.join(names)}")
    return tuple(_build(MixSpec, mixer=n, params={k: v for k, v in given.items() if k in takes[n]},
                        reference=reference, space=space) for n in names)


def condition_specs(conditions: str, epsilon: float | None = None, attack_mode: str | None = None,
                    attack_examples: int | None = None, query_budget: int | None = None,
                    attack_seed: int | None = None, vectors: str | None = None) -> tuple[ConditionSpec, ...]:
    """`--conditions clean,fgsm,textfooler --epsilon 0.01 --attack-mode transfer ...` → ConditionSpecs.

    Each flag goes to the conditions that take it (`attack_examples` and `attack_seed` to every attack);
    each argument is named as the condition parameter (`AttackSpec` field) it sets and its flag
    (`attack_examples` ↔ `--attack-examples`). `adaptermix sweep` and `adaptermix attack` both build
    their conditions here, and a recipe's `eval.conditions` builds the same `ConditionSpec`.

    Raises:
        ConfigError: an unknown condition, or a flag that none of the listed conditions takes.
    """
    names = [c.strip() for c in conditions.split(",") if c.strip()]
    if not names:
        raise ConfigError("--conditions is empty: give e.g. clean,fgsm")
    from adaptermix.evaluation.conditions import CONDITIONS

    given = {k: v for k, v in {"epsilon": epsilon, "attack_mode": attack_mode, "attack_examples": attack_examples,
                               "query_budget": query_budget, "attack_seed": attack_seed, "vectors": vectors}.items()
             if v is not None}
    try:
        takes = {c: CONDITIONS.get(c).params for c in names}
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for key in given:
        if not any(key in p for p in takes.values()):
            raise ConfigError(f"--{key.replace('_', '-')} is not used by any of --conditions {','.join(names)}")
    return tuple(_build(ConditionSpec, condition=c, params={k: v for k, v in given.items() if k in takes[c]})
                 for c in names)
