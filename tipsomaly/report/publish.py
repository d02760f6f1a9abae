"""The thin W&B step: the same comparison as a W&B Report (wandb-workspaces), saved only when asked."""

from __future__ import annotations

import re

from tipsomaly.report.build import Report, markdown_table
from tipsomaly.report.runs import METRICS, RunResults

_RUN_FOLDER = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-([a-z0-9]+)$")


def wandb_run_ids(run: RunResults) -> list[str]:
    """The W&B run ids of a results folder: its ``wandb/(offline-)run-<time>-<id>`` folders, else the
    logger id in its config.yaml."""
    ids = [m.group(1) for p in sorted(run.path.rglob("*run-*")) if p.is_dir() and (m := _RUN_FOLDER.match(p.name))]
    if not ids and run.settings.get("trainer.logger.init_args.id"):
        ids = [str(run.settings["trainer.logger.init_args.id"])]
    return list(dict.fromkeys(ids))


def wandb_report(report: Report, project: str, entity: str = "", metric: str = "pixel_aupro", title: str = "tipsomaly report"):
    """A ``wandb_workspaces.reports.v2.Report`` (not saved): the runs of the report as one runset, a runs
    table, bar plots of every test metric's dataset mean, the chosen metric against each swept setting,
    the overlays' media panel, and the Markdown tables (including the paper comparison)."""
    import wandb_workspaces.reports.v2 as wr

    ids = [i for run in report.runs for i in wandb_run_ids(run)]
    if not ids:
        raise ValueError("none of the results folders holds a W&B run (no wandb/run-* folder, no logger id in config.yaml); "
                         "publish runs logged with W&B, or share report.html instead.")
    runset = wr.Runset(entity=entity, project=project, name="tipsomaly runs", filters="Metric('ID') in [" + ", ".join(f"'{i}'" for i in ids) + "]")
    datasets = list(dict.fromkeys(d for d in report.means["dataset"] if d != "mean"))
    bars = [wr.BarPlot(title=f"{dataset}: test metrics", metrics=[f"test/{dataset}/mean/{m}" for m in METRICS]) for dataset in datasets]
    lines = [wr.LinePlot(title=f"{metric} against {key}", x=f"config.cli_config.{key}", y=[f"test/mean/mean/{metric}"]) for key in report.swept]
    media = [wr.MediaBrowser(title="overlays", media_keys=[f"test/overlays/{d}/{c}" for d, c in
                                                          dict.fromkeys((d, c) for _, d, c, _ in report.overlays)] or ["test/overlays"])]
    return wr.Report(
        project=project,
        entity=entity,
        title=title,
        description=f"{len(report.runs)} runs compared on {', '.join(datasets)}",
        blocks=[
            wr.H1("Runs"),
            wr.PanelGrid(runsets=[runset], panels=[wr.RunComparer(diff_only="split"), *bars, *lines, *media]),
            wr.H1("Against the paper's Table 1"),
            wr.MarkdownBlock(text=markdown_table(report.paper)),
            wr.H1("Best run per dataset and metric"),
            wr.MarkdownBlock(text=markdown_table(report.best)),
        ],
    )


def publish(report: Report, project: str, entity: str = "", metric: str = "pixel_aupro") -> str:
    """Save the W&B Report (needs credentials; run `wandb login` first) and return its URL."""
    from tipsomaly.wandb_setup import configure_wandb

    if configure_wandb() != "online":
        raise RuntimeError("--wandb needs a W&B account: run `wandb login` (or set WANDB_API_KEY); report.html was still written.")
    saved = wandb_report(report, project, entity, metric).save()
    return saved.url
