"""The `tipsomaly` console script: `entry()`, which runs `main(args=None)` and ends the process.

`fit`, `validate`, `test` and `predict` go to LightningCLI (tipsomaly/lightning_cli.py); `data` and `demo` are
small commands of their own. Lightning and torch are imported only once a subcommand runs, so `tipsomaly --help`
answers at once.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

TRAINER_COMMANDS = {
    "fit": "learn the pixel prompts on --data.train_sets (test roots are checked first)",
    "validate": "evaluate --data.val_sets",
    "test": "evaluate --data.test_sets; prints the results table and where the files went",
    "predict": "score unlabelled images (--data.predict_sets, format 'images'): a CSV of scores and overlays",
}
# name -> (module, function taking argv, help); imported only when the command runs
EXTRA_COMMANDS = {
    "data": ("tipsomaly.commands.data", "main", "data summary --format FORMAT --root ROOT: what a dataset holds"),
    "demo": ("tipsomaly.demo", "main", "the whole pipeline on generated data and a tiny random TIPS model"),
    "calibrate": ("tipsomaly.commands.calibrate", "calibrate_main", "decision thresholds from normal images"),
    "export": ("tipsomaly.commands.export", "export_main", "ONNX of the image side for deployment"),
    "sweep": ("tipsomaly.sweep", "sweep_main", "run a W&B sweep file locally, one CLI run per point"),
    "report": ("tipsomaly.report.main", "report_main", "compare results folders: HTML and Markdown report"),
    "configs": ("tipsomaly.commands.configs", "configs_main", "list the packaged configs (--config NAME finds them)"),
}
USAGE = "\n".join(
    [
        "usage: tipsomaly COMMAND [options]      (tipsomaly COMMAND --help for its options)",
        "",
        "Zero-shot anomaly detection with TIPS (TIPS Over Tricks), on PyTorch Lightning.",
        "",
        "commands:",
        *(f"  {name:<10} {text}" for name, text in TRAINER_COMMANDS.items()),
        *(f"  {name:<10} {text}" for name, (_, _, text) in EXTRA_COMMANDS.items()),
        "",
        "examples:",
        "  tipsomaly fit  --config configs/mvtec_to_all.yaml",
        "  tipsomaly test --config configs/mvtec_to_all.yaml --ckpt_path <results_dir>/checkpoints/last.ckpt",
        "  tipsomaly test --config configs/zero_shot.yaml --print_config",
    ]
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input, when raised before the run starts; their messages are one line."""
    from jsonargparse import ArgumentError

    from datamodules.errors import DatasetLayoutError
    from lightning_modules.tips.errors import TipsCheckpointError
    from tipsomaly.checkpoint_arguments import CheckpointArgumentError
    from tipsomaly.paths import UnsetVariableError
    from tipsomaly.preflight import PreflightError
    from tipsomaly.run_folder import RunFolderError

    return (
        ArgumentError, DatasetLayoutError, TipsCheckpointError, CheckpointArgumentError, UnsetVariableError, PreflightError,
        RunFolderError, ValueError, FileNotFoundError,
    )


def main(args: Optional[list[str]] = None) -> int:
    """Run `tipsomaly ARGS`; returns the exit status (0 ok, 2 bad input, 130 / 143 a fit stopped by Ctrl-C /
    SIGTERM), also when called in-process by tests."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command = argv[0]
    if command in EXTRA_COMMANDS:
        module, function, _ = EXTRA_COMMANDS[command]
        return getattr(importlib.import_module(module), function)(argv[1:])
    if command not in TRAINER_COMMANDS:
        print(f"tipsomaly: error: unknown command '{command}'; expected one of "
              f"{', '.join([*TRAINER_COMMANDS, *EXTRA_COMMANDS])} (tipsomaly --help).", file=sys.stderr)
        return 2
    from tipsomaly import lightning_cli

    try:
        lightning_cli.run(argv)
    except lightning_cli.RunInterrupted as stop:  # Ctrl-C / SIGTERM during fit: what was kept, how to resume
        print(str(stop), file=sys.stderr)
        return stop.status
    except _user_errors() as error:
        from tipsomaly.run_folder import RunFolderError

        # inside the run a ValueError is a bug: keep its traceback; a run-folder refusal (a name that would leave
        # the folder, checked again where each file is written) is still the user's input
        if lightning_cli.run_started() and not isinstance(error, RunFolderError):
            raise
        message = " ".join(str(error).split())  # jsonargparse's messages span lines
        if isinstance(error, importlib.import_module("jsonargparse").ArgumentError):
            message += f" (tipsomaly {command} --help lists the options)"
        print(f"tipsomaly {command}: error: {message}", file=sys.stderr)
        return 2
    return 0


def entry() -> None:
    """The console script (and `python -m tipsomaly.cli`): `main()`, then a prompt end of the process.

    An interpreter holding torch, Lightning and torchmetrics spends about 1.4 s at exit finalising its modules
    and freeing every object one by one (README, Benchmarks), after the work is done and every file is
    closed. A normal return therefore ends with `end_process`, which keeps the parts of a normal exit that matter;
    an exception still ends the ordinary way, with its traceback.
    """
    end_process(main())


def end_process(status: int | None) -> None:
    """What a normal exit does that matters, in its order, then os._exit: non-daemon threads are joined, the
    atexit handlers run (W&B's and multiprocessing's teardown, logging's flush, weakref finalizers such as
    temporary folders), and the standard streams are flushed. Only the module-by-module teardown is skipped."""
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said on it
            pass
    os._exit(0 if status is None else int(status))


if __name__ == "__main__":
    entry()
