"""The main job: `hf-ssxai demo` runs offline and writes a report a person can open."""

import json

from hf_ssxai import AutoModelWithScorer
from hf_ssxai.cli import main
from hf_ssxai.explainers import supported_explainers


def test_quick_demo_writes_report_checkpoints_and_summary(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path), "--quick", "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for part, measure in (("text", "evidence_ranked_first"), ("image", "maximum_inside_evidence")):
        assert 0.0 <= summary[part][measure] <= 1.0
        assert 0.0 <= summary[part]["classifier_accuracy"] <= 1.0
    page = (tmp_path / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "[CLS]" not in page  # special tokens are not shown
    assert page.count('<img src="images/example_') == len(list((tmp_path / "images").glob("*.png"))) > 0
    for kind in ("text", "image"):
        model = AutoModelWithScorer.from_pretrained(tmp_path / "models" / kind)
        # the report compares the scorer with every method that supports the classifier, pointing game included
        assert set(summary["benchmark"][kind]) == set(supported_explainers(model))
        assert all("pointing_game" in metrics for metrics in summary["benchmark"][kind].values())
        assert (tmp_path / "benchmark" / kind / "radar.png").stat().st_size > 0
        assert f'src="benchmark/{kind}/radar.png"' in page
    assert page.count("<td>integrated_gradients</td>") == 2
    assert "index.html" in capsys.readouterr().out


def test_cli_reports_usage_errors_with_exit_code_two(capsys):
    try:
        main(["no-such-command"])
    except SystemExit as stop:
        assert stop.code == 2
    assert "invalid choice" in capsys.readouterr().err
