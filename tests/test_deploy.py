"""The deploy files: the Dockerfile passes hadolint and keeps its promises (slim base, multi-stage, non-root,
exec-form entrypoint, HEALTHCHECK, HTTP_HOST=0.0.0.0), it and the Makefile install exactly what uv.lock pins and
the lock matches pyproject.toml, compose.yaml binds the port to the host's 127.0.0.1
and keeps PostgreSQL's data in a named volume, and the image's own command — its ENTRYPOINT and CMD with its
ENV, run here since there is no Docker daemon — serves, passes its HEALTHCHECK and stops on SIGTERM with 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.telegram import updates
from tests.telegram.fake_bot_api import TOKEN, FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
UV_VERSION = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    stages = [i for i, (name, _) in enumerate(instructions()) if name == "FROM"]
    for name, args in instructions()[stages[-1]:]:  # the final stage is the image
        if name == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def exec_form(name: str) -> list[str]:
    (args,) = [args for instruction, args in instructions() if instruction == name]
    return json.loads(args)


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_slim_multi_stage_non_root_and_execs_the_bot():
    steps = instructions()
    bases = [args for name, args in steps if name == "FROM"]
    assert len(bases) == 2 and all(base.startswith("python:3.11-slim") for base in bases)
    final = steps[[i for i, (name, _) in enumerate(steps) if name == "FROM"][-1]:]
    (user,) = [args for name, args in final if name == "USER"]
    assert not user.startswith(("0", "root"))
    assert exec_form("ENTRYPOINT") == ["python", "-m", "bot"] and exec_form("CMD") == ["run"]
    (check,) = [args for name, args in final if name == "HEALTHCHECK"]
    assert json.loads(check.split("CMD", 1)[1]) == ["python", "-m", "bot", "healthcheck"]
    env = image_env()
    assert env["HTTP_HOST"] == "0.0.0.0" and env["HTTP_PORT"] == "8080"
    # the bundled snapshot ships inside: the package is installed with its data files
    copied = " ".join(args for name, args in steps if name == "COPY")
    assert "bot ./bot" in copied
    assert "data/*.csv.gz" in (ROOT / "pyproject.toml").read_text()


def test_the_image_and_make_install_exactly_what_uv_lock_pins():
    steps = instructions()
    build = steps[:[i for i, (name, _) in enumerate(steps) if name == "FROM"][-1]]
    runs = " && ".join(args for name, args in build if name == "RUN")
    assert any("uv.lock" in args.split() for name, args in build if name == "COPY")
    syncs = re.findall(r"uv sync [^&]*", runs)
    assert syncs and all("--locked" in sync for sync in syncs)
    assert "--no-editable" in syncs[-1]  # the final stage copies the venv alone, without /src
    assert re.findall(r"pip install (\S+)", runs) == [f"uv=={UV_VERSION}"]  # nothing beside the lock
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"\$\(UV\) sync (.*)", makefile)
    assert len(installs) == 2 and all("--locked" in line for line in installs)
    assert "--extra dev" in installs[1] and "--extra" not in installs[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI installs through the Makefile


def test_the_lock_matches_pyproject():
    uv = shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run([uv, "lock", "--check", "--offline"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr  # `make lock` after changing a dependency


def test_compose_runs_the_bot_beside_postgresql_on_the_hosts_loopback():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert bot["restart"] == db["restart"] == "unless-stopped"
    assert bot["env_file"] == ".env" and ".env" in (ROOT / ".gitignore").read_text().split()
    assert all(port.startswith("127.0.0.1:") for port in bot["ports"])
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://") and bot["depends_on"]["db"]
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a path
    # the database password comes from .env, never written in the file
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD:?" in bot["environment"]["DATABASE_URL"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_images_command_serves_passes_its_healthcheck_and_stops_on_sigterm(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "HTTP_"))}
    env.update(image_env())
    env.update({  # what differs here from inside the image: paths, the port, a local fake Telegram
        "DATABASE_URL": f"sqlite:///{tmp_path}/decoupler.sqlite3", "CHART_DIR": str(tmp_path / "charts"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"), "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1",
        "MARKET_DATA": "snapshot", "TELEGRAM_BOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT),
    })
    command = [sys.executable if part == "python" else part for part in exec_form("ENTRYPOINT") + exec_form("CMD")]
    check = [sys.executable if part == "python" else part for part in ["python", "-m", "bot", "healthcheck"]]
    async with FakeBotAPI() as fake:
        env["TELEGRAM_API_BASE_URL"] = fake.base_url
        log_path = tmp_path / "bot.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(*command, cwd=tmp_path, env=env, stdout=log,
                                                           stderr=log, stdin=asyncio.subprocess.DEVNULL)
            try:
                await fake.wait_for("getUpdates", timeout=60)
                fake.queue(updates.command("/help"))
                await fake.wait_for("sendMessage", timeout=60)
                healthy = None
                for _ in range(60):
                    probe = await asyncio.create_subprocess_exec(*check, env=env, cwd=tmp_path,
                                                                 stdout=asyncio.subprocess.DEVNULL,
                                                                 stderr=asyncio.subprocess.DEVNULL)
                    healthy = await asyncio.wait_for(probe.wait(), 60)
                    if healthy == 0:
                        break
                    await asyncio.sleep(0.5)
                assert healthy == 0, log_path.read_text(errors="replace")[-2000:]
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 30)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    assert code == 0, log_path.read_text(errors="replace")[-2000:]
    stopped = await asyncio.create_subprocess_exec(*check, env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    assert await stopped.wait() != 0  # and the HEALTHCHECK notices a bot that is gone
