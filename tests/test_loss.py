"""The scorer loss (eq. 3.4) and the head, as pure functions."""

import pytest
import torch

from hf_ssxai import InvalidInputError
from hf_ssxai.configuration import ScorerConfig
from hf_ssxai.scorers import ScorerHead, masked_min_max
from hf_ssxai.scorers.head import keep_top_alive
from hf_ssxai.training import calibration_weight, scorer_loss


def test_gamma_is_one_up_to_delta_one_and_inverse_above():
    delta = torch.tensor([-3.0, -0.1, 0.0, 0.5, 1.0, 2.0, 4.0])
    expected = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.25])
    assert torch.equal(calibration_weight(delta), expected)


def test_gamma_carries_no_gradient():
    delta = torch.tensor([3.0], requires_grad=True)
    assert not calibration_weight(delta).requires_grad


def _example():
    # two samples, three classes, four features; sample 1 has its last feature invalid
    masked_logits = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    full_logits = torch.tensor([[0.0, 5.0, 0.0], [3.0, 0.0, 0.0]])
    scores = torch.tensor([[0.5, 1.0, 0.0, 0.5], [1.0, 0.0, 0.0, 0.9]], requires_grad=True)
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    labels = torch.tensor([1, 0])
    return masked_logits, full_logits, scores, mask, labels


def test_loss_matches_a_hand_computation():
    masked_logits, full_logits, scores, mask, labels = _example()
    out = scorer_loss(masked_logits, full_logits, scores, mask, labels)
    ce = lambda logits, y: -torch.log_softmax(logits, -1)[y]  # noqa: E731
    task = torch.stack([ce(masked_logits[0], 1), ce(masked_logits[1], 0)])
    full = torch.stack([ce(full_logits[0], 1), ce(full_logits[1], 0)])
    delta = task - full
    gamma = torch.where(delta > 1, 1 / delta, torch.ones_like(delta))
    mean0, mean1 = (0.5 + 1 + 0 + 0.5) / 4, (1 + 0 + 0) / 3
    binary0 = ((0.25**2) * 2) / 4  # (0.5 * 0.5)^2 for the two 0.5 scores
    binary1 = 0.0
    expected = (task + gamma * torch.tensor([mean0**2 + binary0, mean1**2 + binary1])).mean()
    assert torch.allclose(out.loss, expected)
    assert torch.allclose(out.delta, delta.detach())
    assert torch.allclose(out.mean_score, torch.tensor([mean0, mean1]))


def test_invalid_features_do_not_count():
    masked_logits, full_logits, scores, mask, labels = _example()
    changed = scores.detach().clone()
    changed[1, 3] = 0.0  # an invalid feature
    a = scorer_loss(masked_logits, full_logits, scores, mask, labels).loss
    b = scorer_loss(masked_logits, full_logits, changed, mask, labels).loss
    assert torch.equal(a, b)


def test_gradient_treats_gamma_as_a_constant():
    masked_logits, full_logits, scores, mask, labels = _example()
    out = scorer_loss(masked_logits, full_logits, scores, mask, labels)
    out.loss.backward()
    # d loss / d scores = gamma_i * d(penalty_i)/d scores / batch, with gamma fixed
    s = scores.detach()
    valid = mask.float()
    count = valid.sum(1, keepdim=True)
    mean = (s * valid).sum(1, keepdim=True) / count
    d_magnitude = 2 * mean / count
    d_binary = 2 * s * (1 - s) * (1 - 2 * s) / count
    expected = out.gamma[:, None] * (d_magnitude + d_binary) * valid / 2
    assert torch.allclose(scores.grad, expected, atol=1e-6)


def test_switches_remove_their_terms():
    masked_logits, full_logits, scores, mask, labels = _example()
    none = scorer_loss(
        masked_logits, full_logits, scores, mask, labels, use_magnitude_penalty=False, use_binary_penalty=False
    )
    assert torch.allclose(none.loss, none.task_loss.mean())
    no_gamma = scorer_loss(masked_logits, full_logits, scores, mask, labels, use_gamma=False)
    assert torch.equal(no_gamma.gamma, torch.ones(2))


