"""The joint scorer loss of a multimodal classifier (eq. 3.5), as a pure function."""

import pytest
import torch
from torch.nn import functional as F

from hf_ssxai import InvalidInputError
from hf_ssxai.training import joint_scorer_loss, scorer_loss


def _example(all_masked_margin: float = 2.0):
    """Two samples, two classes; a 3-token text map (one token invalid in sample 1) and a 2x2 image map."""
    full = torch.tensor([[0.0, 6.0], [6.0, 0.0]])
    masked = {
        "all": torch.tensor([[0.0, all_masked_margin], [all_masked_margin, 0.0]], requires_grad=True),
        "text": torch.tensor([[0.0, 5.0], [5.0, 0.0]], requires_grad=True),
        "image": torch.tensor([[0.0, 4.0], [4.0, 0.0]], requires_grad=True),
    }
    scores = {
        "text": torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.7]], requires_grad=True),
        "image": torch.tensor([[[1.0, 0.0], [0.0, 0.5]], [[0.0, 0.0], [1.0, 1.0]]], requires_grad=True),
    }
    masks = {
        "text": torch.tensor([[True, True, True], [True, True, False]]),
        "image": torch.ones(2, 2, 2, dtype=torch.bool),
    }
    return masked, full, scores, masks, torch.tensor([1, 0])


def _penalty(scores, mask):
    values = scores[mask]
    return values.mean() ** 2 + ((values * (1 - values)) ** 2).mean()


def test_joint_loss_matches_a_hand_computation():
    masked, full, scores, masks, labels = _example()
    out = joint_scorer_loss(masked, full, scores, masks, labels)
    ce = lambda logits: F.cross_entropy(logits, labels, reduction="none")  # noqa: E731
    delta = ce(masked["all"]) - ce(full)
    gamma = torch.where(delta > 1, 1 / delta, torch.ones_like(delta))
    penalties = torch.stack([sum(_penalty(scores[m][i], masks[m][i]) for m in ("text", "image")) for i in range(2)])
    expected = (ce(masked["all"]) + ce(masked["text"]) + ce(masked["image"]) + gamma * penalties).mean()
    assert torch.allclose(out.loss, expected)
    assert torch.allclose(out.delta, delta)
    assert torch.allclose(out.task_loss, ce(masked["all"]))
    assert torch.allclose(out.modality_terms["text"].task_loss, ce(masked["text"]))
    assert torch.allclose(out.modality_terms["image"].delta, ce(masked["image"]) - ce(full))
    # the mean score averages the modalities' own means (sample 1's invalid token does not count)
    assert torch.allclose(out.mean_score[1], torch.tensor(((0 + 1) / 2 + 2 / 4) / 2))


def test_gamma_comes_from_the_input_with_every_modality_masked():
    """The alone-masked inputs keep the prediction (small delta), the all-masked one does not: gamma follows it."""
    masked, full, scores, masks, labels = _example(all_masked_margin=-4.0)
    out = joint_scorer_loss(masked, full, scores, masks, labels)
    assert (out.delta > 1).all()
    assert torch.allclose(out.gamma, 1 / out.delta)
    for terms in out.modality_terms.values():
        assert (terms.delta < 1).all()
        assert torch.equal(terms.gamma, out.gamma)


def test_gamma_is_one_when_masking_helps_and_carries_no_gradient():
    masked, full, scores, masks, labels = _example(all_masked_margin=9.0)  # masked beats the full input: delta < 0
    out = joint_scorer_loss(masked, full, scores, masks, labels)
    assert (out.delta < 0).all() and torch.equal(out.gamma, torch.ones(2))
    out.loss.backward()
    assert masked["all"].grad is not None and masked["text"].grad is not None and masked["image"].grad is not None
    assert scores["text"].grad.abs().sum() > 0 and scores["image"].grad.abs().sum() > 0
    assert scores["text"].grad[1, 2] == 0  # an invalid feature gets no gradient


@pytest.mark.parametrize(
    ("switches", "kept"),
    [
        ({"use_magnitude_penalty": False}, "binary"),
        ({"use_binary_penalty": False}, "magnitude"),
        ({"use_magnitude_penalty": False, "use_binary_penalty": False}, None),
    ],
)
def test_penalty_switches_act_on_both_maps(switches, kept):
    masked, full, scores, masks, labels = _example()
    out = joint_scorer_loss(masked, full, scores, masks, labels, **switches)
    tasks = out.task_loss + sum(t.task_loss for t in out.modality_terms.values())
    penalty = {"binary": out.binary_penalty, "magnitude": out.magnitude_penalty, None: 0.0}[kept]
    assert torch.allclose(out.loss, (tasks + out.gamma * penalty).mean())


def test_one_modality_alone_reduces_to_eq_3_4_plus_its_alone_term():
    """With one modality the all-masked and alone-masked inputs coincide: eq. 3.4 plus that task loss once more."""
    masked, full, scores, masks, labels = _example()
    single = joint_scorer_loss(
        {"all": masked["text"], "text": masked["text"]}, full, {"text": scores["text"]}, {"text": masks["text"]}, labels
    )
    plain = scorer_loss(masked["text"], full, scores["text"], masks["text"], labels)
    assert torch.allclose(single.loss, plain.loss + plain.task_loss.mean())


def test_mismatched_modalities_are_refused():
    masked, full, scores, masks, labels = _example()
    with pytest.raises(InvalidInputError, match="masked logits for 'all' and each modality"):
        joint_scorer_loss({"all": masked["all"], "text": masked["text"]}, full, scores, masks, labels)
    with pytest.raises(InvalidInputError, match="one feature mask per modality"):
        joint_scorer_loss(masked, full, scores, {"text": masks["text"]}, labels)
