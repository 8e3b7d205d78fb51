"""The grid pointing game, the map similarities and the randomization sanity checks."""

import pytest
import torch

from hf_ssxai import AutoModelWithScorer, InvalidInputError, ScorerConfig, UnsupportedClassifierError
from hf_ssxai.checkpoint import fingerprint
from hf_ssxai.evaluation import (
    SanityCheckResult,
    average_ranks,
    cascading_randomization,
    data_randomization,
    grid_pointing_game,
    make_grids,
    randomization_steps,
    randomize_,
    spearman,
    ssim,
    step_parameters,
    tile_shares,
)
from hf_ssxai.explainers import Explainer, get_explainer
from tests.helpers import tiny_image_classifier, tiny_text_classifier
from tests.multimodal_helpers import random_images, tiny_fusion_classifier, tiny_fusion_processor


def _pool(count=40, classes=5, side=8):
    pixel_values = torch.arange(count * 3 * side * side, dtype=torch.float32).view(count, 3, side, side)
    return pixel_values, torch.arange(count) % classes


def test_grids_hold_four_distinct_classes_with_their_source_images_in_place():
    pixel_values, labels = _pool()
    grids = make_grids(pixel_values, labels, 6, seed=0)
    assert grids.pixel_values.shape == (6, 3, 16, 16)
    for grid, classes, masks, sources in zip(
        grids.pixel_values, grids.tile_classes, grids.tile_masks, grids.source_indices, strict=True
    ):
        assert len(set(classes.tolist())) == 4
        assert torch.equal(labels[sources], classes)
        assert torch.equal(masks.sum(0), torch.ones(16, 16, dtype=torch.long))  # the tiles partition the grid
        for tile, source in enumerate(sources):
            inside = grid[:, masks[tile]].view(3, 8, 8)
            assert torch.equal(inside, pixel_values[source]), "each tile is its source image, unchanged"
    smaller = make_grids(pixel_values, labels, 2, grid_size=8)
    assert smaller.pixel_values.shape == (2, 3, 8, 8)  # a grid at the classifier's own size: tiles shrunk
    assert torch.equal(make_grids(pixel_values, labels, 6, seed=0).pixel_values, grids.pixel_values)


def test_grid_errors_are_clear():
    pixel_values, labels = _pool()
    with pytest.raises(InvalidInputError, match="distinct classes"):
        make_grids(pixel_values, labels % 3, 2)
    with pytest.raises(InvalidInputError, match="square"):
        make_grids(pixel_values[..., :6], labels, 2)
    with pytest.raises(InvalidInputError, match="even"):
        make_grids(pixel_values, labels, 2, grid_size=9)
    with pytest.raises(InvalidInputError, match="NaN"):
        tile_shares(torch.full((1, 4, 4), float("nan")), torch.ones(1, 4, 4, dtype=torch.bool))


def test_tile_share_counts_positive_attribution_only():
    maps = torch.tensor([[[3.0, 1.0], [-5.0, 0.0]], [[-1.0, -1.0], [-1.0, -1.0]]])
    tile = torch.tensor([[True, False], [False, False]]).expand(2, 2, 2)
    assert torch.allclose(tile_shares(maps, tile), torch.tensor([0.75, 0.0]))  # no positive mass points nowhere


class _Oracle(Explainer):
    """Positive only on the tile of the asked-for class: what a perfect method returns on these grids."""

    name = "oracle"
    grids = None

    def _attribute(self, inputs, feature_mask, target):
        logits = self.classifier(pixel_values=inputs["pixel_values"]).logits
        maps = torch.zeros(feature_mask.shape)
        for index, (grid_pixels, wanted) in enumerate(zip(inputs["pixel_values"], target, strict=True)):
            grid = next(i for i, g in enumerate(self.grids.pixel_values) if torch.equal(g, grid_pixels))
            tile = (self.grids.tile_classes[grid] == wanted).nonzero().item()
            maps[index] = self.grids.tile_masks[grid, tile].float()
        return maps, logits


class _Blind(Explainer):
    """The same map whatever the class: a uniform map scores exactly a quarter."""

    name = "blind"

    def _attribute(self, inputs, feature_mask, target):
        return torch.ones(feature_mask.shape), self.classifier(pixel_values=inputs["pixel_values"]).logits