def test_target_modes():
    masked_logits, full_logits, scores, mask, labels = _example()
    with pytest.raises(InvalidInputError, match="target='prediction'"):
        scorer_loss(masked_logits, full_logits, scores, mask, None, target="label")
    prediction = scorer_loss(masked_logits, full_logits, scores, mask, None, target="prediction")
    with_labels = scorer_loss(masked_logits, full_logits, scores, mask, full_logits.argmax(-1))
    assert torch.allclose(prediction.loss, with_labels.loss)
    distribution = scorer_loss(masked_logits, full_logits, scores, mask, None, target="distribution")
    p = torch.softmax(full_logits, -1)
    kl = (p * (torch.log_softmax(full_logits, -1) - torch.log_softmax(masked_logits, -1))).sum(-1)
    assert torch.allclose(distribution.delta, kl.detach(), atol=1e-6)  # task(x) = KL(p || p) = 0


def test_out_of_range_labels_are_refused():
    masked_logits, full_logits, scores, mask, _ = _example()
    with pytest.raises(InvalidInputError, match=r"\[0, 3\)"):
        scorer_loss(masked_logits, full_logits, scores, mask, torch.tensor([0, 7]))


# ---------------------------------------------------------------- head


def test_head_rescales_valid_features_to_unit_range_and_zeroes_the_rest():
    head = ScorerHead(ScorerConfig())
    logits = torch.tensor([[3.0, -1.0, 1.0, 9.0]])
    mask = torch.tensor([[True, True, True, False]])
    scores = head(logits, mask)
    assert scores[0, 3] == 0
    assert scores[0, :3].max() == 1 and scores[0, :3].min() == 0
    assert scores[0, 1] == 0  # negative logit -> ReLU -> the minimum


def test_head_switches():
    logits = torch.tensor([[-2.0, 0.0, 2.0]])
    mask = torch.ones_like(logits, dtype=torch.bool)
    raw = ScorerHead(ScorerConfig(use_relu=False, use_sigmoid=False, use_rescale=False))(logits, mask)
    assert torch.equal(raw, logits)
    sigmoid_only = ScorerHead(ScorerConfig(use_relu=False, use_rescale=False))(logits, mask)
    assert torch.allclose(sigmoid_only, torch.sigmoid(logits))
    relu_sigmoid = ScorerHead(ScorerConfig(use_rescale=False))(logits, mask)
    assert torch.allclose(relu_sigmoid, torch.sigmoid(torch.relu(logits)))


@pytest.mark.parametrize("value", [0.0, 0.5, 7.0, -3.0])
def test_constant_maps_come_out_as_zeros_and_keep_a_gradient(value):
    values = torch.full((2, 5), value, requires_grad=True)
    mask = torch.tensor([[True] * 5, [False] * 5])
    out = masked_min_max(values, mask)
    assert torch.equal(out, torch.zeros(2, 5))  # every feature sits at the minimum; never NaN
    out.sum().backward()
    assert torch.equal(values.grad, torch.ones(2, 5))  # so training can move a constant map again


def test_the_top_feature_is_kept_alive_without_gradient():
    logits = torch.tensor([[-3.0, -2.0, -5.0, 9.0], [0.5, 3.0, 1.0, 2.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    shifted = keep_top_alive(logits, mask)
    assert torch.allclose(shifted[0, :3], torch.tensor([0.0, 1.0, -2.0]))  # top valid logit -2 -> +1
    assert torch.equal(shifted[1], logits[1])  # already alive: unchanged
    shifted.sum().backward()
    assert torch.equal(logits.grad, torch.ones_like(logits))  # the shift itself carries no gradient
    scores = ScorerHead(ScorerConfig())(
        torch.full((1, 4), -7.0) + torch.arange(4.0), torch.ones(1, 4, dtype=torch.bool)
    )
    assert scores.max() == 1 and scores.min() == 0  # an all-negative map still points at its top feature


def test_a_single_valid_feature_scores_one_and_keeps_a_gradient():
    values = torch.tensor([[0.3, 5.0, -2.0], [0.7, 0.7, 0.7]], requires_grad=True)
    mask = torch.tensor([[False, True, False], [True, True, True]])
    out = masked_min_max(values, mask)
    assert out[0, 1] == 1  # the one valid feature is all the evidence there is
    assert torch.equal(out[1], torch.zeros(3))  # constant over several features: none stands out
    out.sum().backward()
    assert values.grad[0, 1] == 1
    scores = ScorerHead(ScorerConfig())(torch.randn(2, 4), torch.tensor([[False, True, False, False]] * 2))
    assert torch.equal(scores, torch.tensor([[0.0, 1.0, 0.0, 0.0]] * 2))  # the head's output too, padding at 0
