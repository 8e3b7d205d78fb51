"""Every Python example of README.md and docs/*.md runs, on tiny models built offline.

How the examples run: the Python blocks of one page run in order in one namespace, as cells of a notebook, in a
folder that holds a local stand-in for every Hub id and file the examples name (``from_pretrained("user/repo")``
and ``load_dataset("user/data")`` read a local folder of that name first). The namespace starts with the names the
page's examples take as given (``model``, ``inputs``, ``train``, ...): those of the page's context, ``text`` unless
the page says ``<!-- examples: image -->`` (or ``text-image``) on a line of its own. Uploads are recorded at the
``HfApi`` boundary, nothing reaches the network.

What a docs author does so that a new example passes:

- name Hub ids and files that have a stand-in in ``tests/docs_examples.py`` (``STAND_INS``), or add one there;
- use only names the example defines, an earlier block of the page defines, or the page's context gives (the
  contexts are in ``tests/docs_examples.py``; add a name there if a fragment must take it as given);
- if the example cannot run here, list it below with the reason (``NOT_RUN``, or ``NEEDS_CUDA``: these run where a
  GPU is).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from tests import docs_examples
from tests.checkpoint_helpers import HubRecorder

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
CONTEXT = re.compile(r"^<!-- examples: ([\w-]+)", re.MULTILINE)
#: blocks that do not run here, by page and a line of the block, with the reason
NOT_RUN = {
    ("docs/architecture.md", "class SignalModality(SingleModality):"): (
        "an abridged sketch (`...` stands for the rest); tests/test_new_modality.py runs the whole modality"
    ),
}
#: blocks that need a GPU (they run where one is), by page and a line of the block
NEEDS_CUDA = {
    ("docs/multimodal.md", 'explain = pipeline("caption-matching-ssxai", device="cuda"'),
}


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(page: Path) -> list[tuple[int, str]]:
    """The page's Python blocks with the line each starts on."""
    text = page.read_text(encoding="utf-8")
    return [(text[: match.start()].count("\n") + 2, match.group(1)) for match in BLOCK.finditer(text)]


def _listed(listing, page: Path, code: str):
    return next((key for key in listing if key[0] == _name(page) and key[1] in code), None)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """The folder the examples run in, with every stand-in; its tokenizer."""
    root = tmp_path_factory.mktemp("docs_examples")
    tokenizer = docs_examples.word_tokenizer()
    docs_examples.make_stand_ins(root, tokenizer)
    return root, tokenizer


def test_the_lists_name_blocks_that_exist():
    """A renamed or removed example must leave NOT_RUN and NEEDS_CUDA too."""
    for name, line in [*NOT_RUN, *NEEDS_CUDA]:
        assert any(line in code for _, code in _blocks(ROOT / name)), f"{name}: no block holds {line!r}"


@pytest.mark.parametrize("page", [page for page in PAGES if _blocks(page)], ids=_name)
def test_every_python_example_runs(page, stand_ins, request, monkeypatch):
    root, tokenizer = stand_ins
    monkeypatch.chdir(root)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    HubRecorder().install(monkeypatch)
    found = CONTEXT.search(page.read_text(encoding="utf-8"))
    context = found.group(1) if found else "text"
    trained_resnet = lambda: request.getfixturevalue("planted_resnet")  # noqa: E731  (trained only if asked for)
    namespace = {"__name__": "__main__", **docs_examples.contexts(tokenizer, root, trained_resnet)[context]()}
    for line, code in _blocks(page):
        where = f"{_name(page)}:{line}"
        if _listed(NOT_RUN, page, code) or (_listed(NEEDS_CUDA, page, code) and not torch.cuda.is_available()):
            continue  # listed above, with the reason
        try:
            # compiled at the page's own lines, so a traceback points into the page
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)  # noqa: S102  (the docs' own)
        except Exception as error:
            raise AssertionError(f"The example at {where} fails: {type(error).__name__}: {error}") from error
    assert os.getcwd() == str(root)
