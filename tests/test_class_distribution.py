"""ClassDistribution: the formula by hand, one batched call to the base explainer, class sets, bad settings."""

import pytest
import torch

from hf_ssxai import ClassDistribution, InvalidInputError, get_explainer
from hf_ssxai.explainers import Explainer
from tests.checkpoint_helpers import tiny_image_model

PIXELS = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


class PerClassMaps(Explainer):
    """A stand-in base explainer: the map of class c is ``MAPS[c]`` for every sample; counts its calls."""

    name = "per_class"
    MAPS = torch.stack([torch.full((16, 16), value) for value in (0.1, 0.2, 0.3)])

    def __init__(self, model):
        super().__init__(model)
        self.calls = []

    def _attribute(self, inputs, feature_mask, target):
        self.calls.append(target.clone())
        logits = self.classifier(**inputs).logits
        maps = self.MAPS[target].clone()
        maps[target == 1, 0, 0] = 5.0  # one pixel that speaks strongly for class 1 (and weakly for the others)
        return maps, logits


@pytest.fixture(scope="module")
def model():
    return tiny_image_model()


def test_the_formula_by_hand_from_one_batched_call(model):
    base = PerClassMaps(model)
    wrapped = ClassDistribution(base, k=3, temperature=10.0, tau=0.01)  # every class is in the set
    out = wrapped.attribute({"pixel_values": PIXELS}, target=torch.tensor([1, 0]))
    assert len(base.calls) == 1 and base.calls[0].numel() == 2 * 5  # k + 2 = 5 slots x 2 samples, one call

    logits = model.classifier(pixel_values=PIXELS).logits
    for sample, target in enumerate((1, 0)):
        classes = [target] + [c for c in logits[sample].argsort(descending=True).tolist() if c != target]
        maps = torch.stack([PerClassMaps.MAPS[c].clone() for c in classes])
        maps[classes.index(1), 0, 0] = 5.0
        magnitude = maps.abs() / maps.abs().max()
        share = (10.0 * magnitude).softmax(dim=0)[0]
        expected = maps[0] * share * ((share - 1 / len(classes)) > 0.01)
        torch.testing.assert_close(out.attributions[sample], expected)
    assert out.attributions[0, 0, 0] > 0  # class 1's own pixel survives for target 1 ...
    assert out.attributions[1, 0, 0] == 0  # ... and is dropped for target 0 (its raw value 0.1), as it speaks for 1


def test_class_sets_put_the_target_first_and_count_each_class_once(model):
    wrapped = ClassDistribution(get_explainer("saliency", model), k=2)
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    classes, valid = wrapped.class_sets(logits, torch.tensor([0, 1]))
    assert classes.tolist() == [[0, 0, 1, 2], [1, 2, 1, 0]]
    assert valid.tolist() == [[True, False, True, True], [True, True, False, True]]


def test_wrapping_a_captum_method_keeps_shapes_masks_and_finiteness(model):
    base = get_explainer("integrated_gradients", model, n_steps=4)
    out = ClassDistribution(base, k=2, normalize=None).attribute({"pixel_values": PIXELS})
    assert out.attributions.shape == (2, 16, 16) and torch.isfinite(out.attributions).all()
    torch.testing.assert_close(out.target, out.logits.argmax(-1))
    raw = base.attribute({"pixel_values": PIXELS}).attributions
    assert (out.attributions.abs() <= raw.abs() + 1e-6).all()  # a share of each attribution, never more


def test_bad_settings_are_refused(model):
    with pytest.raises(InvalidInputError, match="one class"):
        ClassDistribution(get_explainer("scorer", model))
    saliency = get_explainer("saliency", model)
    for kwargs, match in (({"k": 0}, "k must"), ({"k": 4}, "k must"), ({"temperature": 0}, "temperature"),
                          ({"normalize": "l2"}, "normalize")):  # fmt: skip
        with pytest.raises(InvalidInputError, match=match):
            ClassDistribution(saliency, **kwargs)
    with pytest.raises(InvalidInputError, match="out of range"):
        ClassDistribution(saliency).attribute({"pixel_values": PIXELS}, target=7)
