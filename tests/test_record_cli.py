"""``hypdbg run --record`` / ``--replay``: a run with UART input replays to the identical
output and instruction count (the output of tt_echo depends on the exact instruction at
which each input byte arrived)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.imagebuild import build_image, missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="toolchain missing")


def _run(args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "hypdbg.cli", "run", *args], input=stdin,
                          capture_output=True, timeout=120)


def test_record_then_replay_is_identical(tmp_path):
    elf = build_image("tt_echo")
    rec = tmp_path / "run.json"
    live = _run([str(elf), "--record", str(rec), "--exits"], stdin=b"abq")
    assert live.returncode == 0, live.stderr.decode()
    data = json.loads(rec.read_text())
    assert any(ev.get("data") for ev in data["events"]), data   # the input was recorded
    again = _run(["--replay", str(rec), "--exits"])
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout == live.stdout and live.stdout
    assert again.stderr == live.stderr                          # exit log: same counts


def test_replay_refuses_another_image(tmp_path):
    rec = tmp_path / "run.json"
    assert _run([str(build_image("tt_echo")), "--record", str(rec)], stdin=b"q").returncode == 0
    other = build_image("psci")
    res = _run([str(other), "--replay", str(rec)])
    assert res.returncode != 0 and b"SHA-256" in res.stderr
