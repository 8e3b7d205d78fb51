"""`hf-ssxai explain` and `hf-ssxai push` on tiny saved checkpoints (text, image, text-image; offline; uploads
recorded at HfApi)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image

from hf_ssxai import AutoModelWithScorer, pipeline
from hf_ssxai.cli import main
from tests.checkpoint_helpers import (
    SMALL,
    TEXT_LABELS,
    HubRecorder,
    small_benchmark,
    tiny_image_model,
    tiny_text_model,
)
from tests.helpers import run_python
from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory, word_tokenizer):
    path = tmp_path_factory.mktemp("cli") / "text"
    tiny_text_model(word_tokenizer).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def image_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "image"
    tiny_image_model().save_pretrained(path)
    return str(path)


def test_explain_prints_a_terminal_heat_map(text_checkpoint, capsys):
    assert main(["explain", "--model", text_checkpoint, "the movie was great", "awful"]) == 0
    out = capsys.readouterr().out
    for word in ("the", "movie", "was", "great", "awful"):
        assert f"{word}[" in out  # not a terminal: plain word[score]
    assert sum(out.count(label) for label in TEXT_LABELS.values()) == 2


def test_explain_html_escapes_the_input(text_checkpoint, tmp_path, capsys):
    page = tmp_path / "explained.html"
    argv = ["explain", "--model", text_checkpoint, "awful <script>alert(1)</script> film", "--format", "html"]
    assert main([*argv, "--output", str(page)]) == 0
    assert str(page) in capsys.readouterr().out
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


def test_explain_json_parses(text_checkpoint, capsys):
    argv = ["explain", "--model", text_checkpoint, "the movie was great", "--format", "json", "--level", "token"]
    assert main(argv) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["text"] == "the movie was great"
    assert result["words"] == result["tokens"] == ["the", "movie", "was", "great"]
    assert len(result["word_scores"]) == 4 and result["truncated"] is False
    assert result["label"] in TEXT_LABELS.values()


def test_explain_images_writes_overlays_beside_the_output(image_checkpoint, tmp_path, capsys):
    pixels = np.random.default_rng(0).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cat.png")
    summary = tmp_path / "out" / "explained.json"
    summary.parent.mkdir()
    argv = ["explain", "--model", image_checkpoint, "--image", str(tmp_path / "cat.png"), "--format", "json"]
    assert main([*argv, "--output", str(summary)]) == 0
    [result] = json.loads(summary.read_text())
    overlay = tmp_path / "out" / "explained-0-cat.png"
    assert result["overlay"] == str(overlay) and result["image"] == str(tmp_path / "cat.png")
    with Image.open(overlay) as image:
        assert image.size == (40, 30)
    capsys.readouterr()

    assert main(["explain", "--model", image_checkpoint, "--image", str(tmp_path / "cat.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'cat.png'}: LABEL_")


def test_explain_errors_exit_with_one(text_checkpoint, image_checkpoint, tmp_path, capsys):
    assert main(["explain", "--model", str(tmp_path / "missing"), "a text"]) == 1
    assert "No hf_ssxai checkpoint at" in capsys.readouterr().err
    assert main(["explain", "--model", text_checkpoint]) == 1
    assert "Nothing to explain" in capsys.readouterr().err
    assert main(["explain", "--model", text_checkpoint, "--image", str(tmp_path / "cat.png")]) == 1
    assert "is a text classifier: give texts" in capsys.readouterr().err
    assert main(["explain", "--model", image_checkpoint, "--image", str(tmp_path / "missing.png")]) == 1
    assert "Cannot read the image" in capsys.readouterr().err
    assert main(["explain", "--model", image_checkpoint, "--image", "x.png", "--format", "html"]) == 1
    assert "give --output FILE" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys):
    from hf_ssxai import __version__

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.strip() == f"hf-ssxai {__version__}"


def test_explain_reads_inputs_from_a_file_or_stdin_with_a_progress_bar(text_checkpoint, tmp_path, capsys, monkeypatch):
    import io

    texts = ["the movie was great", "awful", "", "a dull plot", "great"]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    options = ["--format", "json", "--batch-size", "2"]
    assert main(["explain", "--model", text_checkpoint, "--input", str(tmp_path / "texts.txt"), *options]) == 0
    captured = capsys.readouterr()
    from_file = json.loads(captured.out)
    assert [result["text"] for result in from_file] == [text for text in texts if text]  # blank lines skipped
    assert "explain: 100%" in captured.err and "4/4" in captured.err  # the bar, on stderr
    assert main(["explain", "--model", text_checkpoint, *[t for t in texts if t], *options]) == 0
    assert json.loads(capsys.readouterr().out) == from_file  # the same as arguments
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts)))
    assert main(["explain", "--model", text_checkpoint, "--input", "-", *options]) == 0
    assert json.loads(capsys.readouterr().out) == from_file
    assert main(["explain", "--model", text_checkpoint, "--input", "-", "great"]) == 1
    assert "not both" in capsys.readouterr().err


def test_explain_reads_pairs_from_a_file(pair_checkpoint, pictures, tmp_path, capsys):
    (tmp_path / "pairs.tsv").write_text("".join(f"{c}\t{p}\n" for c, p in zip(CAPTIONS, pictures, strict=True)))
    assert (
        main(["explain", "--model", pair_checkpoint, "--input", str(tmp_path / "pairs.tsv"), "--format", "json"]) == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert [(r["text"], r["image"]) for r in results] == list(zip(CAPTIONS, pictures, strict=True))
    (tmp_path / "untabbed.tsv").write_text("a caption without an image\n")
    assert main(["explain", "--model", pair_checkpoint, "--input", str(tmp_path / "untabbed.tsv")]) == 1
    assert "Line 1 of" in capsys.readouterr().err


def test_every_explain_error_is_one_line(text_checkpoint, tmp_path, capsys, monkeypatch):
    import hf_ssxai.pipelines

    def _fails(error):
        def explain(*args, **kwargs):
            raise error

        return explain

    cases = [
        (["--input", str(tmp_path / "missing.txt")], None, "Cannot read the inputs from"),
        (["--input", str(tmp_path)], None, "Cannot read the inputs from"),
        (["a text"], RuntimeError("deep inside torch\nsecond line"), "RuntimeError: deep inside torch second line"),
        (["a text"], OSError("disk full"), "OSError: disk full"),
    ]
    for arguments, error, message in cases:
        if error is not None:
            monkeypatch.setattr(hf_ssxai.pipelines, "pipeline", _fails(error))
        assert main(["explain", "--model", text_checkpoint, *arguments]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hf-ssxai explain: error: ") and message in err, err
    monkeypatch.setattr(hf_ssxai.pipelines, "pipeline", _fails(KeyboardInterrupt()))
    assert main(["explain", "--model", text_checkpoint, "a text"]) == 130
    assert capsys.readouterr().err == "hf-ssxai explain: interrupted\n"


PAIR_LABELS = {0: "mismatch", 1: "match"}
CAPTIONS = ["the movie was great", "awful <script>alert(1)</script> film"]


@pytest.fixture(scope="module")
def pair_checkpoint(tmp_path_factory, word_tokenizer):
    """A tiny untrained fusion classifier (text + ViT, named labels) with its scorer, saved."""
    path = tmp_path_factory.mktemp("cli") / "text-image"
    torch.manual_seed(0)
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    classifier.config.id2label = dict(PAIR_LABELS)
    classifier.config.label2id = {name: index for index, name in PAIR_LABELS.items()}
    processor = tiny_fusion_processor(word_tokenizer)
    AutoModelWithScorer.from_classifier(classifier, SMALL, processor=processor).save_pretrained(path)
    return str(path)


@pytest.fixture
def pictures(tmp_path):
    """Two PNG files of different sizes: dog.png (40x30) and car.png (24x36)."""
    paths = []
    for seed, (name, (width, height)) in enumerate({"dog": (40, 30), "car": (24, 36)}.items()):
        pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
        paths.append(str(tmp_path / f"{name}.png"))
    return paths


def _explain_pairs(model, captions, images, *options):
    return main(["explain", "--model", model, *captions, "--image", *images, *options])


def test_explain_pairs_prints_each_pairs_label_and_caption_words(pair_checkpoint, pictures, capsys):
    expected = pipeline(pair_checkpoint)([{"text": c, "image": i} for c, i in zip(CAPTIONS, pictures, strict=True)])
    assert _explain_pairs(pair_checkpoint, CAPTIONS, pictures) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 2
    for block, caption, image, result in zip(blocks, CAPTIONS, pictures, expected, strict=True):
        heading, heat_map = block.split("\n")  # no --output: no overlay line
        assert heading == f"{image}: {result['label']} ({result['score']:.3f})"
        assert result["label"] in PAIR_LABELS.values()
        assert [word.rsplit("[", 1)[0] for word in heat_map.split(" ")] == caption.split()  # plain word[score]


def test_a_fresh_process_explains_a_saved_fusion_checkpoint(pair_checkpoint, pictures):
    """The command line alone (no hf_ssxai name imported first) loads a text-image checkpoint: the fusion classifier
    is registered with transformers' Auto classes by whatever loads a checkpoint, not only by the package's names."""
    command = "import sys; from hf_ssxai.cli import main; sys.exit(main(sys.argv[1:]))"
    arguments = ["explain", "--model", pair_checkpoint, CAPTIONS[0], "--image", pictures[0]]
    finished = run_python("-c", command, *arguments)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.startswith(f"{pictures[0]}: ")
    assert finished.stdout.split(": ", 1)[1].split(" (")[0] in PAIR_LABELS.values()


def test_explain_pairs_json_equals_the_pipeline(pair_checkpoint, pictures, tmp_path, capsys):
    pairs = [{"text": c, "image": i} for c, i in zip(CAPTIONS, pictures, strict=True)]
    expected = pipeline(pair_checkpoint)(pairs)
    assert _explain_pairs(pair_checkpoint, CAPTIONS, pictures, "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == len(pairs)
    for entry, pair, result in zip(shown, pairs, expected, strict=True):
        assert list(entry) == [
            *("text", "image", "label", "score", "tokens", "token_scores", "words", "word_scores"),
            *("truncated", "overlay"),
        ]
        assert (entry["text"], entry["image"], entry["overlay"]) == (pair["text"], pair["image"], None)
        assert entry["label"] == result["label"] and entry["score"] == pytest.approx(result["score"], abs=1e-6)
        for key in ("tokens", "words", "truncated"):
            assert entry[key] == result["text"][key]
        for key in ("token_scores", "word_scores"):
            assert np.allclose(entry[key], result["text"][key], atol=1e-6)

    report = tmp_path / "out" / "pairs.json"
    assert _explain_pairs(pair_checkpoint, CAPTIONS, pictures, "--format", "json", "--output", str(report)) == 0
    overlays = [entry["overlay"] for entry in json.loads(report.read_text())]
    assert overlays == [str(tmp_path / "out" / "pairs-0-dog.png"), str(tmp_path / "out" / "pairs-1-car.png")]


def test_explain_pairs_html_writes_the_page_and_one_overlay_per_pair(pair_checkpoint, pictures, tmp_path, capsys):
    page = tmp_path / "report" / "explained.html"
    assert _explain_pairs(pair_checkpoint, CAPTIONS, pictures, "--format", "html", "--output", str(page)) == 0
    assert str(page) in capsys.readouterr().out
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count('<section class="ssxai-pair">') == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    for index, (picture, size) in enumerate(zip(pictures, [(40, 30), (24, 36)], strict=True)):
        name = f"explained-{index}-{Path(picture).stem}.png"
        assert f'<img src="{name}"' in text
        with Image.open(page.parent / name) as overlay:
            assert overlay.size == size
    assert sorted(path.name for path in page.parent.iterdir()) == [
        "explained-0-dog.png",
        "explained-1-car.png",
        "explained.html",
    ]


@pytest.mark.parametrize(
    ("captions", "images", "message"),
    [
        (
            CAPTIONS,
            1,
            r"each caption \(TEXT\) needs one image \(--image PATH\), paired in order; got 2 caption\(s\) "
            r"and 1 image\(s\)\.$",
        ),
        (CAPTIONS[:1], 2, r"got 1 caption\(s\) and 2 image\(s\)"),
        (CAPTIONS, 0, r"got 2 caption\(s\) and 0 image\(s\)\. Give one image per caption with --image PATH"),
        ([], 2, r"got 0 caption\(s\) and 2 image\(s\)\. Give each image's caption as a TEXT argument"),
    ],
)
def test_explain_pairs_refuses_unpaired_inputs(pair_checkpoint, pictures, captions, images, message, capsys):
    images_given = ["--image", *pictures[:images]] if images else []
    assert main(["explain", "--model", pair_checkpoint, *captions, *images_given]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the weight-loading progress bar
    assert error.startswith(f"hf-ssxai explain: error: {pair_checkpoint} is a text-image classifier: ")
    assert re.search(message, error), error


def test_explain_pairs_html_needs_an_output_file(pair_checkpoint, pictures, capsys):
    assert _explain_pairs(pair_checkpoint, CAPTIONS, pictures, "--format", "html") == 1
    captured = capsys.readouterr()
    assert "give --output FILE" in captured.err and captured.out == ""


def test_push_uploads_checkpoint_and_card(text_checkpoint, tmp_path, monkeypatch, capsys):
    hub = HubRecorder().install(monkeypatch)
    small_benchmark().to_json(tmp_path / "results.json")
    (tmp_path / "training.json").write_text(json.dumps({"datasets": ["stanfordnlp/sst2"], "epochs": 4}))
    argv = ["push", "--model", text_checkpoint, "--repo-id", "user/text-ssxai", "--revision", "v1", "--private"]
    argv += ["--benchmark", str(tmp_path / "results.json"), "--training-info", str(tmp_path / "training.json")]
    argv += ["--license", "mit"]
    assert main(argv) == 0
    assert "https://huggingface.co/user/text-ssxai/commit/" in capsys.readouterr().out
    assert hub.call("create_repo")["private"] is True
    upload = hub.call("upload_folder")
    assert (upload["repo_id"], upload["revision"]) == ("user/text-ssxai", "v1")
    assert {"config.json", "model.safetensors", "scorer/model.safetensors", "README.md"} <= set(hub.files)
    assert small_benchmark().to_markdown() in hub.readme
    assert ModelCard(hub.readme).data.to_dict()["datasets"] == ["stanfordnlp/sst2"]
    assert ModelCard(hub.readme).data.license == "mit" and "# user/text-ssxai" in hub.readme


def test_push_errors_exit_with_one(text_checkpoint, tmp_path, monkeypatch, capsys):
    hub = HubRecorder().install(monkeypatch)
    assert main(["push", "--model", str(tmp_path / "missing"), "--repo-id", "user/x"]) == 1
    assert "No checkpoint folder at" in capsys.readouterr().err
    (tmp_path / "results.json").write_text("{not json")
    argv = ["push", "--model", text_checkpoint, "--repo-id", "user/x", "--benchmark", str(tmp_path / "results.json")]
    assert main(argv) == 1
    assert f"Cannot read {tmp_path / 'results.json'}" in capsys.readouterr().err
    assert hub.calls == []


def test_train_classifier_then_train_scorer_write_loadable_checkpoints(text_recipe, tmp_path, capsys):
    run, recipe = tmp_path / "run", tmp_path / "named.yaml"
    recipe.write_text(text_recipe.read_text() + "labels: [negative, positive]\n")
    overrides = ["--classifier-training", "max_steps=12", "--classifier-training", "learning_rate=3e-3"]
    assert main(["train-classifier", "--config", str(recipe), "--output-dir", str(run), *overrides]) == 0
    assert (run / "classifier" / "config.json").is_file()
    options = ["--scorer-option", "hidden_size=24", "--scorer-option", "target=prediction"]
    options += ["--scorer-training", "max_steps=10"]  # any TrainingArguments field, value read as YAML
    assert main(["train-scorer", "--config", str(recipe), "--output-dir", str(run), *options]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"classifier", "scorer"} <= set(metrics), "the second phase must not drop the first phase's metrics"
    assert (metrics["classifier"]["steps"], metrics["scorer"]["steps"]) == (12, 10)  # the recipe says 16 and 12
    assert metrics["scorer"]["last_loss"] < metrics["scorer"]["first_loss"]
    model = AutoModelWithScorer.from_pretrained(run / "model")
    assert (model.scorer_config.hidden_size, model.scorer_config.target) == (24, "prediction")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.label2id == {"negative": 0, "positive": 1}


def test_train_errors_exit_with_one(text_recipe, tmp_path, capsys):
    assert main(["train-scorer", "--config", str(text_recipe), "--output-dir", str(tmp_path / "empty")]) == 1
    assert "run the classifier phase first" in capsys.readouterr().err
    bad = ["--config", str(text_recipe), "--output-dir", str(tmp_path), "--scorer-option", "use_relu"]
    assert main(["train-scorer", *bad]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    typo = ["--config", str(text_recipe), "--output-dir", str(tmp_path), "--scorer-training", "learnin_rate=1e-3"]
    assert main(["train-scorer", *typo]) == 1
    assert "scorer_training has no key 'learnin_rate' (did you mean 'learning_rate'?)" in capsys.readouterr().err
    (tmp_path / "one.yaml").write_text(text_recipe.read_text() + "labels: [a]\n")
    assert main(["train-classifier", "--config", str(tmp_path / "one.yaml"), "--output-dir", str(tmp_path)]) == 1
    assert "at least two distinct class names" in capsys.readouterr().err
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert main(["train-classifier", "--config", str(tmp_path / "list.yaml"), "--output-dir", str(tmp_path)]) == 1
    assert "YAML mapping" in capsys.readouterr().err


@pytest.fixture(scope="module")
def squares_checkpoint(planted_resnet, tmp_path_factory):
    """The planted-squares ResNet (4 classes) saved with an image processor, and a folder of its test images."""
    from transformers import ViTImageProcessor

    from hf_ssxai.data.synthetic import planted_image_arrays

    root = tmp_path_factory.mktemp("squares")
    planted_resnet[0].save_pretrained(root / "model")
    ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(
        root / "model"
    )
    pixel_values, labels, _ = planted_image_arrays(60, seed=1, num_classes=4)
    for index, (pixels, label) in enumerate(zip(pixel_values, labels, strict=True)):
        folder = root / "images" / "test" / f"colour{label}"
        folder.mkdir(parents=True, exist_ok=True)
        rgb = ((pixels.transpose(1, 2, 0) * 0.5 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{index}.png")
    return str(root / "model"), str(root / "images")


def test_grid_pointing_game_command_writes_every_method_with_and_without_the_wrapper(squares_checkpoint, tmp_path):
    model, images = squares_checkpoint
    out = tmp_path / "grid"
    args = ["grid-pointing-game", "--model", model, "--dataset", images, "--num-grids", "5"]
    assert main([*args, "--methods", "scorer,saliency", "--output-dir", str(out)]) == 0
    result = json.loads((out / "grid_pointing_game.json").read_text())
    # the plain scorer has no class distribution (one map for every class); saliency has both rows
    assert set(result["values"]) == {"scorer", "saliency", "saliency + class distribution"}
    assert all(len(scores) == 20 for scores in result["values"].values())  # 5 grids x 4 tiles
    assert result["summary"]["scorer"]["mean"] == pytest.approx(0.25, abs=0.1)


def test_sanity_check_command_runs_both_checks(squares_checkpoint, tmp_path, capsys):
    model, images = squares_checkpoint
    base = ["sanity-check", "--model", model, "--dataset", images, "--num-samples", "8", "--methods", "saliency"]
    assert main([*base, "--output-dir", str(tmp_path / "c")]) == 0
    cascading = json.loads((tmp_path / "c" / "cascading.json").read_text())
    assert list(cascading["values"]) == ["original", "head", "block 1", "block 0", "embeddings"]
    assert (tmp_path / "c" / "cascading.png").is_file()
    assert main([*base, "--randomized-model", model, "--output-dir", str(tmp_path / "d")]) == 0
    same = json.loads((tmp_path / "d" / "data_randomization.json").read_text())
    assert np.mean(same["values"]["shuffled labels"]["saliency"]["spearman"]) == pytest.approx(1.0)


def test_sanity_check_command_gives_a_text_image_model_one_row_per_map(pair_checkpoint, tmp_path):
    """Both column options together (they were exclusive), maps as dicts: one row per modality."""
    from datasets import Dataset, DatasetDict
    from datasets import Image as ImageFeature

    images = []
    for index in range(4):
        pixels = np.random.default_rng(index).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
        images.append(str(tmp_path / f"{index}.png"))
        Image.fromarray(pixels).save(images[-1])
    pairs = Dataset.from_dict({"caption": [CAPTIONS[0], "a film with a plot"] * 2, "picture": images})
    DatasetDict({"test": pairs.cast_column("picture", ImageFeature())}).save_to_disk(tmp_path / "pairs")
    command = ["sanity-check", "--model", pair_checkpoint, "--dataset", str(tmp_path / "pairs")]
    options = ["--text-column", "caption", "--image-column", "picture", "--num-samples", "4", "--methods", "saliency"]
    assert main([*command, *options, "--output-dir", str(tmp_path / "out")]) == 0
    cascading = json.loads((tmp_path / "out" / "cascading.json").read_text())
    assert set(cascading["values"]["embeddings"]) == {"saliency (text)", "saliency (image)"}
    assert len(cascading["values"]["embeddings"]["saliency (image)"]["ssim"]) == 4


def test_evaluation_commands_fail_clearly(squares_checkpoint, text_checkpoint, tmp_path, capsys):
    model, images = squares_checkpoint
    grid = ["grid-pointing-game", "--dataset", images, "--output-dir", str(tmp_path)]
    assert main([*grid, "--model", text_checkpoint]) == 1
    assert "tiles images" in capsys.readouterr().err
    assert main([*grid, "--model", model, "--methods", "nonsense"]) == 1
    assert "choose one or more" in capsys.readouterr().err
