"""The console script ends with `end_process`: what a normal exit does that matters still happens."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import atexit, sys, threading, time
    from pathlib import Path
    from tipsomaly.cli import end_process

    folder = Path(sys.argv[1])
    atexit.register(lambda: (folder / "atexit.txt").write_text("ran"))
    def late_writer():
        time.sleep(0.3)
        (folder / "thread.txt").write_text("joined")
    threading.Thread(target=late_writer).start()
    sys.stdout.write("line\\n" * 20000)  # buffered: a pipe is not a terminal
    end_process(None if sys.argv[2] == "none" else int(sys.argv[2]))
""")


def _run(tmp_path, status: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), status], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)


def test_threads_are_joined_atexit_handlers_run_and_output_is_flushed(tmp_path):
    done = _run(tmp_path, "3")
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "thread.txt").read_text() == "joined"
    assert (tmp_path / "atexit.txt").read_text() == "ran"
    assert done.stdout == "line\n" * 20000


def test_no_status_is_success(tmp_path):
    assert _run(tmp_path, "none").returncode == 0


def test_the_module_entry_keeps_the_exit_status_and_the_message():
    done = subprocess.run([sys.executable, "-m", "tipsomaly.cli", "no-such-command"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "unknown command 'no-such-command'" in done.stderr
