"""Image-tower throughput against the device's own matmul peak, measured in the same run.

    python benchmarks/backbone.py [--preset S] [--size 518] [--batches 1,8,32] [--compile]

For each device (CPU; CUDA when present): the tower's model FLOPs per image (counted by
torch.utils.flop_counter on one image), the matmul peak of float32 and bfloat16 (best of a few
large square matmuls), then images/s, achieved GFLOP/s and MFU (achieved / peak of the same
dtype) per batch size, float32 and bf16 autocast. Options that could be faster are timed at
one batch size and compared with the default outputs at the parity tests' tolerances
(tests/tips/test_parity.py: float32 1e-4 absolute, bf16 0.1 absolute):

- attention kernel: timm's fused scaled_dot_product_attention (default) vs its explicit
  softmax(QK^T)V;
- bf16 weights (Lightning "bf16-true") instead of bf16 autocast;
- torch.compile of the image tower (opt-in with --compile: minutes of compilation on a small CPU);
- on a CPU, the batch in chunks of `cpu_chunk_size` images (what `TipsModel.encode_image` does there) against
  the whole batch at once (the rows above time the whole batch: the tower itself).

The last line is `SUMMARY backbone key=value ...` for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from harness import machine, timed, write_random_checkpoint
from lightning_modules.tips import load_tips
from lightning_modules.tips.tips_model import cpu_chunk_size

TOLERANCE = {"float32": 1e-4, "bf16": 0.1}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 3) -> float:
    """Best GFLOP/s of a size x size x size matmul (2 size^3 FLOPs)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    sync = _sync(device)
    torch.mm(a, b)
    return 2 * size**3 / timed(lambda: torch.mm(a, b), repeats, sync) / 1e9


def flops_per_image(tower: torch.nn.Module, size: int, device: torch.device) -> float:
    """Model FLOPs of one image. Counted with the explicit attention: the flop counter does not see
    inside the fused CPU attention kernel (it would miss QK^T and AV, a third of the total at 518 px)."""
    counter = FlopCounterMode(display=False)
    _set_fused_attention(tower, False)
    try:
        with torch.inference_mode(), counter:
            tower(torch.rand(1, 3, size, size, device=device))
    finally:
        _set_fused_attention(tower, True)
    return float(counter.get_total_flops())


def _set_fused_attention(tower: torch.nn.Module, fused: bool) -> None:
    for block in tower.blocks:
        block.attn.fused_attn = fused


