"""Throwaway queue backends on free loopback ports, for
test_queue_drivers.py, test_queue_crash.py and bench/queue.py: each
start() returns the store URL for a queue named `queue` and the env the
gateway needs; stop() ends what start() began. Every wait is bounded.

- sqlite: the embedded default (no URL, no server).
- redis: redis-server without persistence, in a scratch directory.
- postgres: a fresh initdb cluster with trust auth on 127.0.0.1 (as root,
  run as the "postgres" user, as tests/conformance/backends.sh does).
- sqs: moto_server, with dummy credentials.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout, what, log):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError("%s did not start; see %s" % (what, log))


class Backend:
    name = "?"
    missing = None  # why it cannot run here, or None

    def start(self, queue):
        return None, {}

    def stop(self):
        pass

    def dead_count(self, project_dir, queue):
        """How many messages the dead-letter queue QUEUE-dead holds."""
        raise NotImplementedError


class Sqlite(Backend):
    name = "sqlite"

    def dead_count(self, project_dir, queue):
        import sqlite3
        db = sqlite3.connect(os.path.join(project_dir, ".kumo", "data", "queue.db"), timeout=10)
        try:
            return db.execute("SELECT count(*) FROM kumo_queue WHERE queue = ?", (queue + "-dead",)).fetchone()[0]
        finally:
            db.close()


class Redis(Backend):
    name = "redis"
    missing = None if shutil.which("redis-server") else "redis-server is not installed (scripts/install-deps.sh)"

    def start(self, queue):
        self.dir = tempfile.mkdtemp(prefix="kumo-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: self.cli("ping").strip() == "PONG", 15, "redis-server", self.dir)
        return "redis://127.0.0.1:%d/0" % self.port, {}

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return p.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def dead_count(self, project_dir, queue):
        return int(self.cli("XLEN", "kumo:%s-dead:stream" % queue).strip() or 0)


def _pg_bin():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")) else None


class Postgres(Backend):
    name = "postgres"
    missing = None if _pg_bin() else "PostgreSQL's initdb is not installed (scripts/install-deps.sh)"

    def _as_pg(self, *args, **kw):
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)

    def start(self, queue):
        self.bin = _pg_bin()
        self.dir = tempfile.mkdtemp(prefix="kumo-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.port = free_port()
        r = self._as_pg(os.path.join(self.bin, "initdb"), "-D", self.dir + "/pg", "-U", "kumo", "-A", "trust",
                        "-E", "UTF8")
        if r.returncode != 0:
            raise RuntimeError("initdb failed: " + r.stderr)
        r = self._as_pg(os.path.join(self.bin, "pg_ctl"), "-D", self.dir + "/pg", "-l", self.dir + "/pg.log", "-w",
                        "-t", "20", "-o", "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir),
                        "start")
        if r.returncode != 0:
            raise RuntimeError("PostgreSQL did not start; see %s/pg.log" % self.dir)
        r = self._as_pg(os.path.join(self.bin, "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "kumo",
                        "kumo")
        if r.returncode != 0:
            raise RuntimeError("createdb failed: " + r.stderr)
        return "postgres://kumo@127.0.0.1:%d/kumo" % self.port, {}

    def psql(self, sql):
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "kumo", "-d", "kumo", "-tAc", sql],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.strip()

    def stop(self):
        self._as_pg(os.path.join(self.bin, "pg_ctl"), "-D", self.dir + "/pg", "-m", "immediate", "-w", "-t", "20",
                    "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def dead_count(self, project_dir, queue):
        return int(self.psql("SELECT count(*) FROM kumo_queue WHERE queue = '%s-dead'" % queue) or 0)


class Sqs(Backend):
    name = "sqs"
    missing = None if shutil.which("moto_server") else "moto_server is not installed (pip install 'moto[server]')"
    ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def start(self, queue):
        self.dir = tempfile.mkdtemp(prefix="kumo-moto-")
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ)
        env.update(self.ENV)
        self.log = open(os.path.join(self.dir, "moto.log"), "w")
        self.proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)

        def up():
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).read()
                return True
            except OSError:
                return False
        _wait(up, 30, "moto_server", self.log.name)
        return "sqs://%s?region=us-east-1&endpoint=%s" % (queue, self.endpoint), dict(self.ENV)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def dead_count(self, project_dir, queue):
        import boto3
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        url = sqs.get_queue_url(QueueName=queue + "-dead")["QueueUrl"]
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(v) for v in a["Attributes"].values())


ALL = {"sqlite": Sqlite, "redis": Redis, "postgres": Postgres, "sqs": Sqs}
