"""Live tests: the embedded model for real (needs the `local` extra). Nothing is left running afterwards."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from summarizer.local import LocalServer, model_path
from summarizer.settings import EMBEDDED_MODEL

from .conftest import SEED

pytestmark = [pytest.mark.live, pytest.mark.block_network(allowed_hosts=["127.0.0.1"])]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_model_ships_in_the_wheel():
    assert model_path().suffix == ".gguf" and model_path().stat().st_size > 50_000_000


def test_server_answers_one_request_and_is_gone_afterwards():
    with LocalServer() as server:
        assert server.process is not None
        pid = server.process.pid
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
        reply = client.chat.completions.create(
            model=EMBEDDED_MODEL,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
        )
        assert reply.choices[0].message.content
        assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert not _alive(pid)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_during_a_run_stops_the_server():
    cli = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "summarize", str(SEED), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
    )
    deadline = time.monotonic() + 60
    servers: list[int] = []
    while time.monotonic() < deadline and not servers:
        servers = _children(cli.pid)
        time.sleep(0.2)
    assert servers, "the embedded server never started"
    time.sleep(3)  # let it get into the model calls
    cli.send_signal(signal.SIGINT)
    _, stderr = cli.communicate(timeout=30)
    assert cli.returncode == 130, stderr
    time.sleep(0.5)
    assert not any(_alive(pid) for pid in servers)
