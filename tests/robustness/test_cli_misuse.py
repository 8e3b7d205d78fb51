"""Misusing the ``hf-ssxai`` command (issue 19, groups 19 and 20): outputs of the wrong kind or where nothing can be
written, devices that are none or not here, a bad ``--scorer-option`` or ``--repo-id``, pickle-only classifiers.
Each ends with exit status 1 and one line on stderr that says what to fix, before any work is done."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hf_ssxai.cli import main
from tests.checkpoint_helpers import tiny_text_model


@pytest.fixture(scope="module")
def checkpoint(word_tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_misuse") / "model"
    tiny_text_model(word_tokenizer).save_pretrained(folder)
    return folder


def _fails_with(capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert message in last and "Traceback" not in err, err[-2000:]


#: every command that writes an --output-dir, with the arguments it needs to get that far
OUTPUT_DIR_COMMANDS = {
    "benchmark": ["benchmark", "--model", "{model}", "--dataset", "{model}/none.csv"],
    "sanity-check": ["sanity-check", "--model", "{model}", "--dataset", "{model}/none.csv"],
    "grid-pointing-game": ["grid-pointing-game", "--model", "{model}", "--dataset", "{model}/none.csv"],
    "train-classifier": ["train-classifier", "--config", "{model}/recipe.yaml"],
    "train-scorer": ["train-scorer", "--config", "{model}/recipe.yaml"],
    "demo": ["demo", "--quick"],
}


@pytest.mark.parametrize("command", OUTPUT_DIR_COMMANDS)
def test_an_output_dir_that_is_a_file_or_under_one_is_refused_before_any_work(checkpoint, tmp_path, capsys, command):
    argv = [part.format(model=checkpoint) for part in OUTPUT_DIR_COMMANDS[command]]
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    _fails_with(capsys, [*argv, "--output-dir", str(blocker)], "is a file; give a folder path")
    _fails_with(capsys, [*argv, "--output-dir", str(blocker / "run")], "is a file, so nothing can be written under it")


def test_explain_output_of_the_wrong_kind_is_refused_and_missing_folders_are_announced(checkpoint, tmp_path, capsys):
    command = ["explain", "--model", str(checkpoint), "wonderful movie", "--format", "html"]
    _fails_with(capsys, [*command, "--output", str(tmp_path)], "is a folder; give a file path")
    (tmp_path / "a_file").write_text("x")
    _fails_with(capsys, [*command, "--output", str(tmp_path / "a_file" / "page.html")], "is a file, so nothing")
    target = tmp_path / "new" / "deeper" / "page.html"
    assert main([*command, "--output", str(target)]) == 0
    assert target.is_file() and "Created the folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("nonsense", "names no torch device"),
        ("cuda", "this machine has no cuda device"),
        ("cuda:64", "cuda device(s), numbered from 0"),
    ],
)
def test_a_device_that_is_none_or_not_here_is_refused(checkpoint, capsys, device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if device == "cuda:64" and not torch.cuda.is_available():
        message = "this machine has no cuda device"
    _fails_with(capsys, ["explain", "--model", str(checkpoint), "--device", device, "wonderful"], message)
    argv = ["benchmark", "--model", str(checkpoint), "--dataset", "x.csv", "--device", device]
    _fails_with(capsys, argv, message)


@pytest.mark.parametrize("repo_id", ["bad id!!", "a/b/c", "user/ends-with-dash-"])
def test_a_bad_repo_id_is_refused_before_loading(checkpoint, capsys, repo_id):
    _fails_with(capsys, ["push", "--model", str(checkpoint), "--repo-id", repo_id], "is no Hub repository id")


@pytest.fixture
def pickled_classifier(checkpoint, word_tokenizer, tmp_path):
    """A classifier folder holding only pickle weights (and its tokenizer)."""
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(checkpoint / "config.json", folder / "config.json")
    torch.save(load_file(checkpoint / "model.safetensors"), folder / "pytorch_model.bin")
    word_tokenizer.save_pretrained(folder)
    return folder


def test_train_scorer_refuses_a_pickle_only_classifier(text_recipe, pickled_classifier, tmp_path, capsys):
    argv = ["train-scorer", "--config", str(text_recipe), "--output-dir", str(tmp_path / "run")]
    _fails_with(capsys, [*argv, "--classifier", str(pickled_classifier)], "pickle")


def test_a_recipe_with_a_pickle_only_pretrained_classifier_is_refused(
    text_recipe, pickled_classifier, tmp_path, capsys
):
    recipe = yaml.safe_load(text_recipe.read_text())
    recipe["classifier"] = {"pretrained": str(pickled_classifier)}
    text_recipe.write_text(yaml.safe_dump(recipe))
    argv = ["train-classifier", "--config", str(text_recipe), "--output-dir", str(tmp_path / "run")]
    _fails_with(capsys, argv, "safetensors files only")


@pytest.mark.parametrize(
    ("option", "message"),
    [("hidden_size=-1", "hidden_size"), ("hidden_sise=8", "hidden_size"), ("novalue", "=")],
    ids=["negative", "typo", "no-equals"],
)
def test_a_bad_scorer_option_is_one_line(text_recipe, checkpoint, tmp_path, capsys, option, message):
    argv = ["train-scorer", "--config", str(text_recipe), "--output-dir", str(tmp_path / "run")]
    _fails_with(capsys, [*argv, "--classifier", str(checkpoint), "--scorer-option", option], message)
