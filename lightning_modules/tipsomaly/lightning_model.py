"""The Tipsomaly LightningModule: a thin shell of steps, optimiser, metrics and logging.

The math lives in `TipsomalyModel` (torch_model.py) and the plain modules beside it. The module
writes no files: callbacks (`lightning_modules.callbacks`) write results tables and prompt files
from what it computed, and loggers copy what exists.
"""

from __future__ import annotations

import dataclasses
import math

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lightning_modules.backbones import BackboneSpec, SiglipSpec, backbone_patch_size, backbone_spec, identity_key, identity_of
from lightning_modules.metrics import results_table
from lightning_modules.tips import TipsSpec

from .arguments import check_arguments
from .distributed_padding import PaddingMarks
from .evaluation import ClassFailure, ClassMetrics, plan_of
from .feature_cache import DEFAULT_MAX_MEMORY_MB, FeatureCache
from .few_shot import FewShotMemory, add_plan_notes, check_few_shot_arguments
from .loss import classification_loss, l1_penalty, segmentation_loss
from .prompt_checkpoint import PromptCheckpoint, load_prompt_checkpoint
from .step_output import EvaluationOutput
from .settings import TipsomalySettings, check_image_grid
from .text_feature_cache import text_cache_for
from .torch_model import TipsomalyModel, TipsomalyOutput

BACKBONE_PREFIX = "model.tips."
STAGES = {"test": "test", "validate": "val"}


