"""Turn a captioned image folder (Flickr8k's layout) into an image-caption matching dataset for the recipes.

    python recipes/prepare_flickr8k.py --source ../shared/data/flickr8k --output data/flickr8k

``--source`` holds ``captions.txt`` (CSV ``image,caption``) and the images in ``images/`` (or ``Images/``, as in
the full Flickr8k download). The output (``Dataset.save_to_disk``) has splits ``train``, ``validation`` and
``test``, drawn by image, with columns ``image``, ``text`` and ``label`` (mismatch / match): each true caption
once with its image and once replaced by a caption of another image. The images stay where they are; the
dataset refers to them by absolute path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from caption_matching import caption_matching_dataset  # recipes/caption_matching.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--validation-images", type=int, default=100)
    parser.add_argument("--test-images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = next((args.source / name for name in ("images", "Images") if (args.source / name).is_dir()), None)
    if images is None:
        parser.error(f"{args.source} has no images/ or Images/ folder")
    dataset = caption_matching_dataset(
        args.source / "captions.txt",
        images,
        validation_images=args.validation_images,
        test_images=args.test_images,
        seed=args.seed,
    )
    dataset.save_to_disk(args.output)
    print(dataset)


if __name__ == "__main__":
    main()
