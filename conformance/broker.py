# Starts the broker under test (perch or Mosquitto) on a free 127.0.0.1 port and stops it.
# Knows how to launch each broker; knows nothing about MQTT.
"""Broker process management for the conformance suite."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

MOSQUITTO_PATH = "/usr/sbin/mosquitto"
START_TIMEOUT_SECONDS = 10.0


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """A running broker process. Use as a context manager, or call start() and stop()."""

    def __init__(self, kind, perch_path=None, perch_config=None, mosquitto_path=MOSQUITTO_PATH):
        if kind not in ("perch", "mosquitto"):
            raise ValueError("unknown broker %r" % kind)
        self.kind = kind
        self.perch_path = perch_path
        self.perch_config = perch_config
        self.mosquitto_path = mosquitto_path
        self.port = None
        self.process = None
        self.workdir = None
        self.log_path = None
        self.final_log = ""

    def _command(self):
        if self.kind == "mosquitto":
            config_path = os.path.join(self.workdir, "mosquitto.conf")
            with open(config_path, "w", encoding="utf-8") as config:
                config.write(
                    "listener %d 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "set_tcp_nodelay true\n"
                    "persistence false\n"
                    "max_packet_size 1048576\n" % self.port
                )
            return [self.mosquitto_path, "-c", config_path]
        command = [self.perch_path, "-p", str(self.port)]
        if self.perch_config:
            command += ["-c", self.perch_config]
        return command

    def start(self):
        """Launches the broker and waits until it accepts TCP connections."""
        if self.kind == "perch" and not (self.perch_path and os.access(self.perch_path, os.X_OK)):
            raise RuntimeError("perch binary not found or not executable: %s" % self.perch_path)
        self.workdir = tempfile.mkdtemp(prefix="perch-conformance-")
        self.port = free_port()
        self.log_path = os.path.join(self.workdir, "broker.log")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self._command(),
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "%s exited with status %d during start-up:\n%s"
                    % (self.kind, self.process.returncode, self.log_tail())
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not listen on port %d in time" % (self.kind, self.port))

    def restart(self):
        """Stops the broker and starts a fresh one (new port, no state)."""
        self.stop()
        return self.start()

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=20):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def sanitizer_reports(self):
        """Lines of AddressSanitizer or UndefinedBehaviorSanitizer reports in the last log."""
        return [
            line
            for line in self.final_log.splitlines()
            if "Sanitizer" in line or "runtime error:" in line
        ]

    def stop(self):
        """Terminates the broker (SIGTERM, then SIGKILL after 5 s), keeps its log in
        ``final_log`` and removes its directory."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
            self.process = None
        if self.log_path:
            try:
                with open(self.log_path, "r", encoding="utf-8", errors="replace") as log:
                    self.final_log += log.read()
            except OSError:
                pass
            self.log_path = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
