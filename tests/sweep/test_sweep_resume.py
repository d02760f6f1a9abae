"""`tipsomaly sweep run` keeps what finished: the table after every point, one line on a failure, a non-zero
status on SIGTERM / Ctrl-C saying what was kept, and a rerun that skips the finished points."""

import signal

import pandas as pd
import pytest

from tests.sweep.fake_cli import FakeMain, sweep_file
from tipsomaly.sweep import sweep_main

GRID = {"model.n_prompt": {"values": [4, 8, 16]}}


@pytest.fixture
def fake(monkeypatch):
    def install(**kwargs):
        main = FakeMain(**kwargs)
        monkeypatch.setattr("tipsomaly.cli.main", main)
        return main

    return install


def _table(out):
    return pd.read_csv(out / "sweep_results.csv")


def test_the_table_is_on_disk_after_every_point(tmp_path, fake):
    seen = []
    out = tmp_path / "out"
    main = fake(on_call=lambda n, args: seen.append(list(_table(out)["run"].unique()) if (out / "sweep_results.csv").is_file() else None))
    assert sweep_main(["run", str(sweep_file(tmp_path, GRID)), "--out", str(out)]) == 0
    # before each call: the rows of the points finished so far (the first fit sees the empty table)
    assert len(main.calls) == 6
    assert seen == [[], [], ["run000"], ["run000"], ["run000", "run001"], ["run000", "run001"]]
    assert list(_table(out)["image_auroc"][_table(out)["dataset"] == "visa"]) == pytest.approx([54, 58, 66])
    assert not list(out.glob(".sweep_results*.tmp"))


def test_a_failing_point_prints_one_line_keeps_the_finished_points_and_a_rerun_does_the_rest(tmp_path, fake, capsys):
    path, out = sweep_file(tmp_path, GRID), tmp_path / "out"
    fake(fail={3: 2})  # run001's fit
    assert sweep_main(["run", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RuntimeError" not in err
    inner, ours = err.strip().splitlines()  # the point's own line, then the sweep's
    assert inner == "tipsomaly fit: error: fake failure of call 3"
    assert ours.startswith("tipsomaly sweep: error: run001 failed: `tipsomaly fit` exited with status 2")
    assert f"1 of 3 points finished, kept in {out / 'sweep_results.csv'}" in ours and f"tipsomaly sweep run {path} --out {out}" in ours
    assert list(_table(out)["run"].unique()) == ["run000"]

    again = fake()
    assert sweep_main(["run", str(path), "--out", str(out)]) == 0
    assert again.commands() == [("fit", "run001"), ("test", "run001"), ("fit", "run002"), ("test", "run002")]
    assert "--overwrite=true" in again.calls[0]  # its own unfinished fit folder is redone
    assert "--overwrite=true" not in again.calls[2]
    assert "1 already finished" in capsys.readouterr().out
    assert list(_table(out)["run"].unique()) == ["run000", "run001", "run002"]


@pytest.mark.parametrize(("sent", "status", "said"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_sigterm_or_ctrl_c_exits_non_zero_saying_what_was_kept_and_how_to_resume(tmp_path, fake, capsys, sent, status, said):
    path, out = sweep_file(tmp_path, GRID), tmp_path / "out"
    before = signal.getsignal(sent)
    main = fake(kill={3: sent})
    assert sweep_main(["run", str(path), "--out", str(out), "--", "--trainer.accelerator=cpu"]) == status
    assert len(main.calls) == 3  # nothing after the signal
    err = capsys.readouterr().err
    assert err.strip() == (f"tipsomaly sweep: stopped by {said}: 1 of 3 points finished, kept in {out / 'sweep_results.csv'}; "
                           f"rerun `tipsomaly sweep run {path} --out {out} -- --trainer.accelerator=cpu` to run the rest "
                           "(finished points are skipped).")
    assert list(_table(out)["run"].unique()) == ["run000"]
    assert signal.getsignal(sent) is before  # the sweep's handler is gone again


def test_a_finished_sweep_reruns_nothing_and_overwrite_reruns_everything(tmp_path, fake, capsys):
    path, out = sweep_file(tmp_path, GRID), tmp_path / "out"
    fake()
    assert sweep_main(["run", str(path), "--out", str(out)]) == 0
    first = _table(out)
    again = fake()
    assert sweep_main(["run", str(path), "--out", str(out)]) == 0
    assert again.calls == [] and "3 already finished" in capsys.readouterr().out
    pd.testing.assert_frame_equal(_table(out), first)
    forced = fake()
    assert sweep_main(["run", str(path), "--out", str(out), "--overwrite"]) == 0
    assert len(forced.calls) == 6 and all("--overwrite=true" in c for c in forced.calls)


def test_a_point_folder_with_other_arguments_is_refused_before_any_work(tmp_path, fake, capsys):
    out = tmp_path / "out"
    fake()
    assert sweep_main(["run", str(sweep_file(tmp_path, GRID)), "--out", str(out)]) == 0
    other = fake()
    changed = sweep_file(tmp_path, {"model.n_prompt": {"values": [4, 12]}})
    assert sweep_main(["run", str(changed), "--out", str(out)]) == 2
    assert other.calls == []
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tipsomaly sweep: error: '{out / 'run001'}' holds a point run with other arguments")
    assert "--model.n_prompt=12 --model.n_prompt=8" in err and "--overwrite" in err


def test_a_bug_inside_a_point_keeps_its_traceback_and_ends_saying_what_was_kept(tmp_path, monkeypatch):
    path, out = sweep_file(tmp_path, GRID), tmp_path / "out"

    def broken(number, args):
        if number == 3:
            raise ZeroDivisionError("a bug")

    fake = FakeMain(on_call=broken)
    monkeypatch.setattr("tipsomaly.cli.main", fake)
    with pytest.raises(ZeroDivisionError) as error:
        sweep_main(["run", str(path), "--out", str(out)])
    assert error.value.__notes__ == [f"tipsomaly sweep: run001 failed; 1 of 3 points finished, kept in {out / 'sweep_results.csv'}; "
                                     f"rerun `tipsomaly sweep run {path} --out {out}` for the rest."]
    assert list(_table(out)["run"].unique()) == ["run000"]


def test_an_agent_point_that_fails_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tipsomaly.cli.main", FakeMain(fail={1: 2}))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("{}\n")
    assert sweep_main(["point", "--config", "c.yaml", "--model.n_prompt=4", "--out", "agent"]) == 1
    inner, ours = capsys.readouterr().err.strip().splitlines()
    assert inner == "tipsomaly fit: error: fake failure of call 1"
    assert ours == "tipsomaly sweep point: error: `tipsomaly fit` exited with status 2 (its message is above)"
