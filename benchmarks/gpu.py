"""GPU readiness in one unattended run (under 8 minutes on one GPU): is the device busy, and does a step ever wait?

    python benchmarks/gpu.py                 # CUDA: L/14 at 518 px, bf16, random weights in the official format
    python benchmarks/gpu.py --cpu-smoke     # the same code paths, tiny model and few images on the CPU (CI)

Stages (each skipped, and said so, once the time budget is spent):
1. matmul peak of the device: best of a few large square bf16 matmuls (float32 on the CPU smoke), CUDA events.
2. image tower: img/s and MFU (model FLOPs counted by torch.utils.flop_counter, over the peak of stage 1) at
   batch 8 and 32, bf16 autocast.
3. the whole `tipsomaly test` (in-process, as a user runs it) on a generated set of ~500 images: wall time, and
   the fraction of the GPU timeline from the first step's start to the last step's end that lies outside the
   model steps (CUDA events around every step; the host's span is printed beside it): a high value means the
   GPU waits on data or on the host between steps.
4. a fit epoch with and without the memory feature cache (2 epochs each; the second epoch is the cached one).
5. host synchronisation: during every step of 3 and 4 after the first two, `torch.cuda.set_sync_debug_mode` is
   on ("warn", recorded and counted; `--sync-mode error` stops at the first instead), so a step that copies to the
   host (`.item()`, `.cpu()`, a data-dependent shape) is named.
The last line is `SUMMARY gpu key=value ...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from lightning.pytorch.callbacks import Callback
from torch.utils.flop_counter import FlopCounterMode

from harness import ROOT, machine, write_random_checkpoint


@dataclass(frozen=True)
class Settings:
    """The sizes of one kind of run: the full GPU benchmark or its CPU smoke test."""

    preset: str  # "L" (random weights, official format) or "tiny" (tests/data/tips)
    image_size: int
    tower_batches: tuple[int, ...]
    peak_size: int  # side of the square matmul that measures the peak
    test_images: tuple[int, int]  # (normal, anomalous) per class, two classes
    fit_images: tuple[int, int]
    source_px: int  # side of the generated PNGs (the data module resizes them to image_size)
    test_batch: int
    fit_batch: int
    num_workers: int
    precision: str
    budget_s: float


FULL = Settings("L", 518, (8, 32), 8192, (50, 200), (10, 40), 256, 32, 8, 8, "bf16-mixed", 450.0)
SMOKE = Settings("tiny", 28, (2, 4), 256, (2, 3), (2, 2), 32, 4, 4, 0, "32-true", 120.0)
TINY = ROOT / "tests" / "data" / "tips"
SKIP_FIRST_STEPS = 2  # kernel selection and allocation happen there, not in the steady state


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _seconds(fn, device: torch.device, repeats: int) -> float:
    """Best seconds of `repeats` calls: CUDA events on a GPU, the host clock on the CPU."""
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3)
        else:
            began = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - began)
    return best


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """FLOP/s of the best of five size^3 matmuls (2 size^3 FLOPs each), after one warm-up."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)
    _sync(device)
    return 2 * size**3 / _seconds(lambda: torch.mm(a, b), device, 5)


def tower_throughput(tower: torch.nn.Module, settings: Settings, device: torch.device, peak: float) -> dict:
    """img/s and MFU of the image tower per batch size (bf16 autocast on a GPU; float32 on the CPU smoke)."""
    size = settings.image_size
    counter = FlopCounterMode(display=False)
    fused = [block.attn.fused_attn for block in tower.blocks]
    for block in tower.blocks:  # the counter does not see inside the fused attention kernel
        block.attn.fused_attn = False
    with torch.inference_mode(), counter:
        tower(torch.rand(1, 3, size, size, device=device))
    for block, was in zip(tower.blocks, fused):
        block.attn.fused_attn = was
    flops = float(counter.get_total_flops())
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    results = {"gflop_per_image": flops / 1e9}
    for batch in settings.tower_batches:
        images = torch.rand(batch, 3, size, size, device=device)
        with torch.inference_mode(), autocast:
            tower(images)  # warm-up for this shape
            seconds = _seconds(lambda: tower(images), device, 3)
        results[f"tower_b{batch}_img_s"] = batch / seconds
        results[f"tower_b{batch}_mfu"] = flops * batch / seconds / peak
        print(f"  image tower, batch {batch}: {batch / seconds:.1f} img/s, MFU {flops * batch / seconds / peak:.1%}")
    return results


