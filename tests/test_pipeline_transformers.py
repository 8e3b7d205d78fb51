"""The explanation pipeline as a transformers.Pipeline: registered tasks, every input form transformers pipelines
take (with batching), JSON-ready results, Hub repo ids."""

import json

import numpy as np
import pytest
import torch
import transformers
from datasets import Dataset
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.pt_utils import KeyDataset

from hf_ssxai import ExplanationPipeline, InvalidInputError, pipeline
from hf_ssxai.data.synthetic import build_word_tokenizer
from hf_ssxai.modalities import MODALITY_REGISTRY
from hf_ssxai.pipelines import explanation_pipeline_class
from tests.checkpoint_helpers import cache_repo, commit_hash, tiny_image_model, tiny_text_model
from tests.test_pipeline import _picture

TEXTS = ["the movie was great", "awful", "a story with a superb cast and a boring ending", "the plot", "great"]


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("transformers_pipeline") / "text"
    tiny_text_model(build_word_tokenizer()).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def explain(text_checkpoint):
    return pipeline(text_checkpoint, batch_size=2)


def test_each_modality_has_its_pipeline_class_registered_with_transformers():
    for name, modality in MODALITY_REGISTRY.items():
        _, task, _ = PIPELINE_REGISTRY.check_task(modality.pipeline_task)
        assert task["impl"] is explanation_pipeline_class(name)
        assert issubclass(task["impl"], ExplanationPipeline) and issubclass(task["impl"], transformers.Pipeline)
        assert task["impl"].modality_name == name
    assert explanation_pipeline_class("text").__name__ == "TextExplanationPipeline"


def test_transformers_pipeline_builds_it_from_a_folder_or_a_model(text_checkpoint, explain):
    expected = explain(TEXTS)
    by_folder = transformers.pipeline("text-explanation", model=str(text_checkpoint), batch_size=2)
    by_model = transformers.pipeline("text-explanation", model=explain.model, batch_size=2)
    assert type(by_folder).__name__ == "TextExplanationPipeline"
    assert by_folder(TEXTS) == by_model(TEXTS) == expected
    with pytest.raises(InvalidInputError, match="use the task 'text-explanation'"):
        transformers.pipeline("image-explanation", model=explain.model)


def test_every_input_form_gives_the_results_of_a_list(explain):
    expected = explain(TEXTS)
    assert len(expected) == len(TEXTS) and explain(TEXTS[0]) == expected[0]
    assert explain(tuple(TEXTS)) == expected
    assert list(explain(text for text in TEXTS)) == expected  # a generator: streamed, two at a time
    dataset = Dataset.from_dict({"text": TEXTS, "label": [1, 0, 1, 0, 1]})
    assert list(explain(dataset)) == expected  # its text column
    renamed = dataset.rename_column("text", "sentence")
    assert list(explain(KeyDataset(renamed, "sentence"))) == expected
    with pytest.raises(InvalidInputError, match="reads the raw inputs from 'text'.*KeyDataset"):
        explain(renamed)
    with pytest.raises(InvalidInputError, match="Input 1 is an empty text"):
        list(explain(iter(["great", " "])))


def test_results_are_json_ready_unless_tensors_are_asked_for(explain, tmp_path):
    result = explain(TEXTS[0])
    assert json.loads(json.dumps(result)) == result
    assert result["attributions"][0] == 0 and result["attributions"][1:-1] == result["token_scores"]
    with_tensors = explain(TEXTS[0], return_tensors=True)
    assert isinstance(with_tensors["attributions"], torch.Tensor)
    assert with_tensors["attributions"].tolist() == result["attributions"]
    image_model = tiny_image_model()
    explain_image = pipeline(image_model)
    picture = explain_image(_picture(40, 30))
    assert json.loads(json.dumps(picture)) == picture and np.shape(picture["map"]) == (30, 40)
    tensors = explain_image(_picture(40, 30), return_tensors=True)
    assert isinstance(tensors["attributions"], torch.Tensor) and tensors["map"].dtype == np.float32
    assert np.allclose(tensors["map"], picture["map"])
    with pytest.raises(InvalidInputError, match="takes no top_k"):
        explain(TEXTS[0], top_k=3)


def test_a_single_word_scores_one(explain):
    result = explain("great")
    assert result["words"] == ["great"] and result["word_scores"] == [1.0] and result["token_scores"] == [1.0]


def test_a_hub_repo_id_keeps_working(text_checkpoint, explain, hub_cache):
    cache, _ = hub_cache
    cache_repo(cache, "user/text-ssxai", text_checkpoint, commit_hash("text"))
    assert pipeline("user/text-ssxai", batch_size=2)(TEXTS) == explain(TEXTS)
    assert pipeline("user/text-ssxai", revision=commit_hash("text"), cache_dir=cache)(TEXTS[1]) == explain(TEXTS[1])
