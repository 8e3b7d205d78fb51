"""Broken and hostile checkpoint files (issue 19, groups 7 to 10): garbage processor files, configs that do not
describe their weights, configs asking for networks too large to build, integer scorer weights. Each is a
CheckpointError (UnsafeCheckpointError where code is asked for), raised after reading headers only: nothing is
allocated from a config before it is checked against the weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_ssxai import AutoModelWithScorer, CheckpointError, UnsafeCheckpointError
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model


@pytest.fixture(scope="module")
def saved(word_tokenizer, tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    tiny_text_model(word_tokenizer).save_pretrained(root / "text")
    tiny_image_model().save_pretrained(root / "image")
    return root


@pytest.fixture
def copy(saved, tmp_path):
    def make(kind: str = "text"):
        shutil.copytree(saved / kind, tmp_path / kind)
        return tmp_path / kind

    return make


def _edit_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    "content", ["", "{not json", "[1, 2]", "\x00\xff garbage"], ids=["empty", "garbage", "list", "binary"]
)
@pytest.mark.parametrize(
    ("kind", "file"),
    [("text", "tokenizer.json"), ("text", "tokenizer_config.json"), ("image", "preprocessor_config.json")],
)
def test_garbage_processor_files_are_a_checkpoint_error(copy, kind, file, content):
    folder = copy(kind)
    (folder / file).write_text(content, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(CheckpointError, match=f"{file}"):
        AutoModelWithScorer.from_pretrained(folder)


def test_a_processor_asking_for_custom_code_never_runs_it(copy, tmp_path):
    folder = copy("image")
    trace = tmp_path / "ran"
    (folder / "custom.py").write_text(f"import pathlib\npathlib.Path({str(trace)!r}).write_text('ran')\n")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config.pop("image_processor_type", None)
    config["auto_map"] = {"AutoImageProcessor": "custom.Processor"}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    try:  # transformers falls back to the built-in class of the classifier's model_type, or refuses
        processor = AutoModelWithScorer.from_pretrained(folder).processor
        assert type(processor).__module__.startswith("transformers.")
    except UnsafeCheckpointError as error:
        assert "never runs remote code" in str(error)
    assert not trace.exists()


def _set_tensor(path, name, tensor):
    tensors = load_file(path)
    tensors[name] = tensor
    save_file(tensors, path, metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hidden_size": -1}, "cannot build|do not describe|hidden_size"),
        ({"num_hidden_layers": "two"}, "num_hidden_layers"),
        ({"num_hidden_layers": -2}, "num_hidden_layers=-2"),
        ({"id2label": {str(i): f"c{i}" for i in range(200_000)}}, "parameters|size|shape"),
    ],
    ids=["negative-width", "layers-as-text", "negative-layers", "200k-labels"],
)
def test_classifier_configs_that_do_not_describe_the_weights_are_refused(copy, change, match):
    folder = copy()
    _edit_json(folder / "config.json", **change)
    with pytest.raises(CheckpointError, match=match):
        AutoModelWithScorer.from_pretrained(folder)


def test_a_classifier_config_that_is_a_list_or_a_head_of_another_shape_is_refused(copy):
    folder = copy()
    original = (folder / "config.json").read_text()
    (folder / "config.json").write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="holds a JSON list, not an object"):
        AutoModelWithScorer.from_pretrained(folder)
    (folder / "config.json").write_text(original)
    _set_tensor(folder / "model.safetensors", "classifier.weight", torch.zeros(3, 32))
    with pytest.raises(CheckpointError, match="classifier"):
        AutoModelWithScorer.from_pretrained(folder)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"classifier_hidden_sizes": [-5]}, "classifier_hidden_sizes must hold positive integers"),
        ({"modality": "image"}, "cannot build the network|do not match|explains image classifiers"),
        ({"hidden_size": 64, "num_attention_heads": 2}, "has shape"),
    ],
    ids=["negative-width", "other-modality", "other-width"],
)
def test_scorer_configs_that_do_not_fit_are_refused(copy, change, match):
    folder = copy()
    _edit_json(folder / "scorer" / "config.json", **change)
    with pytest.raises(CheckpointError, match=match):
        AutoModelWithScorer.from_pretrained(folder)


def test_integer_scorer_weights_are_refused_not_cast(copy):
    folder = copy()
    weights = folder / "scorer" / "model.safetensors"
    name, tensor = next((k, v) for k, v in load_file(weights).items() if v.is_floating_point())
    _set_tensor(weights, name, tensor.round().to(torch.int64))
    with pytest.raises(CheckpointError, match=f"{name} is stored as I64 but the network holds float32"):
        AutoModelWithScorer.from_pretrained(folder)


#: configs that would allocate until memory runs out if they were built before being checked
HUGE = {
    "classifier-layers": ("config.json", {"num_hidden_layers": 10**9}),
    "classifier-width": ("config.json", {"hidden_size": 2**20, "intermediate_size": 2**20}),
    "scorer-layers": ("scorer/config.json", {"num_hidden_layers": 10**9}),
    "scorer-width": ("scorer/config.json", {"hidden_size": 10**6}),
    "classifier-widths": ("scorer/config.json", {"classifier_hidden_sizes": [10**9, 10**9]}),
}


def test_huge_configs_are_refused_before_anything_is_allocated(copy, tmp_path):
    folders = {}
    for case, (file, change) in HUGE.items():
        folder = copy()
        _edit_json(folder / file, **change)
        folders[case] = str(folder.rename(tmp_path / case))
    # in a child process capped at 3 GB of address space beyond its start: building any of these would fail there
    script = textwrap.dedent(
        f"""
        import json, resource, time
        import torch, transformers
        from hf_ssxai import AutoModelWithScorer, CheckpointError
        with open("/proc/self/status") as status:
            used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 3 * 2**30, resource.RLIM_INFINITY))
        results = {{}}
        for case, folder in {folders!r}.items():
            start = time.perf_counter()
            try:
                AutoModelWithScorer.from_pretrained(folder)
                results[case] = "loaded"
            except CheckpointError as error:
                results[case] = ("CheckpointError", time.perf_counter() - start, str(error))
            except BaseException as error:
                results[case] = (type(error).__name__, time.perf_counter() - start, str(error)[:300])
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for case, result in results.items():
        assert result[0] == "CheckpointError", f"{case}: {result}"
        assert result[1] < 10, f"{case} took {result[1]:.1f} s to refuse"