class StepClock(Callback):
    """Times every training/test step (CUDA events on a GPU, the host clock on the CPU), every training epoch,
    and records which steps synchronised with the host. Results of the last run: `StepClock.latest`."""

    latest: dict = {}

    def __init__(self, sync_mode: str = "warn"):
        self.sync_mode = sync_mode
        self.cuda = False  # set when the run starts: whether its steps run on a GPU
        self.steps: list = []
        self.epochs: list[float] = []
        self.first_start = self.last_end = None
        self.syncing_steps, self.checked_steps, self.first_sync = 0, 0, ""
        self._recorded = None

    def setup(self, trainer, pl_module, stage):
        self.cuda = trainer.strategy.root_device.type == "cuda"  # the module itself moves there only later

    # -- one step ------------------------------------------------------------------------------
    def _step_start(self, trainer) -> None:
        now = time.perf_counter()
        self.first_start = self.first_start or now
        if len(self.steps) >= SKIP_FIRST_STEPS and self.cuda:
            self._catcher = warnings.catch_warnings(record=True)
            self._recorded = self._catcher.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode(self.sync_mode)
        start = torch.cuda.Event(enable_timing=True) if self.cuda else now
        if self.cuda:
            start.record()
        self._start = start

    def _step_end(self, trainer) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
        else:
            end = time.perf_counter()
        if self._recorded is not None:
            torch.cuda.set_sync_debug_mode("default")
            self._catcher.__exit__(None, None, None)
            syncs = [w for w in self._recorded if "synchroniz" in str(w.message)]
            self.checked_steps += 1
            if syncs:
                self.syncing_steps += 1
                self.first_sync = self.first_sync or f"{syncs[0].filename}:{syncs[0].lineno}: {syncs[0].message}"
            self._recorded = None
        self.steps.append((self._start, end))
        self.last_end = time.perf_counter()

    def on_test_batch_start(self, trainer, *args, **kwargs):
        self._step_start(trainer)

    def on_test_batch_end(self, trainer, *args, **kwargs):
        self._step_end(trainer)

    def on_train_batch_start(self, trainer, *args, **kwargs):
        self._step_start(trainer)

    def on_train_batch_end(self, trainer, *args, **kwargs):
        self._step_end(trainer)

    # -- epochs and the summary ---------------------------------------------------------------------
    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if self.cuda:
            torch.cuda.synchronize()
        self.epochs.append(time.perf_counter() - self._epoch_start)

    def _finish(self) -> None:
        host_span = (self.last_end - self.first_start) if self.steps else float("nan")
        if self.cuda:  # on the GPU's own timeline: from the first step's start to the last step's end
            torch.cuda.synchronize()
            busy = sum(start.elapsed_time(end) for start, end in self.steps) / 1e3
            span = self.steps[0][0].elapsed_time(self.steps[-1][1]) / 1e3 if self.steps else float("nan")
        else:
            busy = sum(end - start for start, end in self.steps)
            span = host_span
        StepClock.latest = {
            "steps": len(self.steps), "busy_s": busy, "span_s": span, "host_span_s": host_span,
            "idle": max(0.0, 1 - busy / span),
            "epochs_s": list(self.epochs), "checked_steps": self.checked_steps, "syncing_steps": self.syncing_steps,
            "first_sync": self.first_sync,
        }

    def on_test_end(self, trainer, pl_module):
        self._finish()

    def on_fit_end(self, trainer, pl_module):
        self._finish()


def _config(folder: Path, settings: Settings, files: dict, sync_mode: str) -> Path:
    device = "gpu" if torch.cuda.is_available() and settings.preset != "tiny" else "cpu"
    clock = {"class_path": f"{StepClock.__module__}.StepClock", "init_args": {"sync_mode": sync_mode}}
    config = {
        "model": {"backbone": files},
        "data": {"image_size": settings.image_size, "num_workers": settings.num_workers,
                 "pin_memory": device == "gpu", "shuffle": False},
        "trainer": {"accelerator": device, "devices": 1, "precision": settings.precision, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False, "enable_checkpointing": False,
                    "callbacks": [clock]},
    }
    path = folder / "gpu_benchmark.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(args: list[str]) -> tuple[float, dict]:
    from tipsomaly.cli import main

    StepClock.latest = {}
    began = time.perf_counter()
    status = main(args)
    if status != 0:
        raise RuntimeError(f"`tipsomaly {' '.join(args)}` exited with {status}")
    return time.perf_counter() - began, dict(StepClock.latest)


