"""A publish killed (kill -9) after its tag request reached the Hub finishes on the next run, and no killed publish
leaves a bundle copy in the system temp folder. Through the real CLI, against the local Hub test server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.helpers import REPO as CHECKOUT
from tests.helpers.hub_test_server import HubTestServer
from tests.helpers.publish_data import write_instructions, write_validation

SECRET = "hf_testTOKENdoNotPrint0123456789"
REPO = "hala-org/ar-instructions"


@pytest.fixture
def env(tmp_path):
    tmp = tmp_path / "systmp"
    tmp.mkdir()
    return {**os.environ, "HF_TOKEN": SECRET, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "TMPDIR": str(tmp)}


def _cmd(ds, url: str) -> list[str]:
    return [sys.executable, "-m", "hala.pipelines.cli.app", "publish", str(ds), "--repo", REPO, "--version", "1.0.0",
            "--endpoint", url]


def test_killed_after_the_tag_reached_the_hub_finishes_on_rerun(tmp_path, env):
    ds = write_instructions(tmp_path / "ds")
    write_validation(ds)
    with HubTestServer(token=SECRET) as hub:
        hub.hold_tag_response = threading.Event()
        proc = subprocess.Popen(_cmd(ds, hub.url), cwd=CHECKOUT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        assert hub.tag_stored.wait(180), proc.communicate(timeout=5)
        os.killpg(proc.pid, signal.SIGKILL)  # the tag is on the Hub; the client never hears back
        proc.wait()
        hub.hold_tag_response.set()
        tagged = dict(hub.repos[REPO].tags)
        commits = len(hub.commits)
        assert not list((tmp_path / "systmp").glob("hala-publish-*"))  # nothing left in the system temp folder
        r = subprocess.run(_cmd(ds, hub.url), cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "0 files uploaded" in r.stdout
    assert hub.repos[REPO].tags == tagged and len(hub.commits) == commits  # recognised, nothing redone
    assert not list((tmp_path / "systmp").glob("hala-publish-*"))
    assert not (ds / "work" / "publish").exists() or not any((ds / "work" / "publish").iterdir())
    assert SECRET not in r.stdout + r.stderr
