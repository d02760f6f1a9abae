"""The Tipsomaly LightningModule: a thin shell of steps, optimiser, metrics and logging.

The math lives in `TipsomalyModel` (torch_model.py) and the plain modules beside it.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.utilities import rank_zero_info

from lightning_modules.metrics import results_table, write_results
from lightning_modules.tips import TipsSpec

from .evaluation import ClassMetrics
from .feature_cache import FeatureCache, file_identity
from .loss import classification_loss, l1_penalty, segmentation_loss
from .prompt_checkpoint import load_prompt_checkpoint, save_prompt_checkpoint
from .torch_model import TipsomalyModel, TipsomalyOutput

LOSSES = ("seg", "cls", "both")
BACKBONE_PREFIX = "model.tips."


def _close_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# Lightning leaves the process group alive at exit, where torch can abort ("terminate called without
# an active exception", seen with gloo on CPU); close it while the interpreter lives. Registered once
# per process (spawned DDP workers import this module too).
atexit.register(_close_process_group)


def _levels(spec) -> tuple[str, ...]:
    """The metric levels a test set supports (a DatasetSpec's image_level / pixel_level); both without a spec."""
    if spec is None:
        return ("image", "pixel")
    return tuple(level for level, on in (("image", spec.image_level), ("pixel", spec.pixel_level)) if on)


class Tipsomaly(L.LightningModule):
    """Frozen TIPS + trainable pixel prompts; scores, maps, prompt learning and evaluation.

    Args:
        backbone: which TIPS checkpoint (official name + folder, or explicit paths); a TipsSpec or its fields.
        image_size: the square input size S (a multiple of 14; 518 in the paper).
        fixed_prompts: default prompt ensemble ("industrial", "medical", "object_agnostic");
            a test set may name its own.
        prompt_method: "concat" (default), "sumate", "entire_learnable", or "none" (fixed prompts only).
        n_prompt: learnable vectors per state. n_deep, d_deep: optional deep prompts (off by default).
        prompt_checkpoint: learned prompts to start from: ours, or the reference's `learnable_params_N.pth`.
        image_token: "first" (CLS) or "second" (register) global token for the image score.
        local_to_global: add the maximum abnormal patch probability to the image score.
        decoupled: fixed prompts score the image, learned prompts the pixels (False: learned for both).
        sigma: Gaussian smoothing of the anomaly map (0 = none).
        loss: "seg" (focal + dice, default), "cls" (cross-entropy of the global tokens), "both".
        l1_lambda: weight of the L1 penalty on the learned text features.
        lr, betas: Adam settings for the prompt vectors.
        feature_cache: "memory" (default), "disk" or "off": reuse a training image's frozen
            visual features across epochs. feature_cache_dir: folder for "disk".
        exact_pixel_metrics: keep every pixel and sort (small sets) instead of streaming histograms.
        aupro: "mvtec" (default) or "reference" (the paper code's definition).
        results_dir: where results tables and prompt checkpoints go (default: the Trainer's log dir).
    """

    def __init__(
        self,
        backbone: TipsSpec | dict,
        image_size: int = 518,
        fixed_prompts: str = "industrial",
        prompt_method: str = "concat",
        n_prompt: int = 8,
        n_deep: int = 0,
        d_deep: int = 0,
        prompt_checkpoint: str | None = None,
        image_token: str = "first",
        local_to_global: bool = True,
        decoupled: bool = True,
        sigma: float = 4.0,
        loss: str = "seg",
        l1_lambda: float = 0.0,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.5, 0.999),
        feature_cache: str = "memory",
        feature_cache_dir: str | None = None,
        exact_pixel_metrics: bool = False,
        aupro: str = "mvtec",
        results_dir: str | None = None,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if image_size % 14:
            raise ValueError(f"image_size must be a multiple of the patch size 14, got {image_size}; e.g. {round(image_size / 14) * 14}")
        self.backbone_spec = backbone if isinstance(backbone, TipsSpec) else TipsSpec(**backbone)
        self.save_hyperparameters(ignore=["backbone"])
        # plain values only, so Lightning checkpoints load with torch.load(weights_only=True)
        self.hparams["backbone"] = dataclasses.asdict(self.backbone_spec)
        tips = self.backbone_spec.load()
        cache = FeatureCache(feature_cache, feature_cache_dir, backbone_key=file_identity(tips.files.vision))
        self.model = TipsomalyModel(
            tips,
            fixed_prompts=fixed_prompts,
            prompt_method=prompt_method,
            n_prompt=n_prompt,
            n_deep=n_deep,
            d_deep=d_deep,
            image_token=image_token,
            local_to_global=local_to_global,
            decoupled=decoupled,
            sigma=sigma,
            feature_cache=cache,
        )
        if prompt_checkpoint is not None:
            self.load_prompts(prompt_checkpoint)
        self.evaluation: ClassMetrics | None = None
        self.test_results = None  # the last test's results table (pandas)

    # -- prompts ------------------------------------------------------------------------------
    def load_prompts(self, path: str) -> None:
        if self.model.prompts is None:
            raise ValueError(f"prompt_checkpoint={path!r} was given but prompt_method='none' has no learnable prompts")
        checkpoint = load_prompt_checkpoint(path, expected_width=self.model.tips.text_width)
        self.model.prompts.load_checkpoint(checkpoint, str(path))
        self.model.mark_prompts_learned()

    def prompt_settings(self) -> dict:
        h = self.hparams
        return {
            "prompt_method": h.prompt_method,
            "n_prompt": h.n_prompt,
            "width": self.model.tips.text_width,
            "backbone": self.backbone_spec.label,
            "image_size": h.image_size,
            "fixed_prompts": h.fixed_prompts,
            "epoch": self.current_epoch + 1,
        }

    @property
    def output_dir(self) -> Path:
        if self.hparams.results_dir:
            return Path(self.hparams.results_dir)
        if self._trainer is not None and self.trainer.log_dir:
            return Path(self.trainer.log_dir)
        return Path("outputs")

    # -- inference ----------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, class_names: list[str], fixed_prompts: str | None = None) -> TipsomalyOutput:
        """images [B, 3, S, S] in [0, 1]; class_names: B strings -> pred_score [B], anomaly_map [B, S, S]."""
        return self.model(images, class_names, fixed_prompts=fixed_prompts)

    # -- training -----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        paths = batch.image_path if self.model.feature_cache.mode != "off" else None
        out = self.model.training_forward(batch.image, paths)
        losses = {}
        if self.hparams.loss in ("seg", "both"):
            losses["seg"] = segmentation_loss(out.pixel_probabilities, batch.mask)
        if self.hparams.loss in ("cls", "both"):
            losses["cls"] = classification_loss(out.global_probabilities, batch.label)
        total = sum(losses.values())
        if self.hparams.l1_lambda:
            losses["l1"] = l1_penalty(out.text_features)
            total = total + self.hparams.l1_lambda * losses["l1"]
        batch_size = batch.image.shape[0]
        self.log("train/loss", total, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size)
        for name, value in losses.items():
            self.log(f"train/{name}", value, batch_size=batch_size)
        return total

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.model.mark_prompts_learned()

    def on_train_epoch_end(self):
        if self.trainer.is_global_zero and self.model.prompts is not None:
            path = self.output_dir / "prompts" / f"learnable_prompts_epoch{self.current_epoch + 1}.pt"
            save_prompt_checkpoint(path, self.model.prompts.to_checkpoint(self.prompt_settings()))
            rank_zero_info(f"learned prompts saved to {path}")

    def configure_optimizers(self):
        if self.model.prompts is None:
            raise ValueError("prompt_method='none' has no learnable prompts to train; choose concat, sumate or entire_learnable")
        return torch.optim.Adam(self.model.prompts.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas))

    # -- evaluation ---------------------------------------------------------------------------
    def _eval_sets(self, stage: str) -> list:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return list(getattr(datamodule, f"{stage}_sets", None) or [])

    def _evaluation_step(self, stage: str, batch, dataloader_idx: int) -> None:
        sets = self._eval_sets(stage)
        spec = sets[dataloader_idx] if dataloader_idx < len(sets) else None
        fixed_prompts = getattr(spec, "fixed_prompts", None) or self.hparams.fixed_prompts
        dataset = getattr(spec, "name", None) or batch.dataset_name[0]
        out = self.model(batch.image, batch.class_name, fixed_prompts=fixed_prompts)
        self.evaluation.update(
            dataset,
            _levels(spec),
            list(batch.class_name),
            out.pred_score,
            batch.label,
            batch.index,
            out.anomaly_map,
            batch.mask,
            batch.has_mask,
        )

    def _evaluation_end(self, stage: str) -> None:
        dataset_order = [s.name for s in self._eval_sets(stage)]
        table = results_table(self.evaluation.results(self.device, dataset_order))
        self.evaluation = None
        if self.trainer.is_global_zero:  # on disk before any logger can fail
            csv_path, md_path = write_results(table, self.output_dir / f"{stage}_results")
            rank_zero_info(f"{stage} results written to {csv_path} and {md_path}")
        metrics = {}
        for row in table.to_dict("records"):
            for column, value in row.items():
                if column not in ("dataset", "class") and isinstance(value, float) and not math.isnan(value):
                    metrics[f"{stage}/{row['dataset']}/{row['class']}/{column}"] = value
        if metrics:
            self.log_dict(metrics, sync_dist=False, rank_zero_only=True)
        if stage == "test":
            self.test_results = table

    def on_test_epoch_start(self):
        self.evaluation = ClassMetrics(self.hparams.exact_pixel_metrics, self.hparams.aupro)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._evaluation_step("test", batch, dataloader_idx)

    def on_test_epoch_end(self):
        self._evaluation_end("test")

    def on_validation_epoch_start(self):
        self.evaluation = ClassMetrics(self.hparams.exact_pixel_metrics, self.hparams.aupro)

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._evaluation_step("val", batch, dataloader_idx)

    def on_validation_epoch_end(self):
        self._evaluation_end("val")

    # -- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The frozen backbone is loaded from its official files; only the prompts are ours to store.
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(BACKBONE_PREFIX)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for key, value in self.model.tips.state_dict().items():
            checkpoint["state_dict"].setdefault(BACKBONE_PREFIX + key, value)
