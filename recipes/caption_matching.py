"""Image-caption matching from a captioned image collection: true captions against captions of other images.

The data of the Flickr8k recipe (``recipes/prepare_flickr8k.py``), kept beside it: experiment data, not library code.

The layout is Flickr8k's (also Kaggle's copy of it): a folder of images and a CSV file with header
``image,caption``, one row per caption, several captions per image. Each caption of an image gives one positive
pair (label 1, ``match``) and, with the same image, a caption drawn from another image gives one negative pair
(label 0, ``mismatch``), so the classes are balanced and every image appears in both. Splits are drawn by image,
so no image (and none of its captions) is shared between training and evaluation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value

from hf_ssxai.errors import InvalidInputError

#: the class names, by label: a caption of another image (0) or of this image (1)
LABELS = ("mismatch", "match")


def read_captions(captions_file: str | Path, images_dir: str | Path) -> dict[str, list[str]]:
    """Captions per image file (in file order) from a CSV with columns ``image`` and ``caption``.

    Every named image must exist in ``images_dir``; a missing file, a missing column or an empty file is an
    :class:`InvalidInputError` naming it.
    """
    captions_file, images_dir = Path(captions_file), Path(images_dir)
    try:
        with captions_file.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise InvalidInputError(f"Cannot read the captions file {captions_file}: {error}") from error
    if not rows or not {"image", "caption"} <= set(rows[0]):
        raise InvalidInputError(f"{captions_file} must be a CSV with a header 'image,caption' and at least one row.")
    captions: dict[str, list[str]] = {}
    for row in rows:
        captions.setdefault(row["image"], []).append(row["caption"].strip())
    missing = [name for name in captions if not (images_dir / name).is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} image(s) named in {captions_file} are not in {images_dir}, e.g. {missing[0]!r}."
        )
    return captions


def _pairs(captions: dict[str, list[str]], images: list[str], images_dir: Path, rng: np.random.Generator) -> dict:
    """Positive and negative pairs of the given images; negatives borrow captions of other images of the same set."""
    rows: dict[str, list] = {"image": [], "text": [], "label": []}
    for index, name in enumerate(images):
        for caption in captions[name]:
            other = images[(index + int(rng.integers(1, len(images)))) % len(images)]
            wrong = captions[other][int(rng.integers(len(captions[other])))]
            for text, label in ((caption, 1), (wrong, 0)):
                rows["image"].append(str(images_dir / name))
                rows["text"].append(text)
                rows["label"].append(label)
    return rows


def caption_matching_dataset(
    captions_file: str | Path,
    images_dir: str | Path,
    *,
    validation_images: int,
    test_images: int,
    seed: int = 0,
) -> DatasetDict:
    """Splits ``train``, ``validation`` and ``test`` of (image, caption, match) pairs, drawn by image.

    Columns: ``image`` (an image file, decoded by ``datasets``), ``text`` and ``label`` (``ClassLabel``
    mismatch / match). Negatives are captions of another image of the same split.
    """
    images_dir = Path(images_dir).resolve()  # absolute: the saved dataset finds its images from anywhere
    captions = read_captions(captions_file, images_dir)
    names = sorted(captions)
    held_out = validation_images + test_images
    if min(validation_images, test_images) < 2 or len(names) - held_out < 2:
        raise InvalidInputError(
            f"{len(names)} images cannot give at least 2 images to each split with validation_images="
            f"{validation_images} and test_images={test_images}."
        )
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    groups = {
        "train": order[held_out:],
        "validation": order[:validation_images],
        "test": order[validation_images:held_out],
    }
    features = Features({"image": Image(), "text": Value("string"), "label": ClassLabel(names=list(LABELS))})
    return DatasetDict(
        {
            split: Dataset.from_dict(_pairs(captions, images, images_dir, rng), features=features)
            for split, images in groups.items()
        }
    )
