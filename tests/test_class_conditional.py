"""A class-conditional scorer explains any class: the class is an input, and training teaches it to find that
class's evidence when several classes are present (planted coloured squares in a 2x2 grid)."""

import pytest
import torch
from datasets import Dataset
from huggingface_hub.errors import StrictDataclassError

from hf_ssxai import AutoModelWithScorer, ClassDistribution, InvalidInputError, ScorerConfig, ScorerTrainer
from hf_ssxai.data.synthetic import as_batch, planted_image_dataset
from hf_ssxai.evaluation import grid_pointing_game, make_grids
from hf_ssxai.explainers import get_explainer
from hf_ssxai.targets import draw_training_classes
from tests.helpers import tiny_image_classifier, tiny_text_classifier, training_args

CONDITIONAL = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "class_conditional": True}


def _with_random_conditioning(model):
    """The conditioning starts at zero (the unconditioned scorer); give it weights as training would."""
    torch.manual_seed(1)
    for module in model.scorer.modules():
        if isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=1.0)
    return model.eval()


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_image_conditioning_changes_the_map_per_class(family):
    torch.manual_seed(0)
    classifier = tiny_image_classifier(family, num_labels=4)
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(**CONDITIONAL))
    assert model.scorer_config.num_labels == 4
    pixel_values = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        untrained = [model(pixel_values=pixel_values, target_class=c).attributions for c in range(4)]
    assert all(torch.equal(untrained[0], other) for other in untrained[1:]), "zero conditioning = unconditioned"
    _with_random_conditioning(model)
    with torch.no_grad():
        maps = [model(pixel_values=pixel_values, target_class=c) for c in range(4)]
    assert not torch.allclose(maps[0].attributions, maps[1].attributions)
    assert maps[2].target_class.tolist() == [2, 2]
    # the prediction is the classifier's, whatever the class explained
    assert torch.equal(maps[0].logits, maps[3].logits)
    # by default it explains the prediction
    with torch.no_grad():
        default = model(pixel_values=pixel_values)
    assert torch.equal(default.target_class, default.logits.argmax(-1))


def test_text_conditioning_changes_the_map_and_reloads_bit_identically(word_tokenizer, tmp_path):
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(word_tokenizer), num_labels=3)
    model = _with_random_conditioning(
        AutoModelWithScorer.from_classifier(classifier, ScorerConfig(**CONDITIONAL), processor=word_tokenizer)
    )
    inputs = word_tokenizer(["the film was great", "a boring plot"], return_tensors="pt", padding=True)
    with torch.no_grad():
        first, second = (model(**inputs, target_class=c).attributions for c in (0, 2))
    assert not torch.allclose(first, second)
    model.save_pretrained(tmp_path / "model")
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "model").eval()
    assert reloaded.scorer_config.class_conditional
    with torch.no_grad():
        assert torch.equal(reloaded(**inputs, target_class=2).attributions, second)


def test_target_class_errors_are_clear():
    classifier = tiny_image_classifier("resnet", num_labels=4)
    plain = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=16, num_hidden_layers=1))
    with pytest.raises(InvalidInputError, match="class_conditional"):
        plain(pixel_values=torch.randn(1, 3, 16, 16), target_class=1)
    conditional = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(**CONDITIONAL))
    with pytest.raises(InvalidInputError, match="out of range"):
        conditional(pixel_values=torch.randn(2, 3, 16, 16), target_class=4)
    with pytest.raises(InvalidInputError, match="one per sample"):
        conditional(pixel_values=torch.randn(2, 3, 16, 16), target_class=torch.tensor([0, 1, 2]))
    with pytest.raises(StrictDataclassError, match="class_conditional needs target"):
        ScorerConfig(class_conditional=True, target="distribution")


def test_training_draws_the_reference_half_the_time_and_probable_others():
    torch.manual_seed(0)
    reference = torch.zeros(20000, dtype=torch.long)
    logits = torch.tensor([5.0, 2.0, 1.0, -10.0]).log_softmax(-1).expand(20000, 4)
    drawn = draw_training_classes(reference, logits)
    counts = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert abs(counts[0] - 0.5) < 0.02
    others = torch.tensor([2.0, 1.0, -10.0]).softmax(-1) * 0.5
    assert torch.allclose(counts[1:], others, atol=0.02), "other classes in proportion to the classifier's belief"


@pytest.fixture(scope="module")
def squares_on_grids(planted_resnet, tmp_path_factory):
    """The planted-squares ResNet (4 colours) with a class-conditional scorer trained on 2x2 grids of its data."""
    torch.manual_seed(0)
    classifier = planted_resnet[0].classifier
    train = planted_image_dataset(1500, seed=0, num_classes=4)
    batch = as_batch(train, ("pixel_values", "label"))
    grids = make_grids(batch["pixel_values"], batch["label"], 1200, seed=3)
    pick = torch.randint(4, (1200,), generator=torch.Generator().manual_seed(0))
    grid_train = Dataset.from_dict(
        {"pixel_values": grids.pixel_values.numpy(), "label": grids.tile_classes[torch.arange(1200), pick].numpy()}
    ).with_format("torch")
    config = ScorerConfig(hidden_size=32, num_hidden_layers=1, class_conditional=True)
    model = AutoModelWithScorer.from_classifier(classifier, config)
    args = training_args(tmp_path_factory.mktemp("conditional"), num_train_epochs=4)
    ScorerTrainer(model=model, args=args, train_dataset=grid_train).train()
    test = as_batch(planted_image_dataset(200, seed=1, num_classes=4), ("pixel_values", "label"))
    return model.eval(), make_grids(test["pixel_values"], test["label"], 40, seed=5)


def test_conditional_scorer_points_at_the_tile_of_the_class_asked_for(squares_on_grids):
    model, grids = squares_on_grids
    scores = grid_pointing_game(get_explainer("scorer", model), grids)
    # 0.25 is what a map blind to the class gets; the planted squares are the only evidence
    assert scores.mean() > 0.45, f"grid pointing game {scores.mean():.2f}"
    with torch.no_grad():
        out = model(pixel_values=grids.pixel_values, target_class=grids.tile_classes[:, 0])
    top = out.attributions.flatten(1).argmax(1)
    hits = grids.tile_masks[:, 0].flatten(1).gather(1, top[:, None]).float().mean()
    assert hits > 0.5, f"the maximum lies in the asked-for tile on only {hits:.0%} of grids"
    wrapped = grid_pointing_game(ClassDistribution(get_explainer("scorer", model)), grids)
    assert wrapped.mean() > 0.45


def test_plain_scorer_warns_once_that_it_explains_the_prediction_only(caplog):
    torch.manual_seed(0)
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet", num_labels=4), ScorerConfig()).eval()
    explainer = get_explainer("scorer", model)
    pixel_values = {"pixel_values": torch.randn(3, 3, 16, 16)}
    prediction = model(**pixel_values).logits.argmax(-1)
    for _ in range(3):
        out = explainer.attribute(pixel_values, target=(prediction + 1) % 4)
    assert torch.equal(out.attributions, explainer.attribute(pixel_values).attributions)  # the same map
    assert sum("explains the prediction" in record.message for record in caplog.records) == 1