def test_grid_pointing_game_scores_a_perfect_and_a_blind_method():
    torch.manual_seed(0)
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet", num_labels=5), ScorerConfig())
    grids = make_grids(torch.randn(30, 3, 8, 8), torch.arange(30) % 5, 5, seed=1)
    oracle = _Oracle(model)
    oracle.grids = grids
    assert torch.equal(grid_pointing_game(oracle, grids, batch_size=3), torch.ones(5, 4))
    assert torch.allclose(grid_pointing_game(_Blind(model), grids), torch.full((5, 4), 0.25))


def test_spearman_uses_average_ranks_and_ssim_sees_structure():
    assert average_ranks(torch.tensor([3.0, 1.0, 1.0, 0.0])).tolist() == [3.0, 1.5, 1.5, 0.0]
    mask = torch.ones(1, 5, dtype=torch.bool)
    a = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    assert spearman(a, 2 * a + 1, mask).item() == pytest.approx(1.0)
    assert spearman(a, -a, mask).item() == pytest.approx(1.0), "magnitudes are compared, not signs"
    assert spearman(a, 4 - a, mask).item() == pytest.approx(-1.0)
    # by hand: ranks [0,1,2,3,4] vs [0,1,3,2,4] -> 1 - 6*2/(5*24) = 0.9
    assert spearman(a, torch.tensor([[0.0, 1.0, 3.0, 2.0, 4.0]]), mask).item() == pytest.approx(0.9)
    assert spearman(a, torch.ones(1, 5), mask).item() == 0.0, "a constant map shares no ranking"
    image = torch.rand(2, 16, 16)
    assert torch.allclose(ssim(image, 3 * image), torch.ones(2), atol=1e-5)
    assert (ssim(image, torch.rand(2, 16, 16)) < 0.5).all()
    with pytest.raises(InvalidInputError):
        spearman(a, torch.ones(1, 4), mask)


@pytest.mark.parametrize(
    "classifier, first_block",
    [
        (lambda: tiny_image_classifier("vit"), "ViTLayer"),
        (lambda: tiny_image_classifier("resnet"), "ResNetStage"),
        (lambda: tiny_text_classifier("bert", 30), "BertLayer"),
    ],
)
def test_randomization_runs_top_down_over_every_parameter(classifier, first_block):
    classifier = classifier()
    steps = randomization_steps(classifier)
    names = [name for name, _ in steps]
    assert names == ["head", "block 1", "block 0", "embeddings"]
    assert type(steps[1][1][0]).__name__ == first_block
    assert_each_parameter_in_one_step(classifier, steps)
    head = steps[0][1]
    before = [p.clone() for p in step_parameters(head)]
    randomize_(head, torch.Generator().manual_seed(0))
    assert any(not torch.equal(b, a) for b, a in zip(before, step_parameters(head), strict=True))
    with pytest.raises(UnsupportedClassifierError):
        randomization_steps(torch.nn.Linear(2, 2))


def assert_each_parameter_in_one_step(classifier, steps):
    per_step = [{id(p) for p in step_parameters(items)} for _, items in steps]
    assert sum(map(len, per_step)) == len(set().union(*per_step)), "no parameter in two steps"
    assert set().union(*per_step) == {id(p) for p in classifier.parameters()}, "every parameter in a step"


@pytest.mark.parametrize(
    "vision, tower_steps",
    [
        ("vit", ["text block 1 + vision block 1", "text block 0 + vision block 0"]),
        ("resnet", ["text block 1 + vision block 1", "text block 0 + vision block 0"]),
    ],
)
def test_a_fusion_classifier_is_randomized_from_the_fusion_down_both_encoders_at_once(
    word_tokenizer, vision, tower_steps
):
    classifier = tiny_fusion_classifier(len(word_tokenizer), vision=vision)
    steps = randomization_steps(classifier)
    names = [name for name, _ in steps]
    assert names == ["head", "fusion block 0", "fusion inputs", *tower_steps, "embeddings"]
    assert_each_parameter_in_one_step(classifier, steps)
    fusion = classifier.fusion
    assert {id(p) for p in step_parameters(steps[0][1])} >= {id(p) for p in fusion.norm.parameters()}
    inputs = {id(p) for p in step_parameters(steps[2][1])}
    assert id(fusion.fusion_token) in inputs and id(fusion.text_projection.weight) in inputs
    text_block, vision_block = steps[3][1]
    assert text_block is fusion.text_model.encoder.layer[1]
    embeddings = {id(p) for p in step_parameters(steps[-1][1])}
    assert id(fusion.text_model.embeddings.word_embeddings.weight) in embeddings


