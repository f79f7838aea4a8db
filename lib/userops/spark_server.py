"""A local Spark Connect server: one JVM that several Python processes (notebook kernels) share.

    with LocalConnectServer() as url:       # sc://127.0.0.1:<free port>
        os.environ["USEROPS_SPARK_REMOTE"] = url   # engine spark in every kernel connects to it

The server is PySpark's own (``org.apache.spark.sql.connect.service.SparkConnectServer``, started by
the ``spark-submit`` PySpark ships) in local mode, listening on loopback only, with the settings
that make local Spark compute what DuckDB computes (spark_sql.SPARK_CONF, LOCAL_CONF). It is what a
cluster's Spark Connect endpoint is to a production run, on this machine: the tests and ``make
bench`` use it so that each notebook kernel is a thin client instead of a JVM of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 300  # a JVM start on a loaded 2-core machine takes up to minutes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _stop_clients(url: str) -> None:
    """Stop this process's Spark Connect sessions of `url` while the server still answers: a client
    left open retries its release at exit, with back-off, for minutes after the server is gone
    (a test session ended 10 minutes after its last test)."""
    import sys

    module = sys.modules.get("pyspark.sql.connect.session")
    if module is None:  # no Connect client in this process
        return
    cls = module.SparkSession
    for session in {cls.getActiveSession(), cls._get_default_session()} - {None}:
        where = getattr(getattr(getattr(session.client, "_builder", None), "url", None), "netloc", "")
        if where == url.removeprefix("sc://") and not session.is_stopped:
            session.stop()


class LocalConnectServer:
    """Start the server (``start``), its address (``url``), stop it (``stop``, the process group
    this object started and nothing else). ``conf`` adds Spark settings (e.g. driver memory)."""

    def __init__(self, master: str = "local[2]", conf: dict[str, str] | None = None, log: Path | None = None):
        self.master = master
        self.conf = dict(conf or {})
        self.log = log
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        import pyspark

        from userops import spark_sql

        home = Path(pyspark.__file__).parent
        settings = {
            **{
                k: v
                for k, v in spark_sql.SPARK_CONF.items()
                if not k.startswith("spark.sql.execution.arrow.")
            },
            **spark_sql.LOCAL_CONF,
            "spark.driver.host": "127.0.0.1",
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.port),
            **self.conf,
        }
        cmd = [str(home / "bin" / "spark-submit"), "--master", self.master, "--class", SERVER_CLASS]
        for key, value in settings.items():
            cmd += ["--conf", f"{key}={value}"]
        return [*cmd, "spark-internal"]

    def start(self) -> str:
        """Start the JVM and wait until it accepts connections; the sc:// address."""
        import pyspark

        self.port = _free_port()
        env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1"}
        out = open(self.log, "w", encoding="utf-8") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Spark Connect server did not start (log: {self.log or 'not kept'})")
            time.sleep(0.5)  # polling the port: the server says nothing else when it is ready
        return self.url

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system, every thread) the server's JVM has used so far (spark-submit
        execs java: the process started is the JVM); what a bench adds to its clients' own."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """End the server's process group (spark-submit and its JVM), then wait for it."""
        if self.process is None:
            return
        _stop_clients(self.url)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
