"""Starts the real codiff-server (a tiny random model, loopback ports) for
the tests. Needs CODIFF_SERVER_BIN and CODIFF_MODEL_BIN (scripts/test.sh
sets them from the build)."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class Server:
    def __init__(self, extra_yaml=""):
        self.dir = tempfile.mkdtemp(prefix="codiff-py-")
        model = os.path.join(self.dir, "tiny")
        subprocess.run([os.environ["CODIFF_MODEL_BIN"], "init", "--preset", "tiny", "--seed", "7",
                        "--out", model], check=True, stdout=subprocess.DEVNULL)
        config = os.path.join(self.dir, "config.yaml")
        with open(config, "w") as f:
            f.write("listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\nhttp_listen: 127.0.0.1:0\n"
                    f"model_dir: {model}\ntorch_threads: 1\n{extra_yaml}\n")
        self.log_path = os.path.join(self.dir, "server.log")
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen([os.environ["CODIFF_SERVER_BIN"], "--config", config],
                                        stdout=self.log_file, stderr=subprocess.STDOUT)
        self.port = self.http_port = 0
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            serving = False
            with open(self.log_path) as log:
                for line in log:
                    if not line.startswith("{"):
                        continue
                    event = json.loads(line)
                    if event.get("event") == "listening":
                        self.port, self.http_port = event["grpc_port"], event["http_port"]
                    serving = serving or event.get("event") == "serving"
            if serving:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("codiff-server did not start:\n" + open(self.log_path).read())

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def token_server():
    token_dir = tempfile.mkdtemp(prefix="codiff-py-token-")
    path = os.path.join(token_dir, "tokens")
    with open(path, "w") as f:
        f.write("py-token\n")
    s = Server(f"auth:\n  token_file: {path}\n")
    yield s
    s.stop()
    shutil.rmtree(token_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def jpeg_path():
    return os.path.join(REPO, "tests", "testdata", "image", "orient_3.jpg")
