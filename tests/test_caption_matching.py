"""Image-caption matching data (Flickr8k's layout) and the text-image recipe that trains on it."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, BertConfig, BertModel

from hf_ssxai import AutoModelWithScorer
from hf_ssxai.cli import main
from hf_ssxai.data.preprocess import preprocess
from hf_ssxai.errors import InvalidInputError
from hf_ssxai.training.recipe import freeze, run_classifier_phase, run_scorer_phase
from recipes.caption_matching import caption_matching_dataset, read_captions
from tests.helpers import TINY
from tests.multimodal_helpers import tiny_fusion_processor, tiny_image_processor, tiny_vision_config

WORDS = [
    "the",
    "a",
    "dog",
    "man",
    "runs",
    "on",
    "grass",
    "beach",
    "sits",
    "in",
    "snow",
    "child",
    "plays",
    "with",
    "ball",
]


@pytest.fixture
def captioned_folder(tmp_path):
    """Twelve coloured images with two captions each, in Flickr8k's layout (captions.txt + images/)."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    rows = []
    for index in range(12):
        name = f"{index:03d}.jpg"
        Image.fromarray(rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)).save(tmp_path / "images" / name)
        for _ in range(2):
            rows.append({"image": name, "caption": " ".join(rng.choice(WORDS, size=6)) + " ."})
    with (tmp_path / "captions.txt").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "caption"])
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path


def test_pairs_are_balanced_split_by_image_and_negatives_come_from_other_images(captioned_folder):
    captions = read_captions(captioned_folder / "captions.txt", captioned_folder / "images")
    data = caption_matching_dataset(
        captioned_folder / "captions.txt", captioned_folder / "images", validation_images=2, test_images=3, seed=1
    )
    images_per_split = {}
    for split, dataset in data.items():
        rows = dataset.cast_column("image", dataset.features["image"].__class__(decode=False))
        names = [row["image"]["path"].rsplit("/", 1)[-1] for row in rows]
        images_per_split[split] = set(names)
        labels = list(dataset["label"])
        assert labels.count(1) == labels.count(0) == 2 * len(set(names))
        for name, text, label in zip(names, dataset["text"], labels, strict=True):
            true_caption = text in captions[name]
            assert true_caption == bool(label), f"{split}: {text!r} with {name} labelled {label}"
            if not label:  # a caption of another image of the same split
                assert any(text in captions[other] for other in images_per_split[split] | set(names) - {name})
    assert [len(images_per_split[s]) for s in ("train", "validation", "test")] == [7, 2, 3]
    assert not images_per_split["train"] & (images_per_split["validation"] | images_per_split["test"])
    assert data["train"].features["label"].names == ["mismatch", "match"]


def test_bad_caption_files_and_missing_images_are_named(captioned_folder, tmp_path):
    (captioned_folder / "images" / "003.jpg").unlink()
    with pytest.raises(InvalidInputError, match="not in .*003.jpg"):
        read_captions(captioned_folder / "captions.txt", captioned_folder / "images")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,text\na.jpg,hello\n")
    with pytest.raises(InvalidInputError, match="header 'image,caption'"):
        read_captions(bad, captioned_folder / "images")
    with pytest.raises(InvalidInputError, match="Cannot read"):
        read_captions(tmp_path / "missing.csv", captioned_folder / "images")
    (captioned_folder / "images" / "003.jpg").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="at least 2 images to each split"):
        caption_matching_dataset(
            captioned_folder / "captions.txt", captioned_folder / "images", validation_images=6, test_images=5
        )


@pytest.fixture
def towers(tmp_path, word_tokenizer):
    """A 'pretrained' text tower and vision tower saved with their tokenizer / image processor, as on the Hub."""
    text, vision = tmp_path / "text_tower", tmp_path / "vision_tower"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(word_tokenizer), **TINY)).save_pretrained(text)
    word_tokenizer.save_pretrained(text)
    AutoModel.from_config(tiny_vision_config("resnet")).save_pretrained(vision)
    tiny_image_processor().save_pretrained(vision)
    return text, vision