def test_cascading_randomization_of_a_text_image_model_gives_one_row_per_map(word_tokenizer):
    torch.manual_seed(0)
    processor = tiny_fusion_processor(word_tokenizer)
    classifier = tiny_fusion_classifier(len(word_tokenizer), vision="resnet")
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=processor).eval()
    batch = dict(processor(text=["the movie was great", "a film with a plot"], images=random_images(2)))
    result = cascading_randomization(model, [batch], ["scorer", "saliency"], seed=0)
    rows = ["scorer (text)", "scorer (image)", "saliency (text)", "saliency (image)"]
    assert result.methods == rows
    assert result.steps[:3] == ["original", "head", "fusion block 0"]
    assert all(result.mean("original", row) == pytest.approx(1.0) for row in rows)
    assert result.mean("embeddings", "saliency (image)") < 0.9, "saliency follows the randomized weights"
    assert len(result.values["head"]["saliency (image)"]["ssim"]) == 2
    assert "ssim" not in result.values["head"]["saliency (text)"], "SSIM is for image maps only"
    assert "| embeddings |" in result.to_markdown()


def test_cascading_randomization_changes_gradients_but_not_a_scorer_that_ignores_the_head(planted_resnet):
    model, test = planted_resnet
    batch = {"pixel_values": torch.as_tensor(test[:24]["pixel_values"])}
    before = fingerprint(model.classifier)
    retrained = []
    result = cascading_randomization(
        model, [batch], ["scorer", "saliency"], retrain_scorer=lambda m: retrained.append(m), seed=0
    )
    assert fingerprint(model.classifier) == before, "the model itself is left untouched"
    assert result.steps == ["original", "head", "block 1", "block 0", "embeddings"]
    assert result.mean("original", "saliency") == pytest.approx(1.0)
    assert result.mean("embeddings", "saliency") < 0.8, "saliency follows the randomized weights"
    # the scorer reads hidden states, not the head: randomizing only the head leaves its map as it was
    assert result.mean("head", "scorer") == pytest.approx(1.0)
    assert len(retrained) == 4 and "scorer (retrained)" in result.values["head"]
    assert all(fingerprint(m.scorer) != fingerprint(model.scorer) for m in retrained), "a fresh scorer each step"
    assert len(result.values["head"]["saliency"]["ssim"]) == 24
    assert "| head |" in result.to_markdown()


def test_data_randomization_compares_one_architecture(planted_resnet, planted_vit, tmp_path):
    model, test = planted_resnet
    batch = {"pixel_values": torch.as_tensor(test[:8]["pixel_values"])}
    same = data_randomization(model, model, [batch], ["saliency"])
    assert same.mean("shuffled labels", "saliency") == pytest.approx(1.0)
    same.to_json(tmp_path / "r.json")
    assert SanityCheckResult.from_json(tmp_path / "r.json").values == same.values
    with pytest.raises(InvalidInputError, match="differ"):
        data_randomization(model, planted_vit[0], [batch], ["saliency"])


def test_scorer_explainer_passes_the_target_to_a_conditional_scorer():
    torch.manual_seed(0)
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, class_conditional=True)
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet", num_labels=4), config).eval()
    for module in model.scorer.modules():
        if isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight)
    explainer = get_explainer("scorer", model)
    pixel_values = {"pixel_values": torch.randn(2, 3, 16, 16)}
    maps = [explainer.attribute(pixel_values, target=c).attributions for c in (0, 3)]
    assert not torch.allclose(*maps)
    with torch.no_grad():
        assert torch.equal(maps[1], model(**pixel_values, target_class=3).attributions)
