"""Every `gpuviz ...` command in README.md's code blocks runs as written from the repository's
root: files it names exist, scripted runs exit 0 and write what they promise, and a window
that stays open opens (it is then closed)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    commands, inside = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if inside and line.startswith("gpuviz"):
            commands.append(re.sub(r"\s+#.*$", "", line).strip())
    return commands


COMMANDS = readme_commands()


def test_the_readme_shows_commands_and_their_example_files_exist():
    assert len(COMMANDS) >= 10
    for command in COMMANDS:
        for word in shlex.split(command):
            if word.startswith("examples/"):
                assert (ROOT / word).is_file(), f"{command}: {word} is not in the repository"


def environment(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the user's settings are left alone
    env["XDG_DATA_HOME"] = str(tmp_path / "share")      # install-desktop writes here
    return env


def window_titles() -> str:
    proc = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, timeout=30)
    return proc.stdout


def promised_files(args: list[str]) -> list[str]:
    out = []
    for flag in ("--screenshot", "--out", "--csv"):
        if flag in args:
            out.append(args[args.index(flag) + 1])
    return out


@pytest.mark.display
@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_runs_as_written(command, tmp_path):
    args = shlex.split(command)
    work = tmp_path / "clone"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")  # the repository's files, outputs in tmp
    env = environment(tmp_path)
    if args[0] == "gpuviz" and "install-desktop" in args and "--uninstall" in args:
        subprocess.run(["gpuviz", "install-desktop"], cwd=work, env=env, check=True, timeout=120)
    windowed = (len(args) == 1 or args[1] not in ("record", "run", "inspect", "bench", "install-desktop")
                or (args[1] == "run" and not {"--screenshot", "--out"} & set(args)))  # run SCRIPT.py: the window
    if windowed and "--quit-when-done" not in args:
        proc = subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None and "gpuviz" not in window_titles():
                time.sleep(1)
            assert proc.poll() is None, f"{command} exited: {proc.communicate()[1][-800:]}"
            assert "gpuviz" in window_titles(), f"{command}: no window appeared"
            time.sleep(3)
            assert proc.poll() is None, f"{command} did not stay open: {proc.communicate()[1][-800:]}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{command}: {proc.stderr[-800:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-800:]
    for name in promised_files(args):
        assert (work / name).is_file() and (work / name).stat().st_size > 0, f"{command} did not write {name}"
    if "inspect" in args:
        assert "samples" in proc.stdout
    if args[1:2] == ["install-desktop"]:
        share = tmp_path / "share" / "applications"
        entries = list(share.glob("*.desktop")) if share.exists() else []
        assert (entries == []) == ("--uninstall" in args), entries


def test_the_help_lists_subcommands_and_documents_options(capsys):
    from gpuviz_app.bench.runner import TOPICS
    from gpuviz_app.cli import COMMANDS, launch_parser, main

    text = launch_parser().format_help()
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s{{2,}}\S", text, re.M), f"{name} is not listed"
    with pytest.raises(SystemExit):
        main(["record", "--help"])
    record = capsys.readouterr().out
    assert re.search(r"--view \{[^}]*\}\s+the view to draw", record)
    assert re.search(r"--steps STEPS\s+train this many steps", record)
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    bench = " ".join(capsys.readouterr().out.split())
    assert "run only these topics: " + ", ".join(t.rsplit(".", 1)[1] for t in TOPICS) in bench
