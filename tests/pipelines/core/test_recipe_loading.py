"""Recipes load safely and fail in one line that never echoes the input: duplicate keys, alias bombs, recursive
aliases, binary files, bad values (--limit -5, output: ''). Through the real CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.helpers import REPO

BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else ', '.join(['x'] * 9)}]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh"))


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("body, expected", [
    ("flow: translate\ninput: a.jsonl\ninput: b.jsonl\noutput: o\n", "duplicate key 'input'"),
    ("flow: translate\nserver:\n  model: m\n  model: n\n", "duplicate key 'model'"),
    ("flow: translate\n" + BOMB, "aliases expand it past"),
    ("flow: translate\nx: &r [*r]\n", "recursive alias"),
    ("flow: translate\ninput: in.jsonl\noutput: ''\n", "output"),
    ("flow: translate\ninput: in.jsonl\noutput: o\nlimit: -5\n", "limit"),
])
def test_bad_recipes_are_one_line_exit_2(tmp_path, body, expected):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(body)
    started = time.monotonic()
    r = hala("run", str(recipe))
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert len(r.stderr) < 400 and time.monotonic() - started < 60
    assert not (REPO / "o").exists()


def test_binary_and_huge_recipes(tmp_path):
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 100)
    r = hala("run", str(binary))
    assert r.returncode == 2 and "not UTF-8" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    long_line = tmp_path / "l.yaml"
    long_line.write_text("flow: [" + "x" * 50_000 + "\n")
    r = hala("run", str(long_line))
    assert r.returncode == 2 and len(r.stderr) < 400, r.stderr  # the error never echoes the input


def test_limit_minus_5_on_the_command_line(tmp_path):
    r = hala("translate", str(REPO / "samples" / "demo" / "alpaca.jsonl"), str(tmp_path / "o"), "--limit", "-5")
    assert r.returncode == 2 and "limit" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
