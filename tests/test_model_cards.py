"""model_cards/ holds exactly what the library renders for the reference checkpoints from their benchmark results."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted(path.parent.name for path in (ROOT / "model_cards").glob("*/README.md"))


def test_every_reference_checkpoint_has_a_card():
    from benchmarks.make_model_cards import REFERENCES

    assert sorted(REFERENCES) == CARDS


@pytest.mark.parametrize("name", CARDS)
def test_the_committed_card_is_the_rendered_one(name, tmp_path, monkeypatch):
    """Re-render with benchmarks/make_model_cards.py; a difference means the results (or the card template) changed
    without the cards being regenerated: run `python benchmarks/make_model_cards.py`."""
    from benchmarks import make_model_cards

    monkeypatch.setattr(sys, "argv", ["make_model_cards.py", "--output-dir", str(tmp_path), "--names", name])
    make_model_cards.main()
    rendered = (tmp_path / name / "README.md").read_text(encoding="utf-8")
    assert rendered == (ROOT / "model_cards" / name / "README.md").read_text(encoding="utf-8")


def test_the_card_states_the_loss_the_config_trains():
    """A card must not print eq. 3.4 whole for a scorer trained without a penalty, nor hide an order term."""
    from hf_ssxai import ScorerConfig
    from hf_ssxai.model_card import _loss_text

    text = _loss_text(ScorerConfig(use_binary_penalty=False, deletion_weight=0.0))
    assert "binary" not in text and "mean(S)²" in text and "deletion" not in text
    image = _loss_text(ScorerConfig(use_binary_penalty=True, deletion_weight=3.0))
    assert "binary mask" in image and "3 · p_c(x without the top q of S)" in image and "another" not in image
    contrast = _loss_text(ScorerConfig(deletion_weight=3.0, contrast_weight=1.0))
    assert "1 · (1 − p_c(x without the top q of another input's S))" in contrast and "contrast term" in contrast
    bare = _loss_text(ScorerConfig(use_magnitude_penalty=False, use_binary_penalty=False, deletion_weight=0.0))
    assert bare == "The loss per sample is `task(x ⊗ S)`.", "no γ without a penalty to step back"