def _sync(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _context(mode: str, device: torch.device):
    if mode == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def throughput(tower, images: torch.Tensor, mode: str, repeats: int) -> tuple[float, tuple]:
    """(seconds per batch, outputs) for one batch under mode "float32" or "bf16" (autocast)."""
    device = images.device
    images = images.to(tower.cls_token.dtype)  # bf16 weights take bf16 images, as TipsModel.encode_image does
    with torch.inference_mode(), _context(mode, device):
        if len(images) <= 8:
            out = tower(images)  # warm-up: kernel selection and allocation for this shape
        seconds = timed(lambda: tower(images), repeats, _sync(device))
        out = tower(images)
    return seconds, out


class Chunked:
    """The tower run `chunk` images at a time, as TipsModel.encode_image runs it on a CPU."""

    def __init__(self, tower, chunk: int) -> None:
        self.tower, self.chunk, self.cls_token = tower, chunk, tower.cls_token

    def __call__(self, images: torch.Tensor) -> tuple:
        return tuple(torch.cat(outputs) for outputs in zip(*(self.tower(part) for part in images.split(self.chunk))))


def max_difference(a: tuple, b: tuple) -> float:
    return max(float((x.float() - y.float()).abs().max()) for x, y in zip(a, b))


def bench_device(device: torch.device, args, files: dict[str, str]) -> dict[str, float]:
    tips = load_tips(**files, device=device)
    tower = tips.vision.eval()
    flops = flops_per_image(tower, args.size, device)
    peak_size = 8192 if device.type == "cuda" else 2048

    def measure_peaks() -> dict[str, float]:
        return {"float32": matmul_peak(device, torch.float32, peak_size), "bf16": matmul_peak(device, torch.bfloat16, peak_size)}

    before = measure_peaks()
    rows, summary, reference = [], {}, {}
    generator = torch.Generator().manual_seed(0)
    for mode in ("float32", "bf16"):
        for batch in args.batches:
            images = torch.rand(batch, 3, args.size, args.size, generator=generator).to(device)
            seconds, out = throughput(tower, images, mode, args.repeats)
            rows.append((mode, batch, seconds))
            if batch == args.option_batch:
                reference[mode] = (images, seconds, out)
    # The peak is taken before and after the timed runs and the higher one kept: on a shared
    # machine a single measurement can catch a busy moment and make MFU look too high.
    after = measure_peaks()
    peaks = {mode: max(before[mode], after[mode]) for mode in before}
    print(f"\n[{device}] {args.preset}/14 at {args.size} px: {flops / 1e9:.1f} GFLOP per image (model FLOPs); matmul peak "
          f"({peak_size}^3) float32 {before['float32']:.0f} / {after['float32']:.0f} GFLOP/s, bf16 {before['bf16']:.0f} / "
          f"{after['bf16']:.0f} GFLOP/s (before / after the runs; the higher one is used)")
    print(f"{'mode':<8} {'batch':>5} {'s/batch':>8} {'img/s':>7} {'GFLOP/s':>8} {'MFU':>6}")
    for mode, batch, seconds in rows:
        achieved = flops * batch / seconds / 1e9
        mfu = achieved / peaks[mode]
        print(f"{mode:<8} {batch:>5} {seconds:>8.3f} {batch / seconds:>7.2f} {achieved:>8.1f} {mfu:>6.1%}")
        if mfu > summary.get(f"{mode}_mfu", -1):
            summary |= {f"{mode}_img_s": batch / seconds, f"{mode}_mfu": mfu, f"{mode}_batch": batch}
    if args.option_batch in args.batches:
        print(f"options at batch {args.option_batch} (speed-up over the default, max |diff| vs the default output):")
        for mode in ("float32", "bf16"):
            images, base_seconds, base_out = reference[mode]
            _set_fused_attention(tower, False)
            seconds, out = throughput(tower, images, mode, args.repeats)
            _set_fused_attention(tower, True)
            _report_option(f"explicit softmax attention, {mode}", base_seconds, seconds, base_out, out, mode)
            chunk = cpu_chunk_size(images, 14)
            if device.type == "cpu" and chunk < len(images):
                seconds, out = throughput(Chunked(tower, chunk), images, mode, args.repeats)
                _report_option(f"in chunks of {chunk} images (the default on a CPU), {mode}", base_seconds, seconds, base_out, out, mode)
        images, base_seconds, base_out = reference["bf16"]
        bf16_tower = load_tips(**files, device=device, dtype=torch.bfloat16).vision.eval()
        seconds, out = throughput(bf16_tower, images, "float32", args.repeats)
        del bf16_tower
        _report_option("bf16 weights instead of bf16 autocast", base_seconds, seconds, base_out, out, "bf16")
        if args.compile:
            compiled = torch.compile(tower)
            for mode in ("float32", "bf16"):
                images, base_seconds, base_out = reference[mode]
                compile_seconds = timed(lambda: throughput(compiled, images[:1], mode, 1))
                seconds, out = throughput(compiled, images, mode, args.repeats)
                _report_option(f"torch.compile, {mode} (compiling took {compile_seconds:.0f} s)", base_seconds, seconds, base_out, out, mode)
    return summary | {"gflop_per_image": flops / 1e9, "peak_float32": peaks["float32"], "peak_bf16": peaks["bf16"]}


def _report_option(name: str, base_seconds: float, seconds: float, base_out: tuple, out: tuple, mode: str) -> None:
    diff = max_difference(base_out, out)
    verdict = "within" if diff <= TOLERANCE[mode] else "OUTSIDE"
    print(f"  {name}: x{base_seconds / seconds:.2f}, max |diff| {diff:.1e} ({verdict} the {mode} parity tolerance {TOLERANCE[mode]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="S", help="official tower size: S, B, L, So400m or g")
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--option-batch", type=int, default=8, help="batch size at which the options are timed")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the image tower")
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    if args.size % 14:
        parser.error(f"--size must be a multiple of 14, got {args.size}")
    print(machine())
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() and not args.cpu_only else [])
    with tempfile.TemporaryDirectory() as folder:
        files = write_random_checkpoint(Path(folder), args.preset)
        results = {device.type: bench_device(device, args, files) for device in devices}
    fields = " ".join(f"{device}_{key}={value:.4g}" for device, result in results.items() for key, value in result.items())
    print(f"SUMMARY backbone preset={args.preset} size={args.size} {fields}")


if __name__ == "__main__":
    main()