class Tipsomaly(L.LightningModule):
    """Frozen TIPS + trainable pixel prompts; scores, maps, prompt learning and evaluation.

    Args:
        backbone: which backbone: a TIPS checkpoint (official name + folder, or explicit paths), or a folder saved by
            transformers / a hub id (`checkpoint_dir` or `name`; config.json's model_type picks TIPS v2 or SigLIP).
        image_size: the square input size S (a multiple of 14; 518 in the paper). The data decides it: the
            command line links it to `data.image_size`; when given, batches of another size are refused.
        resize: how the data brought images to S x S ("reference" or "letterbox"; linked from `data.resize`):
            recorded in the provenance, since thresholds calibrated under one resize do not hold under another.
        fixed_prompts: default prompt ensemble ("industrial", "medical", "object_agnostic"); each batch
            carries its set's own family, which wins.
        prompt_method: "concat" (default), "sumate", "entire_learnable", or "none" (fixed prompts only).
        n_prompt: learnable vectors per state. n_deep, d_deep: optional deep prompts (both or neither).
        prompt_checkpoint: learned prompts to start from: ours, or the reference's `learnable_params_N.pth`.
        image_token: "first" (CLS) or "second" (register) global token for the image score.
        local_to_global: add the maximum abnormal patch probability to the image score.
        decoupled: fixed prompts score the image, learned prompts the pixels (False: learned for both).
        sigma: Gaussian smoothing of the anomaly map (0 = none).
        loss: "seg" (focal + dice, default), "cls" (cross-entropy of the global tokens), "both".
        l1_lambda: weight of the L1 penalty on the learned text features.
        lr, betas: Adam settings for the prompt vectors.
        feature_cache: "memory" (default), "disk" or "off": reuse an image's frozen visual features across
            epochs (memory: training only, freed when training ends; disk: also evaluation, shared by runs
            that name the same feature_cache_dir). feature_cache_max_mb: the memory mode's bound. Fixed-prompt
            text embeddings are kept across runs too (not "off"): in feature_cache_dir/text_features for "disk",
            else in $TIPSOMALY_CACHE_DIR (default ~/.cache/tipsomaly)/text_features.
        exact_pixel_metrics: keep every pixel and sort (small sets) instead of streaming histograms.
        aupro: "mvtec" (default) or "reference" (the paper code's definition).
        compile_image_tower: `torch.compile` the image tower when a Trainer sets the module up (in each
            process, so DDP spawn is unaffected); same outputs to 2e-6 (float32) / 7e-3 (bf16), x1.15 faster
            under bf16 on the CPU benchmark, at a one-off compilation cost (README, Benchmarks).
        few_shot_weight, few_shot_only, few_shot_rotations: few-shot mode, for test sets whose data draws
            reference images (`few_shot: {k, seed}`; see few_shot.py): anomaly_map = (1 - w) zero-shot + w
            few-shot (only: the few-shot map alone), image score + max of the few-shot map; rotations add the
            references rotated by 90/180/270 degrees to the bank.
    """

    def __init__(
        self,
        backbone: BackboneSpec | TipsSpec | SiglipSpec | dict,
        image_size: int | None = None,
        resize: str = "reference",
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
        feature_cache_max_mb: float = DEFAULT_MAX_MEMORY_MB,
        exact_pixel_metrics: bool = False,
        aupro: str = "mvtec",
        compile_image_tower: bool = False,
        few_shot_weight: float = 0.5,
        few_shot_only: bool = False,
        few_shot_rotations: bool = False,
    ):
        super().__init__()
        spec = backbone_spec(backbone)  # TIPS or SigLIP, the kind read from the files (config.json)
        check_few_shot_arguments(few_shot_weight, few_shot_only, few_shot_rotations)  # few-shot mode (few_shot.py)
        self.save_hyperparameters(ignore=["backbone"])
        self.settings = TipsomalySettings.from_mapping(self.hparams)  # checks the method's settings
        check_arguments(self.hparams)  # and the training, caching and metric arguments
        check_image_grid(image_size, backbone_patch_size(spec)[1])  # before any weights load
        self.backbone_spec = spec
        # plain values only, so Lightning checkpoints load with torch.load(weights_only=True)
        self.hparams["backbone"] = dataclasses.asdict(self.backbone_spec)
        tips = self.backbone_spec.load()
        cache = FeatureCache(feature_cache, feature_cache_dir, identity_key(tips), feature_cache_max_mb)
        self.model = TipsomalyModel(tips, self.settings, feature_cache=cache, text_cache=text_cache_for(feature_cache, feature_cache_dir))
        if prompt_checkpoint is not None:
            self.load_prompts(prompt_checkpoint)
        self._evaluation: dict[str, ClassMetrics] = {}  # a plain dict: metrics are not part of the checkpoint
        self._results: dict = {}  # stage -> (table, failures), computed once per epoch
        self._padding: dict[str, PaddingMarks] = {}  # stage -> this rank's padding marks
        self.results: dict = {}  # stage -> the last results table (pandas)
        self.seen_image_size: int | None = image_size
        # few-shot mode: memory banks built when test / predict start, never saved (few_shot.py)
        self.few_shot = FewShotMemory(few_shot_weight, few_shot_only, few_shot_rotations, sigma)

    def setup(self, stage: str) -> None:
        vision = self.model.tips.vision
        if self.hparams.compile_image_tower and getattr(vision, "_compiled_call_impl", None) is None:
            vision.compile()  # in place: parameter names (and so checkpoints) stay as they are

    # -- prompts ------------------------------------------------------------------------------
    def load_prompts(self, path: str) -> None:
        if self.model.prompts is None:
            raise ValueError(f"prompt_checkpoint={path!r} was given but prompt_method='none' has no learnable prompts")
        checkpoint = load_prompt_checkpoint(path, expected_width=self.model.tips.text_width, backbone=identity_of(self.model.tips))
        self.model.prompts.load_checkpoint(checkpoint, str(path))
        self.model.prompts_changed()

    def provenance(self) -> dict:
        """What scores now (see provenance.py): the live prompts, the backbone, the size seen or asked, the resize."""
        return {**self.model.provenance(image_size=self.seen_image_size), "few_shot": self.few_shot.describe()}

    def prompt_file(self) -> PromptCheckpoint:
        """The learned prompts and the settings needed to use them again (what PromptWriter saves)."""
        s = self.settings
        identity = identity_of(self.model.tips)
        settings = {
            "prompt_method": s.prompt_method,
            "n_prompt": s.n_prompt,
            "width": self.model.tips.text_width,
            "backbone": self.backbone_spec.label,
            "backbone_kind": identity["kind"],
            "backbone_fingerprint": identity["fingerprint"],
            "image_size": self.seen_image_size,
            "resize": s.resize,
            "fixed_prompts": s.fixed_prompts,
            "epoch": self.current_epoch + 1,
        }
        return self.model.prompts.to_checkpoint(settings)

    @property
    def test_results(self):
        """The last test's results table (pandas), or None."""
        return self.results.get("test")

    # -- inference ----------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, class_names: list[str], fixed_prompts: str | None = None) -> TipsomalyOutput:
        """images [B, 3, S, S] float in [0, 1]; class_names: B prompt class words -> pred_score [B], anomaly_map [B, S, S]."""
        return self.model(images, class_names, fixed_prompts=fixed_prompts)

    def _check_size(self, images: torch.Tensor) -> None:
        size = images.shape[-1]
        if images.shape[-2] != size:
            raise ValueError(f"Tipsomaly: batch images are {tuple(images.shape[-2:])}, expected square S x S; set data.image_size")
        if self.seen_image_size is None:
            self.seen_image_size = int(size)
        elif size != self.seen_image_size:
            raise ValueError(
                f"Tipsomaly: batch images are {size} px but the model runs at image_size={self.seen_image_size}; "
                "set one size for both (the command line links data.image_size to model.image_size)"
            )

    # -- training -----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        self._check_size(batch.image)
        fingerprints = batch.fingerprint or None
        out = self.model.training_forward(batch.image, batch.fixed_prompts or None, fingerprints)
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
        self.log("train/loss", total, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size, sync_dist=True)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=True, batch_size=batch_size, sync_dist=True)
        return total

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # after the optimiser step: the prompts moved, so cached learned features are stale
        self.model.prompts_changed()

    def on_train_end(self):
        cache = self.model.feature_cache
        if cache.mode != "off":
            rank_zero_info(cache.describe())
        cache.clear()

    def configure_optimizers(self):
        if self.model.prompts is None:
            raise ValueError("prompt_method='none' has no learnable prompts to train; choose concat, sumate or entire_learnable")
        return torch.optim.Adam(self.model.prompts.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas))

    # -- evaluation ---------------------------------------------------------------------------
    def _loaders(self, stage: str) -> list:
        loaders = getattr(self.trainer, f"{'val' if stage == 'validate' else stage}_dataloaders")
        return [loaders] if not isinstance(loaders, (list, tuple)) else list(loaders)

    def _start_padding_marks(self, stage: str) -> None:
        # any loader, however built, counts each sample once under DDP (or is refused): distributed_padding.py
        self._padding[stage] = PaddingMarks(self._loaders(stage), self.trainer.world_size, stage)

    def _start_evaluation(self, stage: str) -> None:
        loaders = self._loaders(stage)
        plans = [plan_of(loader.dataset, f"{stage} dataloader {i}") for i, loader in enumerate(loaders)]
        self._start_padding_marks(stage)
        self._evaluation[stage] = ClassMetrics(plans, self.hparams.exact_pixel_metrics, self.hparams.aupro).to(self.device)
        self._results.pop(stage, None)

    def _score(self, batch, stage: str | None = None, dataloader_idx: int = 0) -> EvaluationOutput:
        self._check_size(batch.image)
        is_padding = list(batch.is_padding) or [False] * len(batch.image_path)
        if stage in self._padding:
            is_padding = self._padding[stage].mark(dataloader_idx, is_padding)
        use_cache = self.model.feature_cache.mode == "disk"  # memory caching pays off only across epochs
        few_shot = self.few_shot.for_batch(batch.dataset_name, batch.class_name)  # None: zero-shot (few_shot.py)
        out = self.model(batch.image, batch.prompt_name, batch.fixed_prompts or None, batch.fingerprint or None, check=False, use_cache=use_cache, few_shot=few_shot)
        return EvaluationOutput(
            dataset_name=list(batch.dataset_name),
            class_name=list(batch.class_name),
            image_path=list(batch.image_path),
            is_padding=is_padding,
            label=batch.label,
            pred_score=out.pred_score,
            score_first=out.score_first,
            score_second=out.score_second,
            max_pixel_score=out.max_pixel_score,
            anomaly_map=out.anomaly_map,
            mask=batch.mask,
            has_mask=batch.has_mask,
            image=batch.image,
        )

    def _evaluation_step(self, stage: str, batch, dataloader_idx: int = 0) -> EvaluationOutput:
        out = self._score(batch, stage, dataloader_idx)
        self._evaluation[stage].update(
            out.dataset_name,
            out.class_name,
            out.pred_score,
            batch.label,
            batch.index,
            out.anomaly_map,
            batch.mask,
            batch.has_mask,
            is_padding=out.is_padding,
            # "bf16-true" casts the batch's floats: bf16 weights are inexact, so then the masks are labelled here
            region_weights=batch.region_weights if batch.region_weights is not None and batch.region_weights.dtype == torch.float32 else None,
            pixel_truth=batch.pixel_truth or None,
        )
        return out

    def evaluation_results(self, stage: str):
        """(results table, failures) of this epoch's evaluation, computed once; every rank must call it."""
        if stage not in self._results:
            results, failures = self._evaluation[stage].results()
            table = add_plan_notes(results_table(results), self._evaluation[stage].plans)  # e.g. few-shot notes
            self._results[stage] = (table, failures)
            self.results[stage] = table
        return self._results[stage]

    def _end_evaluation(self, stage: str) -> None:
        table, failures = self.evaluation_results(stage)
        prefix = STAGES[stage]
        metrics = {}
        for row in table.to_dict("records"):
            for column, value in row.items():
                if column not in ("dataset", "class") and isinstance(value, float) and not math.isnan(value):
                    metrics[f"{prefix}/{row['dataset']}/{row['class']}/{column}"] = value
        if metrics:
            # every rank holds the same synchronised values: log on all, so callbacks can monitor them under DDP
            # (sync_dist averages identical values: exact, and Lightning then accepts them for epoch-level monitoring)
            self.log_dict(metrics, sync_dist=True)
        for failure in failures:
            rank_zero_warn(f"{prefix} metrics of {failure.dataset}/{failure.class_name} failed: {failure.error}")
        del self._evaluation[stage]

    def _raise_failures(self, stage: str) -> None:
        failures: list[ClassFailure] = self._results.get(stage, (None, []))[1]
        if failures:
            named = ", ".join(f"{f.dataset}/{f.class_name}" for f in failures)
            raise RuntimeError(f"{STAGES[stage]} metrics failed for {named} (first error: {failures[0].error}); the other results were kept")

    # -- few-shot mode (few_shot.py): the memory banks, from the loaders' reference images, on this device --
    def _build_few_shot(self, stage: str) -> None:
        loaders = getattr(self.trainer, f"{stage}_dataloaders")
        loaders = [loaders] if not isinstance(loaders, (list, tuple)) else list(loaders)
        use_cache = self.model.feature_cache.mode == "disk"
        encode = lambda images, fingerprints: self.model.visual_features(images, fingerprints, use_cache, check_range=False)[2]  # noqa: E731
        with self.trainer.precision_plugin.forward_context():  # the references' features at the test images' precision
            self.few_shot.build(encode, [loader.dataset for loader in loaders], self.device)
        if self.few_shot.active:
            rank_zero_info(f"few-shot memory banks: {len(self.few_shot.keys)} classes, {self.few_shot.memory_bytes() / 2**20:.1f} MiB")

    def on_test_start(self):
        self._build_few_shot("test")

    def on_predict_start(self):
        self._build_few_shot("predict")

    def on_test_epoch_start(self):
        self._start_evaluation("test")

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self._evaluation_step("test", batch, dataloader_idx)

    def on_test_epoch_end(self):
        self._end_evaluation("test")

    def on_test_end(self):
        self._raise_failures("test")  # after the results are written and logged

    def on_validation_epoch_start(self):
        self._start_evaluation("validate")

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self._evaluation_step("validate", batch, dataloader_idx)

    def on_validation_epoch_end(self):
        self._end_evaluation("validate")

    def on_predict_epoch_start(self):
        self._start_padding_marks("predict")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self._score(batch, "predict", dataloader_idx)

    # -- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The frozen backbone is loaded from its official files; only the prompts are ours to store.
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(BACKBONE_PREFIX)}
        # The learned prompts are in the state dict: loading must not replay (or need) the start file.
        hparams = checkpoint.get(self.CHECKPOINT_HYPER_PARAMS_KEY)
        if hparams is not None and hparams.get("prompt_checkpoint") is not None:
            checkpoint[self.CHECKPOINT_HYPER_PARAMS_KEY] = {**hparams, "prompt_checkpoint": None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for key, value in self.model.tips.state_dict().items():
            checkpoint["state_dict"].setdefault(BACKBONE_PREFIX + key, value)
