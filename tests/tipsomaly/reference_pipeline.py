"""An independent transcription of the reference implementation's scoring (AlirezaSalehy/Tipsomaly,
`test.py`, `model/omaly/*.py`, `model/tips/text_encoder.py`), in plain torch + scipy, loop for loop.

Tests compare the project's Tipsomaly against it on the tiny TIPS checkpoints.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

INDUSTRIAL = (
    ["{}", "flawless {}", "perfect {}", "unblemished {}", "{} without flaw", "{} without defect", "{} without damage"],
    ["damaged {}", "broken {}", "{} with flaw", "{} with defect", "{} with damage"],
    ["a bad photo of a {}.", "a low resolution photo of the {}.", "a bad photo of the {}.", "a cropped photo of the {}."],
)


def reference_text_embeddings(tips, sentences, learnables=None, method=None):
    """model/tips/text_encoder.py TextEncoder.__call__ with learnable prompts, written out."""
    ids, paddings = tips.tokenizer(sentences)
    paddings = paddings.float()
    batch_size, original_length = ids.shape
    x = tips.text.token_embedding(ids) * (tips.text.width**0.5)
    if learnables is not None:
        if method == "concat":
            prompts = learnables.unsqueeze(0).expand(batch_size, -1, -1)
            x = torch.cat([prompts, x], dim=1)
            paddings = torch.cat([torch.zeros(batch_size, prompts.size(1)), paddings], dim=1)
        elif method == "sumate":
            x = x.clone()
            x[:, : learnables.size(0), :] += learnables.unsqueeze(0)
        elif method == "entire_learnable":
            x = learnables.unsqueeze(0).expand(batch_size, -1, -1)
            paddings = torch.zeros(batch_size, x.size(1))
    if x.size(1) > original_length:
        x, paddings = x[:, :original_length], paddings[:, :original_length]
    elif x.size(1) < original_length:
        pad = original_length - x.size(1)
        x = torch.cat([x, torch.zeros(batch_size, pad, x.size(2))], dim=1)
        paddings = torch.cat([paddings, torch.ones(batch_size, pad)], dim=1)
    return tips.text.encode_embeddings(x, paddings)


def reference_class_features(tips, class_name, learnables=None, method=None):
    """model/omaly/text_encoder.py encode_text + forward's F.normalize + test.py's extra division: [2, D]."""
    features = []
    for state_index, states in enumerate(INDUSTRIAL[:2]):
        text = class_name.replace("-", " ")
        sentences = [template.format(state.format(text)) for state in states for template in INDUSTRIAL[2]]
        prompt = learnables[state_index] if learnables is not None else None
        embeddings = reference_text_embeddings(tips, sentences, prompt, method)
        embeddings = embeddings / embeddings.norm(dim=-1, keepdim=True).clamp(min=1e-3)
        mean = embeddings.mean(dim=0)
        features.append(mean / mean.norm(dim=-1, keepdim=True))
    features = F.normalize(torch.stack(features)[None], dim=2)
    return (features / features.norm(dim=-1, keepdim=True))[0]


def calc_score(vis_feat, txt_feat, temp):
    return F.softmax((vis_feat @ txt_feat.permute(0, 2, 1)) / temp, dim=-1)


def reference_scores(tips, images, class_names, learnables=None, method="concat", decoupled=True, local_to_global=True, sigma=4, image_token=0):
    """test.py's loop body for one batch: (image score [B], anomaly map [B, S, S])."""
    with torch.no_grad():
        fixed = torch.stack([reference_class_features(tips, c.replace("_", " ")) for c in class_names])
        cls_text, seg_text = fixed, fixed
        if learnables is not None:
            learned = reference_class_features(tips, "object", learnables, method)[None]
            cls_text, seg_text = (fixed, learned) if decoupled else (learned.expand_as(fixed), learned)
        outputs = tips.vision(images)
        visual = [outputs[0][:, None], outputs[1][:, None], outputs[2]]
        visual = [v / v.norm(dim=-1, keepdim=True).clamp(min=1e-3) for v in visual]
        visual = [v / v.norm(dim=-1, keepdim=True) for v in visual]
        score = calc_score(visual[image_token], cls_text, tips.temperature).squeeze(dim=1)
        img_map = calc_score(visual[2], seg_text, tips.temperature)
        if local_to_global:
            score = score + torch.max(img_map, dim=1)[0]
        size = images.shape[-1]
        side = int(img_map.shape[1] ** 0.5)
        grid = img_map.reshape(img_map.shape[0], side, side, -1).permute(0, 3, 1, 2)
        up = F.interpolate(grid, (size, size), mode="bilinear").permute(0, 2, 3, 1)
        rough = (1 - up[..., 0] + up[..., 1]) / 2
        maps = torch.stack([torch.from_numpy(gaussian_filter(m.numpy(), sigma=sigma)) for m in rough])
    return score[:, 1], maps


def reference_seg_loss(probs, mask):
    """AnomalyCLIP-style FocalLoss() + BinaryDiceLoss() as train.py combines them."""
    target = mask.long()
    one_hot = torch.zeros_like(probs).scatter_(1, target[:, None], 1.0).clamp(1e-5, 1 - 1e-5)
    pt = (one_hot * probs).sum(1) + 1e-5
    focal = (-(1 - pt) ** 2 * pt.log()).mean()

    def dice(x, y):
        n = x.shape[0]
        x, y = x.reshape(n, -1), y.reshape(n, -1)
        return 1 - ((2 * (x * y).sum(1) + 1) / (x.sum(1) + y.sum(1) + 1)).sum() / n

    return focal + dice(probs[:, 1], mask) + dice(probs[:, 0], 1 - mask)


def to_numpy(t):
    return np.asarray(t.detach().cpu())
