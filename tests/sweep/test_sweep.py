"""Sweep files expand to CLI arguments jsonargparse reads; the local runner fits, tests and collects each point."""

from pathlib import Path

import pytest
import yaml

from tests.report.results_folders import make_results_folder
from tipsomaly.sweep import agent_args, grid_points, load_sweep, normalise_agent_args, random_points, run_sweep
from tipsomaly.sweep.sweep_file import command_arguments, resolve_configs

SWEEPS = sorted((Path(__file__).parents[2] / "configs" / "sweeps").glob("*.yaml"))


def _sweep_file(tmp_path, parameters, method="grid"):
    """<tmp>/sweeps/sweep.yaml naming `--config ../c.yaml`, relative to its own folder."""
    path = tmp_path / "sweeps" / "sweep.yaml"
    path.parent.mkdir(exist_ok=True)
    (tmp_path / "c.yaml").write_text("{}\n")
    path.write_text(yaml.safe_dump({"method": method, "parameters": parameters,
                                    "command": ["${env}", "tipsomaly", "sweep", "point", "--config", "../c.yaml", "${args}"]}, sort_keys=False))
    return path


class FakeCli:
    """Stands in for `tipsomaly.cli.main`: records commands, writes what fit and test would write."""

    def __init__(self):
        self.calls = []

    def __call__(self, args):
        self.calls.append(args)
        out = Path(next(a for a in args if a.startswith("--results_dir=")).split("=", 1)[1])
        n = int(next(a for a in args if a.startswith("--model.n_prompt=")).split("=")[1])
        if args[0] == "fit":
            (out / "prompts").mkdir(parents=True)
            for epoch in (1, 2, 10):
                (out / "prompts" / f"learnable_prompts_epoch{epoch}.pt").write_bytes(b"")
        else:
            make_results_folder(out, {"visa": {"candle": 0.5 + n / 100}}, overlays=False)


def test_grid_points_and_agent_args():
    sweep = {"parameters": {"model": {"parameters": {"n_prompt": {"values": [4, 8]}}}, "model.sigma": {"value": 4.0},
                            "model.prompt_checkpoint": {"values": [None]}}}
    points = grid_points(sweep)
    assert points == [{"model.n_prompt": 4, "model.sigma": 4.0, "model.prompt_checkpoint": None},
                      {"model.n_prompt": 8, "model.sigma": 4.0, "model.prompt_checkpoint": None}]
    assert agent_args(points[1]) == ["--model.n_prompt=8", "--model.sigma=4.0", "--model.prompt_checkpoint=null"]
    assert normalise_agent_args(["--a=None", "--b=True", "--c=none"]) == ["--a=null", "--b=true", "--c=none"]


def test_local_sweep_fits_tests_and_collects_a_2x2_grid(tmp_path):
    cli = FakeCli()
    path = _sweep_file(tmp_path, {"model.n_prompt": {"values": [4, 8]}, "model.lr": {"values": [0.01, 0.001]}})
    table = run_sweep(path, tmp_path / "out", runner=cli)
    assert [c[0] for c in cli.calls] == ["fit", "test"] * 4
    fit, test = cli.calls[0], cli.calls[1]
    assert fit[:3] == ["fit", "--config", str(tmp_path / "c.yaml")] and "--model.n_prompt=4" in fit and "--model.lr=0.01" in fit
    assert "--model.feature_cache=disk" in fit and f"--model.feature_cache_dir={tmp_path / 'out' / 'feature_cache'}" in test
    assert f"--model.prompt_checkpoint={tmp_path / 'out' / 'run000' / 'fit' / 'prompts' / 'learnable_prompts_epoch10.pt'}" in test
    assert list(table["run"].unique()) == ["run000", "run001", "run002", "run003"]
    visa = table[table["dataset"] == "visa"]
    assert list(visa["model.n_prompt"]) == [4, 4, 8, 8] and list(visa["image_auroc"]) == pytest.approx([54, 54, 58, 58])
    assert (tmp_path / "out" / "sweep_results.csv").is_file()


def test_bad_sweep_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="a grid needs `values"):
        grid_points({"parameters": {"model.lr": {"min": 0.1, "max": 1}}})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"method": "grid", "parameters": {"a": {"value": 1}}, "command": ["tipsomaly", "fit", "${args_no_boolean_flags}"]}))
    with pytest.raises(ValueError, match="never"):
        load_sweep(path)
    with pytest.raises(ValueError, match="--count N"):
        run_sweep(_sweep_file(tmp_path, {"a": {"values": [1]}}, method="bayes"), tmp_path / "o", runner=FakeCli())


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_sweep_files_are_well_formed(path):
    sweep = load_sweep(path)
    points = grid_points(sweep) if sweep["method"] == "grid" else random_points(sweep, 3)
    assert points and all(key.split(".")[0] in ("model", "data", "trainer") or key == "config" for key in points[0])
    assert sweep["metric"] == {"name": "test/mean/mean/pixel_aupro", "goal": "maximize"}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_every_sweep_parameter_is_accepted_by_the_cli_parser(path, capsys):
    from tipsomaly.cli import main

    sweep = load_sweep(path)
    points = grid_points(sweep) if sweep["method"] == "grid" else random_points(sweep, 4, seed=1)
    fixed = resolve_configs(command_arguments(sweep), path.parent, path.name)
    fixed = [c for c in fixed if c not in ("--feature_cache_dir", ".cache/tipsomaly_features")]
    for point in points[:4]:
        with pytest.raises(SystemExit) as stop:
            main(["fit", *fixed, *agent_args(point), "--print_config"])
        assert stop.value.code in (0, None)
        printed = yaml.safe_load(capsys.readouterr().out)
        for key, value in point.items():
            if key == "config":  # a config file (backbones.yaml's protocol), read rather than printed
                continue
            section, name = key.split(".")
            if isinstance(value, dict):  # e.g. model.backbone: the printed spec holds every field
                assert {field: printed[section][name][field] for field in value} == value
                continue
            assert printed[section][name] == pytest.approx(value) if isinstance(value, float) else printed[section][name] == value
