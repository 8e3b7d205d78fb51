"""One model, several threads (issue 19, group 21): explainers that install hooks or switch the attention
implementation do it on a twin that shares the classifier's weights, so a thread running the same model meanwhile
(a pipeline, a server) gets bit-identical outputs, and the explainer gets the maps it gets alone."""

from __future__ import annotations

import threading

import pytest
import torch

from hf_ssxai import AutoModelWithScorer
from hf_ssxai.explainers import get_explainer
from hf_ssxai.explainers.base import weight_sharing_twin
from tests.checkpoint_helpers import SMALL
from tests.helpers import tiny_image_classifier

#: the explainers that change the classifier while they run, and the family each applies to
CHANGING = {"agf": "resnet", "transformer_relevance": "vit", "guided_backprop": "vit", "deeplift": "vit"}


def _model(family: str) -> AutoModelWithScorer:
    torch.manual_seed(0)
    return AutoModelWithScorer.from_classifier(tiny_image_classifier(family), SMALL).eval()


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in module.modules())


@pytest.mark.parametrize("name", CHANGING)
def test_an_explainer_that_changes_the_classifier_never_disturbs_another_thread(name):
    model = _model(CHANGING[name])
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    explainer = get_explainer(name, model)
    with torch.no_grad():
        reference_logits = model(pixel_values=pixels).logits
    reference_map = explainer.attribute({"pixel_values": pixels}).attributions
    attention = model.classifier.config._attn_implementation
    hooks = _hooks(model.classifier)

    stop, outputs, errors = threading.Event(), [], []

    def serve() -> None:  # another user of the same model, running forwards without pause
        try:
            while not stop.is_set():
                with torch.no_grad():
                    outputs.append(model(pixel_values=pixels).logits)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    server = threading.Thread(target=serve)
    server.start()
    try:
        maps = [explainer.attribute({"pixel_values": pixels}).attributions for _ in range(8)]
    finally:
        stop.set()
        server.join()
    assert not errors, errors
    assert outputs and all(torch.equal(logits, reference_logits) for logits in outputs)
    assert all(torch.equal(found, reference_map) for found in maps)
    assert model.classifier.config._attn_implementation == attention and _hooks(model.classifier) == hooks


def test_a_twin_shares_every_weight_and_keeps_its_own_config():
    classifier = _model("vit").classifier
    twin = weight_sharing_twin(classifier)
    assert all(a is b for a, b in zip(classifier.parameters(), twin.parameters(), strict=True))
    assert all(a is b for a, b in zip(classifier.buffers(), twin.buffers(), strict=True))
    twin.set_attn_implementation("eager")
    assert twin.config is not classifier.config and twin.config._attn_implementation == "eager"
    assert classifier.config._attn_implementation != "eager"