def test_a_text_image_recipe_trains_a_fusion_classifier_and_its_scorers(captioned_folder, towers, tmp_path):
    data = caption_matching_dataset(
        captioned_folder / "captions.txt", captioned_folder / "images", validation_images=2, test_images=2
    )
    data.save_to_disk(tmp_path / "pairs")
    text, vision = towers
    training = {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-3,
        "save_strategy": "no",
        "logging_steps": 1,
    }
    recipe = {
        "modality": "text-image",
        "data": {
            "path": str(tmp_path / "pairs"),
            "from_disk": True,
            "text_column": "text",
            "image_column": "image",
            "splits": {"train": "train", "validation": "validation"},
        },
        "max_length": 12,
        "classifier": {
            "fusion": {
                "text": str(text),
                "vision": str(vision),
                "fusion_hidden_size": 32,
                "fusion_num_attention_heads": 2,
                "fusion_intermediate_size": 64,
            },
            "freeze": ["fusion.text_model", "fusion.vision_model"],
        },
        "classifier_training": {**training, "report_to": "none"},
        "scorer": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2},
        "scorer_training": {**training, "report_to": "none"},
    }
    output = tmp_path / "run"
    metrics = run_classifier_phase(recipe, output)
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and metrics["first_loss"] is not None
    run_scorer_phase(recipe, output)

    model = AutoModelWithScorer.from_pretrained(output / "model")
    # the frozen towers are the saved ones, weight for weight and BatchNorm statistic for statistic
    for tower, fused in ((text, model.classifier.fusion.text_model), (vision, model.classifier.fusion.vision_model)):
        saved = AutoModel.from_pretrained(tower).state_dict()
        changed = [name for name, value in fused.state_dict().items() if not torch.equal(saved[name], value)]
        assert not changed, f"frozen weights changed: {changed}"
    assert model.processor.tokenizer.model_max_length == 12  # the trained caption length travels with it
    processor = tiny_fusion_processor(model.processor.tokenizer)
    batch = processor(text=["a dog runs on the grass ."], images=[np.zeros((20, 24, 3), dtype=np.uint8)])
    with torch.no_grad():
        out = model(**batch)
    assert set(out.attributions) == {"text", "image"} and out.attributions["image"].shape[-2:] == (16, 16)

    # the benchmark command reads the pairs by their columns and reports each modality and both together
    report = tmp_path / "benchmark"
    command = ["benchmark", "--model", str(output / "model"), "--dataset", str(tmp_path / "pairs"), "--split", "test"]
    options = ["--text-column", "text", "--image-column", "image", "--methods", "scorer,saliency,gradient_shap"]
    options += ["--num-samples", "4", "--baseline-samples", "2"]
    assert main([*command, *options, "--output-dir", str(report), "--quiet"]) == 0
    results = json.loads((report / "results.json").read_text())
    assert {"text_deletion_auc", "image_deletion_auc", "joint_deletion_auc"} <= set(results["values"]["scorer"])
    assert len(results["sample_indices"]) == 4
    written = (report / "results.md").read_text()
    assert "## Text" in written and "## Image" in written and "## Joint" in written
    assert all((report / f"radar_{group}.png").stat().st_size > 0 for group in ("text", "image", "joint"))


def test_text_image_recipes_name_what_is_missing(captioned_folder, towers, tmp_path, word_tokenizer):
    text, vision = towers
    with pytest.raises(InvalidInputError, match="does not have; give submodule paths"):
        freeze(AutoModel.from_pretrained(text), ["fusion.text_model"])
    recipe = {"modality": "text-image", "data": {}, "classifier": {"pretrained": str(text)}, "classifier_training": {}}
    with pytest.raises(InvalidInputError, match="fusion: {text: ..., vision: ...}"):
        run_classifier_phase(recipe, tmp_path)
    pairs = caption_matching_dataset(
        captioned_folder / "captions.txt", captioned_folder / "images", validation_images=2, test_images=2
    )["test"]
    with pytest.raises(InvalidInputError, match="set max_length"):
        preprocess(pairs, tiny_fusion_processor(word_tokenizer))
    encoded = preprocess(pairs, tiny_fusion_processor(word_tokenizer), max_length=10)
    assert np.asarray(encoded["input_ids"]).shape == (len(pairs), 10)
    assert np.asarray(encoded["pixel_values"]).shape == (len(pairs), 3, 16, 16)