def run(settings: Settings, sync_mode: str) -> dict:
    from datamodules import make_synthetic_dataset

    device = torch.device("cuda" if settings.preset != "tiny" else "cpu")
    began = time.perf_counter()
    summary: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    skipped: list[str] = []

    def time_left(stage: str) -> bool:
        if time.perf_counter() - began < settings.budget_s:
            return True
        skipped.append(stage)
        print(f"[{stage}] skipped: the {settings.budget_s:.0f} s budget is spent")
        return False

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if settings.preset == "tiny":
            files = {"vision_checkpoint": str(TINY / "tips_tiny_mlp_vision.npz"),
                     "text_checkpoint": str(TINY / "tips_tiny_mlp_text.npz"),
                     "tokenizer": str(TINY / "tokenizer.model"), "vision_num_heads": 4, "text_num_heads": 4}
        else:
            files = write_random_checkpoint(folder / "tips", settings.preset)
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        peak = matmul_peak(device, dtype, settings.peak_size)
        summary["peak_tflops"] = peak / 1e12
        print(f"[peak] {str(dtype).split('.')[-1]} matmul {settings.peak_size}^3: {peak / 1e12:.1f} TFLOP/s")

        from lightning_modules.tips import load_tips

        print(f"[tower] {settings.preset} at {settings.image_size} px")
        tower = load_tips(**files, device=device).vision.eval()
        summary.update(tower_throughput(tower, settings, device, peak))
        del tower
        if device.type == "cuda":
            torch.cuda.empty_cache()

        classes = ("grid_texture", "round_object")
        normal, anomalous = settings.test_images
        make_synthetic_dataset(folder / "test_set", classes=classes, n_normal=normal, n_anomalous=anomalous,
                               image_size=settings.source_px, seed=1)
        normal, anomalous = settings.fit_images
        make_synthetic_dataset(folder / "fit_set", classes=("mesh_texture", "disc_object"), n_normal=normal,
                               n_anomalous=anomalous, image_size=settings.source_px, seed=2)
        config = str(_config(folder, settings, files, sync_mode))
        n_test = 2 * sum(settings.test_images)

        if time_left("test"):
            test_set = f"[{{name: gen, format: mvtec, root: '{folder / 'test_set'}'}}]"
            seconds, clock = _cli(["test", "--config", config, "--data.test_sets", test_set, "--model.prompt_method",
                                   "none", "--data.batch_size", str(settings.test_batch),
                                   "--results_dir", str(folder / "test_run")])
            summary.update(test_images=n_test, test_steps=clock["steps"], test_s=seconds, test_img_s=n_test / seconds, gpu_idle=clock["idle"],
                           test_sync_steps=clock["syncing_steps"], test_checked_steps=clock["checked_steps"])
            print(f"[test] {n_test} images: {seconds:.1f} s ({n_test / seconds:.1f} img/s); model steps busy "
                  f"{clock['busy_s']:.1f} s of {clock['span_s']:.1f} s (host: {clock['host_span_s']:.1f} s from the "
                  f"first step to the last) -> GPU idle between steps {clock['idle']:.0%}; "
                  f"{clock['syncing_steps']}/{clock['checked_steps']} checked steps synchronised"
                  + (f" (first: {clock['first_sync']})" if clock["first_sync"] else ""))

        fit_set = f"[{{name: gen, format: mvtec, root: '{folder / 'fit_set'}'}}]"
        for cache in ("off", "memory"):
            if not time_left(f"fit_{cache}"):
                continue
            seconds, clock = _cli(["fit", "--config", config, "--data.train_sets", fit_set, "--trainer.max_epochs",
                                   "2", "--model.feature_cache", cache, "--data.batch_size", str(settings.fit_batch),
                                   "--results_dir", str(folder / f"fit_{cache}")])
            first, second = clock["epochs_s"][:2]
            summary.update({f"fit_{cache}_steps": clock["steps"], f"fit_{cache}_epoch1_s": first, f"fit_{cache}_epoch2_s": second,
                            f"fit_{cache}_sync_steps": clock["syncing_steps"]})
            print(f"[fit, feature cache {cache}] epochs {first:.1f} s, {second:.1f} s; {clock['syncing_steps']}/"
                  f"{clock['checked_steps']} checked steps synchronised"
                  + (f" (first: {clock['first_sync']})" if clock["first_sync"] else ""))
        if "fit_off_epoch2_s" in summary and "fit_memory_epoch2_s" in summary:
            summary["cache_speedup"] = summary["fit_off_epoch2_s"] / summary["fit_memory_epoch2_s"]
    summary["total_s"] = time.perf_counter() - began
    summary["skipped"] = ",".join(skipped) or "none"
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model, few images, on the CPU (seconds)")
    parser.add_argument("--sync-mode", choices=("warn", "error"), default="warn",
                        help="torch.cuda.set_sync_debug_mode during the steps: record every sync, or stop at the first")
    parser.add_argument("--budget", type=float, default=None, help="seconds after which later stages are skipped")
    args = parser.parse_args(argv)
    settings = SMOKE if args.cpu_smoke else FULL
    if args.budget is not None:
        settings = Settings(**{**settings.__dict__, "budget_s": args.budget})
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device here; run it on a GPU machine, or pass --cpu-smoke to check that it "
              "starts (tiny model on the CPU).")
        return 2
    print(machine())
    summary = run(settings, args.sync_mode)
    fields = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={str(v).replace(' ', '_')}"
                      for k, v in summary.items())
    print(f"SUMMARY gpu mode={'cpu-smoke' if args.cpu_smoke else 'cuda'} {fields}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
