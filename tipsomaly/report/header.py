"""The provenance header of a report: when and with what it was made, and per run what produced its numbers
(backbone and weights identity, image size, prompt hash, data roots, AUPRO definition), with a caveat for random
weights. Values come from ``test_provenance.json`` where the run wrote one, else from its config."""

from __future__ import annotations

import datetime as _dt
import hashlib
import subprocess
from pathlib import Path

from tipsomaly.report.runs import RunResults

RANDOM_LABELS = ("tips_tiny",)  # the demo's and the tests' tiny TIPS model: random weights in the official format


def project_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tipsomaly")
    except PackageNotFoundError:
        return "unknown (not installed)"


def git_commit(folder: Path | None = None) -> str:
    """The commit of the checkout this code runs from (``+changes`` when its files differ), or a note why not."""
    folder = folder or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode:
            return "not a git checkout"
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit.stdout.strip()[:12] + (" +changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def _short(value: object, length: int = 12) -> str:
    return str(value)[:length] if value else "-"


def aupro_definition(run: RunResults) -> str:
    """The AUPRO definition the run's config asked for (the model's default, "mvtec", when it names none)."""
    return str(run.settings.get("model.aupro") or run.provenance.get("aupro") or "mvtec")


def _backbone(run: RunResults) -> tuple[str, str]:
    backbone = run.provenance.get("backbone")
    if isinstance(backbone, dict):
        return str(backbone.get("label") or "?"), _short(backbone.get("fingerprint"))
    if isinstance(run.settings.get("model.backbone"), str):
        return str(run.settings["model.backbone"]), "not recorded"
    vision = next((v for k, v in run.settings.items() if k.startswith("model.backbone") and k.endswith("vision_checkpoint")), None)
    if vision:
        return Path(str(vision)).name.removesuffix(".npz").removesuffix("_vision"), "not recorded"
    return "unknown", "not recorded"


def _prompt_hash(run: RunResults) -> str:
    if "prompt_hash" in run.provenance:
        return _short(run.provenance["prompt_hash"]) if run.provenance["prompt_hash"] else "fixed prompts only"
    checkpoint = run.settings.get("model.prompt_checkpoint")
    if checkpoint and Path(str(checkpoint)).is_file():
        return "file " + hashlib.sha256(Path(str(checkpoint)).read_bytes()).hexdigest()[:12]
    return "fixed prompts only" if not checkpoint else "file missing"


def _data_roots(run: RunResults) -> str:
    sets = run.settings.get("data.test_sets") or []
    roots = [str(s.get("root")) for s in sets if isinstance(s, dict) and s.get("root")] if isinstance(sets, list) else []
    return ", ".join(dict.fromkeys(roots)) or "-"


def has_random_weights(run: RunResults) -> bool:
    backbone = run.provenance.get("backbone") if isinstance(run.provenance.get("backbone"), dict) else {}
    flagged = bool(run.provenance.get("random_weights") or backbone.get("random_weights"))
    return flagged or any(label in _backbone(run)[0] for label in RANDOM_LABELS)


def provenance_rows(runs: list[RunResults]) -> list[dict]:
    """One row per run: run, backbone, weights (fingerprint), image size, prompt hash, AUPRO, data roots, source."""
    rows = []
    for run in runs:
        label, fingerprint = _backbone(run)
        size = run.provenance.get("image_size") or run.settings.get("data.image_size") or "-"
        size = "x".join(map(str, size)) if isinstance(size, list) else str(size)
        rows.append({"run": run.name, "backbone": label, "weights": fingerprint, "image size": size,
                     "prompt hash": _prompt_hash(run), "aupro": aupro_definition(run), "data roots": _data_roots(run),
                     "from": "test_provenance.json" if run.provenance else (run.config_file.name if run.config_file else "no config")})
    return rows


def report_header(runs: list[RunResults]) -> dict:
    """date (UTC), version, commit, the provenance rows and the random-weights caveat ("" when none)."""
    random_runs = [run.name for run in runs if has_random_weights(run)]
    caveat = (f"Random weights: {', '.join(random_runs)} scored with a backbone of random weights (the demo's tiny TIPS "
              "model): the numbers test the pipeline, not the method; do not compare them with the paper.") if random_runs else ""
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "version": project_version(),
            "commit": git_commit(), "runs": provenance_rows(runs), "caveat": caveat}
