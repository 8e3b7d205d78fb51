"""Property tests (hypothesis) over the public functions that take a tensor, a map, a text or a path: whatever they
are given, they return a finite, correct-looking result or raise an ``SSXAIError``; never NaN, never an error from
deep inside torch, never a control character in what they render (issue 19: aim for the class of problem)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from hf_ssxai import AutoModelWithScorer, SSXAIError
from hf_ssxai.markup import html_text, markdown_text, terminal_text
from hf_ssxai.metrics import compute_perturbations, functional
from hf_ssxai.pipelines import pipeline
from hf_ssxai.targets import check_target
from hf_ssxai.visualization import tokens_to_html, tokens_to_terminal
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model

#: any float32 value, huge and non-finite ones included
ANY_FLOAT = st.floats(width=32, allow_nan=True, allow_infinity=True)
#: a float, integer or boolean array of up to three dimensions (empty ones included)
ANY_ARRAY = st.one_of(
    arrays(np.float32, array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), elements=ANY_FLOAT),
    arrays(np.int64, array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), elements=st.integers(-9, 9)),
    arrays(np.bool_, array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)),
)
#: text with control characters, surrogates, bidirectional overrides and markup
ANY_TEXT = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(list("\x1b\x07\x9b\u202e\n\r|<>&$`*_\\"))), max_size=30
)

MAP_FUNCTIONS = {
    "normalize_attributions": lambda a, b: functional.normalize_attributions(a, b),
    "complexity": lambda a, b: functional.complexity(a, b),
    "sparsity": lambda a, b: functional.sparsity(a, b),
    "entropy_complexity": lambda a, b: functional.entropy_complexity(a, b),
    "gini_sparseness": lambda a, b: functional.gini_sparseness(a, b),
    "feature_ranks": lambda a, b: functional.feature_ranks(a, b),
    "pointing_game": lambda a, b: functional.pointing_game(a, b, b),
    "rationale_overlap": lambda a, b: functional.rationale_overlap(a, b, b).f1,
    "rationale_auprc": lambda a, b: functional.rationale_auprc(a, b, b),
    "rationale_coverage": lambda a, b: functional.rationale_coverage(b, b),
    "average_drop": lambda a, b: functional.average_drop(a, b),
    "auc": lambda a, b: functional.auc(a),
}


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(MAP_FUNCTIONS)), ANY_ARRAY, ANY_ARRAY, st.sampled_from(["tensor", "numpy", "list"]))
def test_metric_functions_give_finite_values_or_a_typed_error(name, first, second, kind):
    convert = {"tensor": torch.from_numpy, "numpy": lambda a: a, "list": lambda a: a.tolist()}[kind]
    try:
        result = MAP_FUNCTIONS[name](convert(first), convert(second))
    except SSXAIError:
        return
    assert isinstance(result, torch.Tensor)
    assert bool(torch.isfinite(result.float()).all()), f"{name} returned {result}"


@settings(max_examples=60, deadline=None)
@given(st.lists(ANY_TEXT, min_size=0, max_size=5), st.data())
def test_renderers_take_any_token_and_score_and_emit_no_control_character(tokens, data):
    scores = data.draw(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=len(tokens), max_size=len(tokens))
    )
    page = tokens_to_html(tokens, scores, title=data.draw(ANY_TEXT))
    plain = tokens_to_terminal(tokens, scores, color=False)
    for shown in (page, plain):
        assert not any(char in shown for char in "\x1b\x07\x9b\u202e")
    assert "<script" not in page.replace("&lt;script", "")


@settings(max_examples=100, deadline=None)
@given(ANY_TEXT)
def test_markup_helpers_leave_no_structure_and_no_control_character(text):
    for shown in (terminal_text(text), html_text(text), markdown_text(text)):
        assert all(char.isprintable() for char in shown)
    assert "<" not in html_text(text) and ">" not in html_text(text)
    unescaped_pipes = markdown_text(text).replace("\\\\", "").replace("\\|", "")
    assert "|" not in unescaped_pipes and "<" not in markdown_text(text)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=3),
        st.lists(st.one_of(st.integers(-3, 5), st.floats(), st.text(max_size=2)), max_size=4),
        ANY_ARRAY.map(torch.from_numpy),
    )
)
def test_a_target_is_class_indices_or_a_typed_error(target):
    try:
        checked = check_target(target, batch=2, num_classes=3, device=torch.device("cpu"))
    except SSXAIError:
        return
    assert checked is None or (checked.dtype == torch.long and checked.shape == (2,) and checked.ge(0).all())


@pytest.fixture(scope="module")
def image_model():
    return tiny_image_model()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(0, 2), st.integers(1, 4), st.sampled_from([8, 16]), st.sampled_from([16])),
        elements=ANY_FLOAT,
    )
)
def test_the_model_gives_finite_outputs_or_a_typed_error_for_any_pixels(image_model, pixels):
    try:
        out = image_model(pixel_values=torch.from_numpy(pixels))
    except SSXAIError:
        return
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.attributions).all()
    assert out.attributions.min() >= 0 and out.attributions.max() <= 1


@settings(max_examples=40, deadline=None)
@given(st.one_of(ANY_TEXT, st.sampled_from(["", ".", "..", "/", "~", "user/model", "a/b/c", "x" * 300])))
def test_from_pretrained_of_any_path_is_a_typed_error(name):
    with pytest.raises(SSXAIError):
        AutoModelWithScorer.from_pretrained(name)


@pytest.fixture(scope="module")
def text_pipeline(word_tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("any_text") / "model"
    tiny_text_model(word_tokenizer).save_pretrained(folder)
    return pipeline(str(folder))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(ANY_TEXT, st.text(alphabet=st.characters(categories=["Cs", "Cc", "Zs", "Cf"]), max_size=10)))
def test_the_pipeline_explains_any_text_or_says_why_not(text_pipeline, text):
    try:
        result = text_pipeline(text)
    except SSXAIError:
        return
    assert 0 <= result["score"] <= 1 and all(0 <= score <= 1 for score in result["word_scores"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays(np.float32, st.tuples(st.just(2), st.sampled_from([15, 16]), st.just(16)), elements=ANY_FLOAT))
def test_the_perturbation_engine_gives_probabilities_or_a_typed_error_for_any_map(image_model, maps):
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    try:
        out = compute_perturbations(image_model, {"pixel_values": pixels}, torch.from_numpy(maps), steps=4)
    except SSXAIError:
        return
    for curve in (out.probabilities, out.masked_probabilities, out.deletion_curve, out.insertion_curve):
        assert torch.isfinite(curve).all() and curve.min() >= 0 and curve.max() <= 1


@pytest.mark.parametrize("name", sorted(MAP_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64, np.float16, np.float64])
@pytest.mark.parametrize("shape", [(1,), (2,), (1, 3), (2, 4)])
def test_metric_functions_take_every_dtype_hypothesis_may_not_draw(name, dtype, shape):
    """Deterministic companions of the property test: a bool or integer array is a valid 0/1 input, never a torch
    error (hypothesis once found average_drop raising torch's 'subtraction with a bool tensor')."""
    first, second = np.ones(shape, dtype=dtype), np.zeros(shape, dtype=dtype)
    for a, b in ((first, second), (second, first), (first, first)):
        try:
            result = MAP_FUNCTIONS[name](torch.from_numpy(a.copy()), torch.from_numpy(b.copy()))
        except SSXAIError:
            continue
        assert bool(torch.isfinite(result.float()).all()), f"{name} returned {result}"
