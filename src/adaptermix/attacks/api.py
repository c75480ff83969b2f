"""The attack API a CLI or a sweep worker calls: one frozen spec, a registry, pure functions.

`attack_examples(wrapper, examples, spec, resources)` attacks examples against whatever adapter and
head the wrapped model holds (adaptive mode); `score_perturbed(wrapper, records)` re-scores texts
crafted against another model (transfer mode). Neither touches a file.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adaptermix.attacks.fgsm import DEFAULT_EPSILON, check_epsilon, fgsm_attack
from adaptermix.attacks.results import AttackRecord, Example, check_examples, status_of
from adaptermix.attacks.textfooler import Resources, TextFoolerConfig, textfooler_attack
from adaptermix.attacks.vectors import WordVectors
from adaptermix.attacks.wrapper import ModelWrapper
from adaptermix.data.types import Split
from adaptermix.errors import ConfigError
from adaptermix.registry import Registry

#: Examples attacked per target when a recipe or flag gives no `attack_examples` (issue 8's default).
DEFAULT_EXAMPLES = 100
#: TextFooler in a study: `adaptive` attacks every mixture itself (the paper's setting); `transfer` crafts once
#: on the target's adapter alone and scores every mixture on those texts.
MODES = ("adaptive", "transfer")


class AttackSpec(BaseModel):
    """One attack and each of its settings, declared once (one name and one default per setting).

    The study conditions `fgsm` and `textfooler` take their parameters and defaults from here
    (`condition_params`), and `adaptermix attack` builds the same `ConditionSpec` a sweep or a recipe
    builds, so a setting has one name in the CLI (`--attack-examples`), in YAML (`attack_examples:`)
    and in the API (`AttackSpec.attack_examples`).

    Attributes:
        attack: a registered attack name (fgsm, textfooler).
        attack_examples: how many examples of the scored split are attacked (a seeded sample).
        attack_seed: the seed of that sample.
        epsilon: FGSM step (the paper's 0.01).
        batch_size: examples per FGSM forward + backward.
        attack_mode: TextFooler in a sweep: adaptive or transfer (`MODES`).
        max_candidates, min_cos, min_sim, window, query_budget: TextFooler's settings.
        vectors: TextFooler's word vectors, a word2vec text file (None: counter-fitted GloVe).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attack: str
    attack_examples: int = DEFAULT_EXAMPLES
    attack_seed: int = 0
    epsilon: float = DEFAULT_EPSILON
    batch_size: int = Field(32, ge=1)
    attack_mode: str = "adaptive"
    max_candidates: int = Field(50, ge=1)
    min_cos: float = Field(0.8, ge=-1.0, le=1.0)
    min_sim: float = Field(0.84, ge=-1.0, le=1.0)
    window: int = Field(15, ge=1)
    query_budget: int | None = None
    vectors: str | None = None

    @field_validator("attack")
    @classmethod
    def _known(cls, v: str) -> str:
        return ATTACKS.canonical(v)

    @field_validator("epsilon")
    @classmethod
    def _finite(cls, v: float) -> float:
        return check_epsilon(v)

    @field_validator("attack_examples", "attack_seed", "query_budget", mode="before")
    @classmethod
    def _integer(cls, v: Any, info: Any) -> Any:
        # Strict: YAML's `true` or `2.5` is a typo here, not 1 or 2.
        if v is None and info.field_name == "query_budget":
            return v
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("give an integer")
        if info.field_name != "attack_seed" and v < 1:
            what = "attack at least one example per target" if info.field_name == "attack_examples" \
                else "allow at least one model query per example, or null for none"
            raise ValueError(f"{what} (an integer ≥ 1)")
        return v

    @field_validator("attack_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in MODES:
            raise ValueError(f"choose one of {', '.join(MODES)}")
        return v

    def params(self) -> dict[str, Any]:
        """The parameters that matter for this attack (what a summary records)."""
        if self.attack == "fgsm":
            return {"epsilon": self.epsilon}
        return {"max_candidates": self.max_candidates, "min_cos": self.min_cos, "min_sim": self.min_sim,
                "window": self.window, "query_budget": self.query_budget,
                "sentence_encoder": "all-MiniLM-L6-v2 (stand-in for USE)"}

    def textfooler(self) -> TextFoolerConfig:
        return TextFoolerConfig(max_candidates=self.max_candidates, min_cos=self.min_cos, min_sim=self.min_sim,
                                window=self.window, query_budget=self.query_budget)


#: The settings each attack takes, in `AttackSpec`'s names (the rest of its fields do not apply to it).
SETTINGS: dict[str, tuple[str, ...]] = {
    "fgsm": ("attack_examples", "attack_seed", "epsilon", "batch_size"),
    "textfooler": ("attack_mode", "attack_examples", "attack_seed", "max_candidates", "min_cos", "min_sim", "window",
                   "query_budget", "vectors"),
}


def condition_params(attack: str) -> dict[str, Any]:
    """`attack`'s settings with their defaults: the parameters its study condition declares."""
    fields = AttackSpec.model_fields
    return {k: fields[k].default for k in SETTINGS[ATTACKS.canonical(attack)]}


def check_settings(attack: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` checked as `attack`'s settings and returned as validated (e.g. ε as a float).

    Raises:
        ValueError: a setting outside its range, naming it and its value (`attack_examples=0: ...`).
    """
    try:
        spec = AttackSpec(attack=attack, **params)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{where}={err.get('input')!r}: {msg}") from None
    return {k: getattr(spec, k) for k in params}


Progress = Callable[[int, int], None]  # (examples finished, examples)
# An attack may also take `progress=` (a `Progress`): `attack_examples` passes it where the function names it.
AttackFn = Callable[..., list[AttackRecord]]
ATTACKS: Registry[AttackFn] = Registry("attack")


def _fgsm(wrapper: ModelWrapper, examples: Sequence[Example], spec: AttackSpec,
          resources: Resources | None, progress: Progress | None = None) -> list[AttackRecord]:
    del resources, progress  # white-box: needs only the model; one batched pass per chunk, seconds in all
    return fgsm_attack(wrapper, examples, spec.epsilon, spec.batch_size)


def _textfooler(wrapper: ModelWrapper, examples: Sequence[Example], spec: AttackSpec,
                resources: Resources | None, progress: Progress | None = None) -> list[AttackRecord]:
    if resources is None:
        raise ConfigError("textfooler needs word vectors, WordNet and a sentence encoder: pass load_resources()")
    return textfooler_attack(wrapper, examples, resources, spec.textfooler(), progress)


ATTACKS.register("fgsm", _fgsm)
ATTACKS.register("textfooler", _textfooler, aliases=("textfooler_jin_2019",))


def attack_examples(
    wrapper: ModelWrapper, examples: Sequence[Example], spec: AttackSpec, resources: Resources | None = None,
    progress: Progress | None = None,
) -> list[AttackRecord]:
    """Attack `examples` against the wrapped model (adaptive mode: the model is attacked itself).

    Args:
        wrapper: the model with its adapter (a single one or a mixture) and the target's head loaded.
        examples: labelled inputs (from `sample_examples`).
        spec: which attack and its settings.
        resources: TextFooler's resources (`load_resources`); unused by FGSM.
        progress: TextFooler calls it after each round with (examples finished, examples).

    Returns:
        One record per example, in order (summarise them with `results.summarize`).
    """
    attack = ATTACKS.get(spec.attack)
    if progress is None or "progress" not in inspect.signature(attack).parameters:
        return attack(wrapper, examples, spec, resources)  # an attack registered without the hook still runs
    return attack(wrapper, examples, spec, resources, progress=progress)


def score_perturbed(wrapper: ModelWrapper, records: Sequence[AttackRecord]) -> list[AttackRecord]:
    """Transfer mode: score clean and perturbed texts crafted against another model on this one.

    Status is re-derived on this model: skipped if it gets the clean example wrong, successful if
    it gets the perturbed one wrong. Swaps, words and perturbed words are kept; `queries` is 2.

    Raises:
        ConfigError: a record without a perturbed text (FGSM perturbs embeddings: re-run it instead).
    """
    if any(r.perturbed_text is None for r in records):
        raise ConfigError("transfer scoring needs perturbed texts; FGSM records have none: attack each model itself")
    if not records:
        return []
    pair = records[0].text_pair is not None
    texts = [r.text for r in records]
    seconds = [r.text_pair or "" for r in records]
    perturbed = [r.perturbed_text or "" for r in records]
    clean = wrapper(texts, seconds if pair else None).argmax(1)
    adv = (wrapper(texts, perturbed) if pair else wrapper(perturbed)).argmax(1)
    out = []
    for r, p, q in zip(records, clean.tolist(), adv.tolist(), strict=True):
        out.append(AttackRecord(
            text=r.text, text_pair=r.text_pair, perturbed_text=r.perturbed_text, label=r.label, prediction=p,
            perturbed_prediction=q, swaps=r.swaps, queries=2, words=r.words, perturbed_words=r.perturbed_words,
            status=status_of(r.label, p, q), swap_details=r.swap_details))
    return out


def sample_examples(split: Split, n: int | None, seed: int = 0) -> list[Example]:
    """A seeded sample of `n` examples of a split (all of them for None), in split order.

    The same sample is used for clean and attacked scoring, so both accuracies refer to one set.
    """
    if n is not None and n < 1:
        raise ConfigError(f"--attack-examples {n}: attack at least one example")
    idx = np.arange(len(split))
    if n is not None and n < len(split):
        idx = np.sort(np.random.default_rng(seed).choice(len(split), size=n, replace=False))
    pairs = split.text_pair
    examples = [Example(split.text[i], split.label[i], None if pairs is None else pairs[i]) for i in idx.tolist()]
    check_examples(examples)
    return examples


def load_resources(
    cache_dir: Path | None = None, vectors_file: Path | None = None, vectors: WordVectors | None = None
) -> Resources:
    """TextFooler's resources: counter-fitted GloVe (or `vectors`/`vectors_file`), WordNet, MiniLM; cached once.

    Raises:
        DataError: a missing or malformed vectors file, or resources that cannot be fetched.
    """
    from adaptermix.attacks.resources import load_wordnet
    from adaptermix.attacks.similarity import MiniLMEncoder
    from adaptermix.attacks.vectors import counterfitted_glove, read_word2vec_text

    if vectors is None:
        vectors = read_word2vec_text(vectors_file) if vectors_file is not None else counterfitted_glove(cache_dir)
    return Resources(vectors=vectors, wordnet=load_wordnet(cache_dir), encoder=MiniLMEncoder())


def finite_or_none(x: float) -> float | None:
    """NaN -> None, for JSON output."""
    return None if isinstance(x, float) and math.isnan(x) else x
