"""Hostile or broken files: each is refused with a typed error that names the problem, and nothing in them runs.

Cases already covered elsewhere (listed in docs/reliability.md): truncated scorer weights, a scorer config with a
wrong-typed field and pickle-only weights (tests/test_modeling.py), uploads that never contain pickles
(tests/test_hub.py), token text escaped in HTML (tests/test_visualization.py, tests/test_cli.py).
"""

import json
import shutil

import pytest
from huggingface_hub.errors import StrictDataclassError

from hf_ssxai import AutoModelWithScorer, BenchmarkResult, CheckpointError, ScorerConfig, UnsafeCheckpointError
from hf_ssxai.visualization import html_page, tokens_to_html
from tests.checkpoint_helpers import cache_repo, commit_hash, small_benchmark, tiny_text_model

#: a module that leaves a trace if it is ever imported
TRAP = "import pathlib\npathlib.Path({path!r}).write_text('remote code ran')\n"


@pytest.fixture(scope="module")
def saved(word_tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "checkpoint"
    tiny_text_model(word_tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture
def copy(saved, tmp_path):
    """A fresh copy of the saved checkpoint to damage."""
    target = tmp_path / "checkpoint"
    shutil.copytree(saved, target)
    return target


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_truncated_classifier_weights_are_a_checkpoint_error(copy):
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="incomplete or corrupted"):
        AutoModelWithScorer.from_pretrained(copy)


def test_garbage_in_the_classifier_config_is_a_checkpoint_error(copy):
    (copy / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid JSON"):
        AutoModelWithScorer.from_pretrained(copy)


def test_unknown_scorer_config_fields_are_refused(copy):
    _edit_json(copy / "scorer" / "config.json", use_relu_=False)
    with pytest.raises(CheckpointError, match="no field 'use_relu_'"):
        AutoModelWithScorer.from_pretrained(copy)
    with pytest.raises(StrictDataclassError, match="no field 'hiden_size'"):
        ScorerConfig(hiden_size=64)  # the same typo in code: the error transformers v5 configs raise


def test_a_classifier_that_needs_remote_code_is_refused_and_its_code_never_runs(copy, tmp_path):
    trace = tmp_path / "trace.txt"
    (copy / "modeling_custom.py").write_text(TRAP.format(path=str(trace)))
    (copy / "configuration_custom.py").write_text(TRAP.format(path=str(trace)))
    auto_map = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForSequenceClassification": "modeling_custom.CustomModel",
    }
    _edit_json(copy / "config.json", model_type="custom_classifier", auto_map=auto_map)
    with pytest.raises(UnsafeCheckpointError, match="never runs remote code"):
        AutoModelWithScorer.from_pretrained(copy)
    assert not trace.exists()


def test_auto_map_beside_a_known_architecture_loads_the_built_in_class_only(copy, tmp_path, saved):
    trace = tmp_path / "trace.txt"
    (copy / "modeling_custom.py").write_text(TRAP.format(path=str(trace)))
    _edit_json(copy / "config.json", auto_map={"AutoModelForSequenceClassification": "modeling_custom.CustomModel"})
    model = AutoModelWithScorer.from_pretrained(copy)
    assert type(model.classifier).__module__.startswith("transformers.")
    assert not trace.exists()


def test_a_scorer_config_asking_for_custom_code_is_refused(copy):
    _edit_json(copy / "scorer" / "config.json", auto_map={"AutoConfig": "custom.Config"})
    with pytest.raises(UnsafeCheckpointError, match="auto_map"):
        AutoModelWithScorer.from_pretrained(copy)


@pytest.mark.parametrize("base", ["../../outside/classifier", "/etc/classifier", "~/classifier", "./classifier"])
def test_a_hub_scorer_cannot_point_at_a_local_folder(word_tokenizer, hub_cache, tmp_path, base):
    cache, _ = hub_cache
    tiny_text_model(word_tokenizer).save_pretrained(tmp_path / "scorer_only", scorer_only=True)
    _edit_json(tmp_path / "scorer_only" / "scorer" / "config.json", base_model_name_or_path=base)
    cache_repo(cache, "someone/scorer", tmp_path / "scorer_only", commit_hash("scorer"))
    with pytest.raises(UnsafeCheckpointError, match="names a local path"):
        AutoModelWithScorer.from_pretrained("someone/scorer")


def test_reports_escape_method_names_tokens_and_titles():
    hostile = '<script>alert("x")</script>'
    result = small_benchmark()
    renamed = BenchmarkResult(
        values={hostile if m == "scorer" else m: v for m, v in result.values.items()},
        cost={hostile if m == "scorer" else m: v for m, v in result.cost.items()},
    )
    table = renamed.to_html()
    assert "<script>" not in table and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in table
    page = html_page([tokens_to_html([hostile, "it's"], [1.0, 0.5], title=hostile)], title=hostile)
    assert "<script>" not in page and "it&#x27;s" in page


def test_a_hub_repo_offering_only_pickles_is_refused_before_anything_is_unpickled(saved, hub_cache, tmp_path):
    cache, downloads = hub_cache
    folder = tmp_path / "pickled"
    shutil.copytree(saved, folder)
    for weights in (folder / "model.safetensors", folder / "scorer" / "model.safetensors"):
        weights.rename(weights.with_name("pytorch_model.bin"))
    cache_repo(cache, "someone/pickled", folder, commit_hash("pickled"))
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        AutoModelWithScorer.from_pretrained("someone/pickled")
    assert not [name for _, name, _ in downloads if name.endswith(".bin")]  # not even fetched
