"""FGSM on word embeddings of tiny AdapterHub BERT/RoBERTa models with an active adapter."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from adaptermix.attacks import Example, ModelWrapper, fgsm_attack, fgsm_grid
from adaptermix.attacks.fgsm import check_epsilon, perturbation
from adaptermix.errors import ConfigError
from attack_fixtures import adapter_wrapper
from conftest import toy_rows

LABELS = ("neg", "pos")
EXAMPLES = [Example(r["text"], LABELS.index(r["label"])) for r in toy_rows(24, seed=3)]


@pytest.fixture(scope="module", params=["bert", "roberta"])
def wrapper(request, tiny_encoders) -> ModelWrapper:
    return adapter_wrapper(tiny_encoders[request.param])


def test_linf_is_epsilon_on_tokens_and_zero_on_padding(wrapper):
    inputs = wrapper.encode([e.text for e in EXAMPLES[:6]])
    mask = inputs["attention_mask"].bool()
    assert not mask.all(), "the batch must contain padding"
    emb, direction, _ = perturbation(wrapper, inputs, torch.tensor([e.label for e in EXAMPLES[:6]]))
    eps = 0.01
    delta = (emb + eps * direction) - emb
    per_pos = delta.abs().amax(-1)
    assert torch.allclose(per_pos[mask], torch.full_like(per_pos[mask], eps), atol=1e-6)
    assert (delta[~mask] == 0).all()


def test_epsilon_zero_gives_clean_predictions(wrapper):
    clean = wrapper([e.text for e in EXAMPLES]).argmax(1).tolist()  # the input_ids path
    recs = fgsm_attack(wrapper, EXAMPLES, epsilon=0.0, batch_size=7)
    assert [r.prediction for r in recs] == clean  # the inputs_embeds path agrees with it
    assert [r.perturbed_prediction for r in recs] == clean
    assert all(r.status != "successful" for r in recs)


def test_loss_does_not_decrease_on_average(wrapper):
    inputs = wrapper.encode([e.text for e in EXAMPLES])
    labels = torch.tensor([e.label for e in EXAMPLES])
    emb, direction, logits = perturbation(wrapper, inputs, labels)
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    base = F.cross_entropy(logits, labels, reduction="none")
    for eps in (0.01, 0.05):
        with torch.no_grad():
            adv = wrapper.model(inputs_embeds=emb + eps * direction, **rest).logits
        assert F.cross_entropy(adv, labels, reduction="none").mean() >= base.mean() - 1e-6


def test_grid_shares_one_gradient_and_accuracy_never_rises(wrapper):
    grid = fgsm_grid(wrapper, EXAMPLES, [0.0, 0.01, 0.5])
    assert set(grid) == {0.0, 0.01, 0.5}
    acc = {e: sum(r.status == "failed" for r in recs) for e, recs in grid.items()}
    clean = sum(r.prediction == r.label for r in grid[0.0])
    assert acc[0.0] == clean and acc[0.5] <= clean and acc[0.01] <= clean
    assert all(r.queries == 4 for r in grid[0.01])


def test_parameters_get_no_grad(wrapper):
    fgsm_attack(wrapper, EXAMPLES[:4])
    assert all(p.grad is None for p in wrapper.model.parameters())


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_epsilon(bad):
    with pytest.raises(ConfigError, match="epsilon"):
        check_epsilon(bad)
