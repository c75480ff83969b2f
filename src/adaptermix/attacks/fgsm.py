"""FGSM on input word embeddings (Goodfellow et al. 2015), the paper's white-box attack (ε = 0.01).

x_emb' = x_emb + ε · sign(∇_{x_emb} L(f(x), y)) on the *word* embeddings only: the model is fed
`inputs_embeds`, so its position and token-type embeddings are added afterwards, unperturbed.
Padding positions are never perturbed. One forward + backward per batch gives the gradient (and
the clean prediction); one more forward per ε scores the perturbed input. The gradient is taken
with `torch.autograd.grad`, so no parameter's `.grad` is touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from adaptermix.attacks.results import AttackRecord, Example, check_examples, status_of
from adaptermix.attacks.wrapper import ModelWrapper
from adaptermix.errors import ConfigError

DEFAULT_EPSILON = 0.01


def check_epsilon(epsilon: float) -> float:
    """Refuse a negative or non-finite ε (ConfigError); return it as a float."""
    eps = float(epsilon)
    if not math.isfinite(eps) or eps < 0:
        raise ConfigError(f"--epsilon {epsilon}: FGSM needs a finite epsilon >= 0 (the paper uses 0.01)")
    return eps


def perturbation(
    wrapper: ModelWrapper, inputs: dict[str, torch.Tensor], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Word embeddings, the sign of the loss gradient on them (zero on padding), and clean logits.

    Args:
        wrapper: the model (adapter and head active).
        inputs: tokenized batch (`input_ids`, `attention_mask`, ...).
        labels: true labels, shape (batch,).

    Returns:
        (embeddings (b, t, h), direction (b, t, h) in {-1, 0, 1}, clean logits (b, c)).
    """
    model = wrapper.model
    embed = model.get_input_embeddings()
    mask = inputs["attention_mask"]
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    with torch.enable_grad():
        emb = embed(inputs["input_ids"]).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb, **rest).logits
        # Summed, not averaged: each example's gradient is its own loss's, whatever the batch.
        loss = F.cross_entropy(logits.float(), labels.to(logits.device), reduction="sum")
        (grad,) = torch.autograd.grad(loss, emb)
    direction = grad.sign() * mask.unsqueeze(-1).to(grad.dtype)
    return emb.detach(), direction, logits.detach()


def fgsm_grid(
    wrapper: ModelWrapper, examples: Sequence[Example], epsilons: Sequence[float], batch_size: int = 32
) -> dict[float, list[AttackRecord]]:
    """FGSM at each ε of a grid, reusing one gradient per batch (a robustness curve).

    Args:
        wrapper: the model to attack (its adapter and head already loaded).
        examples: the inputs; pairs are encoded as pairs and both texts' embeddings perturbed.
        epsilons: step sizes (each finite and >= 0).
        batch_size: examples per forward + backward.

    Returns:
        ε -> one record per example (in order). `queries` is the model passes spent on the
        example: 1 forward+backward plus 1 forward per ε.
    """
    eps_list = [check_epsilon(e) for e in epsilons]
    check_examples(examples)
    out: dict[float, list[AttackRecord]] = {e: [] for e in eps_list}
    model = wrapper.model
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            pairs = [e.text_pair or "" for e in chunk] if chunk[0].text_pair is not None else None
            inputs = wrapper.encode([e.text for e in chunk], pairs)
            labels = torch.tensor([e.label for e in chunk])
            emb, direction, clean_logits = perturbation(wrapper, inputs, labels)
            clean = clean_logits.argmax(-1).tolist()
            rest = {k: v for k, v in inputs.items() if k != "input_ids"}
            n_words = inputs["attention_mask"].sum(1).tolist()
            wrapper.forwards += 1
            wrapper.queries += len(chunk)
            for eps in eps_list:
                with torch.inference_mode():
                    adv = model(inputs_embeds=emb + eps * direction, **rest).logits.argmax(-1).tolist()
                wrapper.forwards += 1
                wrapper.queries += len(chunk)
                for e, p, q, w in zip(chunk, clean, adv, n_words, strict=True):
                    out[eps].append(AttackRecord(
                        text=e.text, text_pair=e.text_pair, perturbed_text=None, label=e.label, prediction=p,
                        perturbed_prediction=q, swaps=[], queries=1 + len(eps_list), words=int(w),
                        perturbed_words=int(w) if eps > 0 else 0, status=status_of(e.label, p, q)))
    finally:
        model.train(was_training)
    return out


def fgsm_attack(
    wrapper: ModelWrapper, examples: Sequence[Example], epsilon: float = DEFAULT_EPSILON, batch_size: int = 32
) -> list[AttackRecord]:
    """FGSM at one ε (Goodfellow et al. 2015; the paper's white-box setting uses ε = 0.01).

    `words` and `perturbed_words` count tokens: every non-pad token's embedding moves.
    """
    return fgsm_grid(wrapper, examples, [epsilon], batch_size)[check_epsilon(epsilon)]
