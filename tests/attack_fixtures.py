"""Small synthetic attack resources: word vectors, a WordNet, a tiny model that keys on one word, and
a tiny AdapterHub model with a random adapter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from adaptermix.attacks.similarity import BagOfVectorsEncoder
from adaptermix.attacks.textfooler import Resources
from adaptermix.attacks.vectors import WordVectors
from adaptermix.attacks.wordnet import WordNet
from adaptermix.attacks.wrapper import ModelWrapper
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.methods.model import head_state

# Unit-ish directions: good ~ great ~ fine ~ lovely; bad ~ awful ~ poor; movie ~ film; the ~ a.
_BASE = {
    "good": [1.0, 0.0, 0.0, 0.0, 0.0],
    "great": [0.97, 0.2, 0.0, 0.0, 0.0],
    "fine": [0.92, 0.0, 0.35, 0.0, 0.0],
    "lovely": [0.9, -0.3, 0.0, 0.3, 0.0],  # close, but only a noun in the fixture WordNet: POS refuses it
    "superb": [0.3, 0.9, 0.0, 0.0, 0.3],  # far from good (cos < 0.8)
    "bad": [0.0, 0.0, 0.0, 1.0, 0.0],
    "awful": [0.0, 0.0, 0.2, 0.97, 0.0],
    "poor": [0.0, 0.1, 0.0, 0.95, 0.3],
    "movie": [0.0, 0.0, 1.0, 0.0, 0.2],
    "film": [0.0, 0.0, 0.98, 0.0, 0.35],
    "the": [0.0, 0.0, 0.0, 0.2, 1.0],
    "a": [0.0, 0.0, 0.1, 0.2, 0.98],
    "was": [0.1, 0.1, 0.1, 0.1, 0.9],
    "is": [0.12, 0.1, 0.1, 0.1, 0.88],
    "plot": [0.0, 0.5, 0.8, 0.0, 0.0],
    "story": [0.0, 0.45, 0.85, 0.0, 0.0],
}
POS = {"good": "an", "great": "a", "fine": "anv", "lovely": "n", "superb": "a", "bad": "a", "awful": "a",
       "poor": "a", "movie": "n", "film": "nv", "plot": "nv", "story": "n", "was": "v", "is": "v"}


def toy_vectors() -> WordVectors:
    words = list(_BASE)
    return WordVectors(words, np.asarray([_BASE[w] for w in words], dtype=np.float32), name="toy")


def toy_wordnet() -> WordNet:
    syn = frozenset({("good", "great"), ("fine", "good"), ("film", "movie"), ("awful", "bad")})
    ant = frozenset({("bad", "good"), ("awful", "great")})
    return WordNet(pos=POS, synonyms=syn, antonyms=ant)


def toy_resources() -> Resources:
    vectors = toy_vectors()
    return Resources(vectors=vectors, wordnet=toy_wordnet(), encoder=BagOfVectorsEncoder(vectors))


class KeywordModel(nn.Module):
    """Predicts `pos` (1) iff the token of `keyword` occurs in the input (the last text of a pair).

    A stand-in classifier with an exactly known decision rule, wrapped like an AdapterHub model.
    """

    def __init__(self, tokenizer: Any, keyword: str = "good") -> None:
        super().__init__()
        self.keyword_id = tokenizer.convert_tokens_to_ids(keyword)
        self.scale = nn.Parameter(torch.tensor(4.0))
        self.config = SimpleNamespace(type_vocab_size=2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                **_: Any) -> SimpleNamespace:
        hits = ((input_ids == self.keyword_id) & attention_mask.bool()).sum(1).float()
        logits = torch.stack([torch.zeros_like(hits), self.scale * hits - 2.0], dim=1)
        return SimpleNamespace(logits=logits)


def adapter_wrapper(folder: Any, method: str = "pfeiffer", labels: tuple[str, ...] = ("neg", "pos")) -> ModelWrapper:
    """An evaluator's resident model with a random (nonzero) adapter and a head, as a sweep worker holds it."""
    ev = Evaluator(str(folder), method, 8, max_length=32)
    model = ev.base.model
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".slot." in name:
                p.normal_(0, 0.2)  # AdapterHub zero-inits the up-projection: make the adapter matter
    model.add_classification_head("tmp", num_labels=len(labels))
    ev.use_head("toy", head_state(model, "tmp"), labels)
    return ModelWrapper.from_evaluator(ev)
