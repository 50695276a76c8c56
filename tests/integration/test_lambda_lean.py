"""kumo-lambda, the lean Lambda host (docs/deploy-build.md): what
`kumo build --target aws` packages when the unit needs nothing only
kumo-host has, and that it serves like kumo-host.

- The todo package carries kumo-lambda (as its bootstrap, on Lambda's
  glibc) and one library (jansson): no libcurl, OpenSSL, h2o, SQLite,
  hiredis, PCRE2, libyaml or libm, and its ELF needs none of them. Its
  documents are JSON. A `pattern` in the document brings PCRE2 (loaded on
  demand), and it is enforced. A document edited into YAML again loads
  libyaml on demand.
- Run under `kumo emulate lambda`, it serves examples/todo with its three
  stores on AWS's services as moto's server stands them in (DynamoDB, S3,
  SQS), through kumo's own HTTP client and SigV4 signer: what it writes is
  read back with boto3, a client that is not kumo's.
- moto checking every signature (IAM on): an IAM user's key passes for
  each driver, a wrong secret is refused (SignatureDoesNotMatch).
- The same over HTTPS: moto behind a certificate for "localhost" signed by
  a CA the test makes, trusted through SSL_CERT_FILE; with another CA in
  SSL_CERT_FILE the store is unavailable (503) and the log says the
  certificate is not trusted.
- A unit that makes outbound calls (kumo_http_*) keeps kumo-lambda (its
  calls go through kumo's own client: test_outbound.py); a service at
  https:// and an IP address gets kumo-host, and `kumo build` says why.
"""
import contextlib
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request
import zipfile

from kumo_harness import KUMO, copy_project, free_port

LEAN = os.environ.get("KUMO_LAMBDA_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-lambda")
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def make_ca(dirname, name):
    """A CA and a certificate for `name` it signs, as PEM files; returns
    (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kumo test CA " + os.path.basename(dirname))])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(dirname, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class Moto:
    """moto_server on a free loopback port; with a certificate, over TLS;
    with `auth_after`, checking every request's signature after the first
    so many (moto's IAM: INITIAL_NO_AUTH_ACTION_COUNT)."""

    def __init__(self, workdir, cert=None, key=None, auth_after=None):
        self.port = free_port()
        host = "localhost" if cert else "127.0.0.1"
        self.endpoint = "%s://%s:%d" % ("https" if cert else "http", host, self.port)
        self.log = open(os.path.join(workdir, "moto-%d.log" % self.port), "w")
        args = ["moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        if cert:
            args += ["-c", cert, "-k", key]
        env = dict(os.environ, **AWS_ENV)
        if auth_after is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(auth_after)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        import ssl
        ctx = ssl.create_default_context(cafile=cert) if cert else None
        if ctx:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1, context=ctx).read()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("moto_server did not start; see " + self.log.name)

    def stores(self):
        q = "?region=us-east-1&endpoint=" + self.endpoint
        return {"KUMO_STORE_TODOS": "dynamodb://todos" + q, "KUMO_STORE_ATTACHMENTS": "s3://attachments" + q,
                "KUMO_STORE_NOTIFICATIONS": "sqs://notifications" + q}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Emulator:
    """kumo emulate lambda over a package zip."""

    def __init__(self, zip_path, workdir, env):
        self.port = free_port()
        self.err = open(os.path.join(workdir, "emulate-%d.err" % self.port), "w+")
        self.proc = subprocess.Popen([KUMO, "emulate", "lambda", "--zip", zip_path, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=self.err, env=dict(os.environ, **env),
                                     text=True)
        deadline = time.time() + 30
        line = ""
        while time.time() < deadline and "kumo emulate: serving" not in line:
            line = self.proc.stdout.readline()
            if line == "" and self.proc.poll() is not None:
                raise AssertionError("kumo emulate exited:\n" + self.stderr())
        if "kumo emulate: serving" not in line:
            raise AssertionError("kumo emulate did not serve:\n" + self.stderr())

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


@unittest.skipUnless(shutil.which("moto_server"), "moto_server is not installed")
@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class LeanPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-lean-test-")
        cls.project = copy_project("todo")
        r = subprocess.run([KUMO, "build", "--target", "aws", cls.project], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise AssertionError("kumo build failed:\n" + r.stderr)
        cls.build_err = r.stderr
        cls.zip = os.path.join(cls.project, ".kumo", "build", "aws", "todos.zip")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(os.path.dirname(cls.project), ignore_errors=True)

    def test_package_is_lean(self):
        self.assertNotIn("packaged with kumo-host", self.build_err)
        with zipfile.ZipFile(self.zip) as z:
            names = z.namelist()
            boot = z.read("bootstrap")
            elf = boot.startswith(b"\x7fELF")
            host = boot if elf else z.read("bin/kumo-lambda")
            unit = z.read("app/.kumo/lambda-unit").decode() if elf else None
        self.assertNotIn("bin/kumo-host", names)
        # a sanitizer build's kumo-lambda brings its runtime, and the glibc
        # that runtime asks for (test_build.py): those aside, three libraries
        sanitized = any(os.path.basename(n).startswith(("libasan", "libubsan")) for n in names)
        glibc = ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                 "libresolv.so.2", "libanl.so.1", "libmvec.so.1", "ld-linux-x86-64.so.2")
        runtime = ("libasan", "libubsan", "libstdc++", "libgcc_s")
        libs = sorted(n for n in names if n.startswith("lib/") and os.path.basename(n) not in glibc and
                      not os.path.basename(n).startswith(runtime))
        # no `pattern` in todo's documents: PCRE2 stays home (openapi/pcre2_lazy.h); the
        # documents are JSON: libyaml too (openapi/yaml_lazy.h)
        self.assertEqual(libs, ["lib/libjansson.so.4"])
        path = os.path.join(self.tmp, "kumo-lambda")
        with open(path, "wb") as f:
            f.write(host)
        r = subprocess.run(["readelf", "-d", path], capture_output=True, text=True)
        needed = [l.split("[")[1].rstrip("]") for l in r.stdout.splitlines() if "(NEEDED)" in l]
        self.assertTrue(needed, r.stdout)
        for heavy in ("libcurl", "libssl", "libcrypto", "libh2o", "libsqlite3", "libhiredis", "libpq", "libpcre2",
                      "libyaml"):
            self.assertFalse([n for n in needed if n.startswith(heavy)], needed)
        if not sanitized:
            # its few roundings are its own (host/lambda_libm.c)
            self.assertNotIn("libm.so.6", needed)
        if "lib/libc.so.6" in names:
            # its own glibc: bootstrap starts bin/kumo-lambda through the bundled loader
            self.assertFalse(elf)
            self.assertIn("\"$D/bin/kumo-lambda\" 'lambda' \"$D/app\" 'todos'", boot.decode())
        else:
            # on Lambda's glibc the bootstrap is kumo-lambda itself: no shell
            # first, lib/ found through its RUNPATH, the unit named in a file
            self.assertTrue(elf, boot[:200])
            self.assertEqual(unit, "todos")
            self.assertNotIn("bin/kumo-lambda", names)
            self.assertIn("Library runpath: [$ORIGIN/lib]", r.stdout)
        if not sanitized:
            self.assertLess(os.path.getsize(self.zip), 2 << 20, "the aim of issue 19: at most 2 MiB")

    def serve_todos(self, env, moto_endpoint, ca=None):
        emu = Emulator(self.zip, self.tmp, env)
        try:
            status, body = emu.request("POST", "/todos", json.dumps({"title": "milk"}),
                                       {"Content-Type": "application/json"})
            self.assertEqual(status, 201, body.decode(errors="replace") + emu.stderr()[-3000:])
            todo = json.loads(body)
            status, body = emu.request("GET", "/todos")
            self.assertEqual(status, 200, body)
            self.assertIn("milk", [t["title"] for t in json.loads(body)["items"]])
            data = b"hello, attachment"
            status, body = emu.request("PUT", "/todos/%s/attachment" % todo["id"], data,
                                       {"Content-Type": "text/plain"})
            self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-3000:])
            status, body = emu.request("GET", "/todos/%s/attachment" % todo["id"])
            self.assertEqual((status, body), (200, data))
            self.assertNotIn("has no KUMO_STORE", emu.stderr())
        finally:
            emu.stop()
        # read back by a client that is not kumo's
        import boto3
        kw = dict(endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", verify=ca if ca else None)
        items = boto3.client("dynamodb", **kw).scan(TableName="todos")["Items"]
        self.assertTrue(any("milk" in repr(i) for i in items), items)
        objs = boto3.client("s3", **kw).list_objects_v2(Bucket="attachments").get("Contents", [])
        self.assertTrue(objs, "the attachment is in the bucket")
        q = boto3.client("sqs", **kw)
        url = q.get_queue_url(QueueName="notifications")["QueueUrl"]
        msgs = q.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertTrue(any(todo["id"] in m["Body"] for m in msgs), msgs)
        return emu

    def test_emulate_says_what_lean_lacks(self):
        """No store variable: kumo emulate says at start, for each store, that
        kumo-lambda cannot open its local default; the handler's store call
        fails (todo answers 500 for a store it cannot open) and the log
        says the same."""
        env = {k: v for k, v in AWS_ENV.items()}
        emu = Emulator(self.zip, self.tmp, env)
        try:
            status, body = emu.request("GET", "/todos")
            err = emu.stderr()
        finally:
            emu.stop()
        for store in ("todos", "attachments", "notifications"):
            self.assertIn("store '%s' has no KUMO_STORE_%s here, and this package's kumo-lambda carries the AWS "
                          "drivers alone" % (store, store.upper()), err)
        self.assertEqual(status, 500, body)
        self.assertIn("in kumo-lambda, which carries the AWS drivers alone", err)

    def test_documents_are_json(self):
        """The package's documents are JSON under their own names (YAML is a
        superset of it), with the tree of the project's YAML."""
        with zipfile.ZipFile(self.zip) as z:
            project = json.loads(z.read("app/kumo.yaml"))
            api = json.loads(z.read("app/openapi.yaml"))
        self.assertEqual(project["name"], "todo")
        self.assertEqual(project["api"], "openapi.yaml")
        self.assertEqual(project["stores"], {"kv": ["todos"], "blob": ["attachments"], "queue": ["notifications"]})
        self.assertEqual(api["components"]["schemas"]["TodoInput"]["properties"]["title"]["type"], "string")
        with open(os.path.join(self.project, "openapi.yaml")) as f:
            source = f.read()
        self.assertEqual(sorted(api["paths"]), sorted(re.findall(r"^  (/[^:]*):", source, re.M)))

    def test_contract_compiled_on_first_request(self):
        """kumo-lambda compiles an operation's schemas on its first request
        (kumo build compiled them once already). A package edited after the
        build, by hand, in YAML again (kumo-lambda loads libyaml for it) to
        hold a pattern that does not compile: the other operations serve,
        that one answers 500 (never unchecked) and the log says why."""
        path = os.path.join(self.tmp, "edited.zip")
        with zipfile.ZipFile(self.zip) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "app/openapi.yaml":
                    with open(os.path.join(self.project, "openapi.yaml")) as f:
                        text = f.read()
                    i = text.index("    TodoInput:\n")
                    j = text.index("title: {type: string,", i) + len("title: {type: string,")
                    data = (text[:j] + " pattern: '[a-'," + text[j:]).encode()
                dst.writestr(info, data)
        moto = Moto(self.tmp)
        try:
            emu = Emulator(path, self.tmp, dict(AWS_ENV, **moto.stores()))
            try:
                status, body = emu.request("GET", "/todos")
                self.assertEqual(status, 200, body)
                status, body = emu.request("POST", "/todos", json.dumps({"title": "milk"}),
                                           {"Content-Type": "application/json"})
                self.assertEqual(status, 500, body)
                self.assertIn("request contract could not be compiled", body.decode())
                err = emu.stderr()
                self.assertIn("operation POST /todos: its request contract cannot be compiled", err)
                self.assertIn("invalid regular expression '[a-'", err)
            finally:
                emu.stop()
        finally:
            moto.stop()

    def test_serves_todo_on_aws_services_over_http(self):
        moto = Moto(self.tmp)
        try:
            self.serve_todos(dict(AWS_ENV, **moto.stores()), moto.endpoint)
        finally:
            moto.stop()

    def test_signatures_checked_by_moto(self):
        """moto checking signatures (it recomputes each with botocore): with
        an IAM user's key every call of the three drivers passes; with a
        wrong secret each is refused, SignatureDoesNotMatch."""
        import boto3
        moto = Moto(self.tmp, auth_after=3)
        try:
            iam = boto3.client("iam", endpoint_url=moto.endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
            iam.create_user(UserName="fn")
            iam.put_user_policy(UserName="fn", PolicyName="all", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="fn")["AccessKey"]
            env = dict(AWS_ENV, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
                       **moto.stores())
            emu = Emulator(self.zip, self.tmp, env)
            try:
                status, body = emu.request("GET", "/todos")  # moto's last unchecked request
                self.assertEqual(status, 200, body)
                status, body = emu.request("POST", "/todos", json.dumps({"title": "signed"}),
                                           {"Content-Type": "application/json"})
                self.assertEqual(status, 201, body.decode(errors="replace") + emu.stderr()[-2000:])
                tid = json.loads(body)["id"]
                status, body = emu.request("PUT", "/todos/%s/attachment" % tid, b"a b+c", {"Content-Type": "text/plain"})
                self.assertEqual(status, 200, body)
                self.assertEqual(emu.request("GET", "/todos/%s/attachment" % tid), (200, b"a b+c"))
                status, body = emu.request("GET", "/notifications")
                self.assertEqual(status, 200, body)
                self.assertIn(tid, body.decode())
                self.assertNotIn("SignatureDoesNotMatch", emu.stderr())
            finally:
                emu.stop()
            emu = Emulator(self.zip, self.tmp, dict(env, AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"] + "x"))
            try:
                status, body = emu.request("GET", "/todos")
                self.assertNotEqual(status, 200, body)
                err = emu.stderr()
                self.assertIn("dynamodb: SignatureDoesNotMatch", err)
                self.assertNotIn(key["SecretAccessKey"], err)
            finally:
                emu.stop()
        finally:
            moto.stop()

    def test_https_trusts_the_platform_cas_only(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        ca, cert, key = make_ca(d, "localhost")
        other = make_ca(tempfile.mkdtemp(dir=self.tmp), "localhost")[0]
        moto = Moto(self.tmp, cert, key)
        try:
            env = dict(AWS_ENV, SSL_CERT_FILE=ca, **moto.stores())
            self.serve_todos(env, moto.endpoint, ca)
            # the same server, a CA that did not sign it: refused
            emu = Emulator(self.zip, self.tmp, dict(env, SSL_CERT_FILE=other))
            try:
                status, body = emu.request("GET", "/todos")
                self.assertEqual(status, 503, body)
                self.assertIn("not trusted", emu.stderr() + body.decode(errors="replace"))
            finally:
                emu.stop()
        finally:
            moto.stop()


def secure(project, scheme, entry, config):
    """Every operation of the project's document requires `scheme` (its
    securitySchemes entry, YAML flow style), configured in kumo.yaml by
    `config` (flow style)."""
    spec = os.path.join(project, "openapi.yaml")
    with open(spec) as f:
        text = f.read()
    text = text.replace("\ncomponents:\n", "\ncomponents:\n  securitySchemes:\n    %s: %s\n" % (scheme, entry), 1)
    with open(spec, "w") as f:
        f.write(text + "\nsecurity:\n  - %s: []\n" % scheme)
    with open(os.path.join(project, "kumo.yaml"), "a") as f:
        f.write("security:\n  %s: %s\n" % (scheme, config))


def build_aws(project, env=None):
    """kumo build --target aws: (its stderr, the todos zip); fails the
    test when the build does."""
    r = subprocess.run([KUMO, "build", "--target", "aws", project], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise AssertionError("kumo build failed:\n" + r.stderr)
    return r.stderr, os.path.join(project, ".kumo", "build", "aws", "todos.zip")


@contextlib.contextmanager
def on_moto(zpath, env=None):
    """The package under kumo emulate lambda, its stores on a moto of its
    own: yields the Emulator."""
    tmp = tempfile.mkdtemp(prefix="kumo-lean-test-")
    moto = Moto(tmp)
    try:
        emu = Emulator(zpath, tmp, dict(AWS_ENV, **moto.stores(), **(env or {})))
        try:
            yield emu
        finally:
            emu.stop()
    finally:
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(shutil.which("moto_server"), "moto_server is not installed")
@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class PatternTest(unittest.TestCase):
    def test_pattern_brings_pcre2_and_is_enforced(self):
        project = copy_project("todo")
        try:
            spec = os.path.join(project, "openapi.yaml")
            with open(spec) as f:
                text = f.read()
            old = "title: {type: string, minLength: 1, maxLength: 200,"
            j = text.index(old, text.index("    TodoInput:\n"))
            text = text[:j] + "title: {type: string, pattern: '^[a-z ]+$', minLength: 1, maxLength: 200," + \
                text[j + len(old):]
            with open(spec, "w") as f:
                f.write(text)
            _, zpath = build_aws(project)
            with zipfile.ZipFile(zpath) as z:
                self.assertIn("lib/libpcre2-8.so.0", z.namelist())
            with on_moto(zpath) as emu:
                status, body = emu.request("POST", "/todos", json.dumps({"title": "MILK!"}),
                                           {"Content-Type": "application/json"})
                self.assertEqual(status, 400, body)
                self.assertIn("pattern", body.decode())
                status, body = emu.request("POST", "/todos", json.dumps({"title": "milk"}),
                                           {"Content-Type": "application/json"})
                self.assertEqual(status, 201, body.decode(errors="replace") + emu.stderr()[-2000:])
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


@unittest.skipUnless(shutil.which("moto_server"), "moto_server is not installed")
@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class SecuredTest(unittest.TestCase):
    def test_api_key_is_enforced_without_libcrypto(self):
        """An API key scheme: kumo-lambda still serves and checks the keys
        with BearSSL's SHA-256 (base/digest.h): the package carries no
        libcrypto, which only a token scheme needs (JwtTest)."""
        project = copy_project("todo")
        key = {"TODO_KEY": "k-0123456789abcdef"}
        try:
            secure(project, "ApiKey", "{type: apiKey, in: header, name: X-API-Key}", '{keys: ["${env:TODO_KEY}"]}')
            err, zpath = build_aws(project, key)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                self.assertNotIn("lib/libcrypto.so.3", z.namelist())
            with on_moto(zpath, key) as emu:
                self.assertEqual(emu.request("GET", "/todos")[0], 401)
                self.assertEqual(emu.request("GET", "/todos", headers={"X-API-Key": "wrong"})[0], 401)
                status, body = emu.request("GET", "/todos", headers={"X-API-Key": key["TODO_KEY"]})
                self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-2000:])
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_basic_users_bring_libcrypt_and_are_checked(self):
        """HTTP Basic users from a file of sha512crypt hashes: kumo-lambda
        still serves, the package carries the users' file and libcrypt
        (loaded on demand, as in kumo-host: auth/basic.c), and only the
        right password passes."""
        import base64
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                import crypt
            except ImportError:
                self.skipTest("python's crypt module is gone (3.13): no sha512crypt hash to make")
        project = copy_project("todo")
        try:
            with open(os.path.join(project, "users.htpasswd"), "w") as f:
                f.write("ann:%s\n" % crypt.crypt("s3cret-pw", crypt.mksalt(crypt.METHOD_SHA512)))
            secure(project, "Basic", "{type: http, scheme: basic}", "{file: users.htpasswd}")
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                names = z.namelist()
            self.assertIn("app/users.htpasswd", names)
            self.assertIn("lib/libcrypt.so.1", names)
            self.assertNotIn("lib/libcrypto.so.3", names)  # the users' cache hashes with BearSSL

            def basic(user, pw):
                return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}

            with on_moto(zpath) as emu:
                self.assertEqual(emu.request("GET", "/todos")[0], 401)
                self.assertEqual(emu.request("GET", "/todos", headers=basic("ann", "wrong"))[0], 401)
                self.assertEqual(emu.request("GET", "/todos", headers=basic("bob", "s3cret-pw"))[0], 401)
                status, body = emu.request("GET", "/todos", headers=basic("ann", "s3cret-pw"))
                self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-2000:])
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@unittest.skipUnless(shutil.which("moto_server"), "moto_server is not installed")
@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class JwtTest(unittest.TestCase):
    def test_rs256_and_eddsa_from_a_key_file(self):
        """A bearer scheme whose keys are a file (jwks_file), no
        `algorithms`: nothing to fetch, so kumo-lambda, and no libcrypto in
        the package. RS256 tokens made here with `cryptography` are
        verified by BearSSL, EdDSA ones by kumo's Ed25519 (auth/ed25519.c),
        those of a 4608-bit key by the system's libcrypto, loaded for it;
        forged ones, another audience and an EdDSA token whose signature's
        S is pushed past the group order are refused."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
        project = copy_project("todo")
        try:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            big = rsa.generate_private_key(public_exponent=65537, key_size=4608)  # past BearSSL's 4096
            ed = ed25519.Ed25519PrivateKey.generate()
            ed_x = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

            def rsa_jwk(k, kid):
                pub = k.public_key().public_numbers()
                return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                        "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
                        "e": b64url(pub.e.to_bytes(3, "big"))}
            jwks_doc = {"keys": [rsa_jwk(key, "k1"), rsa_jwk(big, "k2"),
                                 {"kty": "OKP", "crv": "Ed25519", "kid": "e1", "x": b64url(ed_x)}]}
            jwks = os.path.join(os.path.dirname(project), "jwks.json")
            with open(jwks, "w") as f:
                json.dump(jwks_doc, f)

            def token(signer=key, aud="todo-api", alg="RS256", kid=None):
                now = int(time.time())
                head = b64url(json.dumps({"alg": alg, "kid": kid or ("k1" if alg == "RS256" else "e1"),
                                          "typ": "JWT"}).encode())
                body = b64url(json.dumps({"iss": "https://id.example/", "aud": aud, "sub": "ann", "iat": now,
                                          "exp": now + 300}).encode())
                signing = ("%s.%s" % (head, body)).encode()
                if alg == "EdDSA":
                    sig = signer.sign(signing)
                else:
                    sig = signer.sign(signing, padding.PKCS1v15(), hashes.SHA256())
                return "%s.%s.%s" % (head, body, b64url(sig))

            def past_order(tok):
                # S + L: the same point; RFC 8032 refuses such an S
                import base64
                head, body, sig = tok.split(".")
                raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
                s = int.from_bytes(raw[32:], "little") + (2 ** 252 + 27742317777372353535851937790883648493)
                raw[32:] = s.to_bytes(32, "little")
                return "%s.%s.%s" % (head, body, b64url(bytes(raw)))

            secure(project, "Jwt", "{type: http, scheme: bearer, bearerFormat: JWT}",
                   '{issuer: "https://id.example/", audience: todo-api, jwks_file: %s}' % jwks)
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                self.assertFalse([n for n in z.namelist() if "libcrypto" in n], z.namelist())
            with on_moto(zpath) as emu:
                self.assertEqual(emu.request("GET", "/todos")[0], 401)
                other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                other_ed = ed25519.Ed25519PrivateKey.generate()
                for bad in (token(signer=other), token(aud="another-api"), token(signer=other_ed, alg="EdDSA"),
                            token(signer=ed, alg="EdDSA", aud="another-api"),
                            past_order(token(signer=ed, alg="EdDSA"))):
                    status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + bad})
                    self.assertEqual(status, 401, body)
                # the 4608-bit key: the lean host loads this system's libcrypto for it
                for good in (token(), token(signer=ed, alg="EdDSA"), token(signer=big, kid="k2")):
                    status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + good})
                    self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-2000:])
                self.assertNotIn("left out", emu.stderr())
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


    def test_pinned_algorithms_carry_no_libcrypto(self):
        """`algorithms: [RS256, PS256]`: no libcrypto in the package (none
        is, for any scheme), both verify there with BearSSL; another alg,
        a forged signature and a wrong audience are refused."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        project = copy_project("todo")
        try:
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
            pub = key.public_key().public_numbers()
            jwk = {"kty": "RSA", "kid": "k1", "use": "sig",
                   "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
                   "e": b64url(pub.e.to_bytes(3, "big"))}
            jwks = os.path.join(os.path.dirname(project), "jwks.json")
            with open(jwks, "w") as f:
                json.dump({"keys": [jwk]}, f)

            def token(alg="RS256", signer=key, aud="todo-api"):
                now = int(time.time())
                head = b64url(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
                body = b64url(json.dumps({"iss": "https://id.example/", "aud": aud, "sub": "ann", "iat": now,
                                          "exp": now + 300}).encode())
                pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32) if alg == "PS256" \
                    else padding.PKCS1v15()
                sig = signer.sign(("%s.%s" % (head, body)).encode(), pad, hashes.SHA256())
                return "%s.%s.%s" % (head, body, b64url(sig))

            secure(project, "Jwt", "{type: http, scheme: bearer, bearerFormat: JWT}",
                   '{issuer: "https://id.example/", audience: todo-api, jwks_file: %s, algorithms: [RS256, PS256]}'
                   % jwks)
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                self.assertFalse([n for n in z.namelist() if "libcrypto" in n], z.namelist())
            with on_moto(zpath) as emu:
                other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                for bad in (token(signer=other), token("PS256", signer=other), token(aud="another-api"),
                            token().rsplit(".", 1)[0] + "." + b64url(b"\0" * 384)):
                    status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + bad})
                    self.assertEqual(status, 401, body)
                for good in (token(), token("PS256")):
                    status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + good})
                    self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-2000:])
                # an alg the scheme does not list, whatever its signature
                h = b64url(json.dumps({"alg": "RS384", "kid": "k1"}).encode())
                forged = "%s.%s" % (h, token().split(".", 1)[1])
                status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + forged})
                self.assertEqual(status, 401, body)
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_rs256_keys_discovered_over_https(self):
        """A bearer scheme whose keys are fetched: OpenID discovery, then a
        redirect, then the key set, over HTTPS from a server the test runs
        (a CA it makes, trusted through SSL_CERT_FILE). Still kumo-lambda,
        with no libcurl: its own HTTPS client fetches (host/own_http.c).
        A token the fetched key verifies passes, a forged one does not."""
        import http.server
        import ssl
        import threading
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        project = copy_project("todo")
        tmp = os.path.dirname(project)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "kid": "d1", "alg": "RS256", "use": "sig",
               "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
               "e": b64url(pub.e.to_bytes(3, "big"))}
        seen = []

        class IdP(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                seen.append(self.path)
                base = "https://localhost:%d" % self.server.server_address[1]
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": base + "/", "jwks_uri": base + "/keys"}).encode()
                elif self.path == "/keys":  # moved: the client follows
                    self.send_response(302)
                    self.send_header("Location", "/v2/jwks.json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif self.path == "/v2/jwks.json":
                    body = json.dumps({"keys": [jwk]}).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ca, cert, pem = make_ca(tempfile.mkdtemp(dir=tmp), "localhost")
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IdP)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, pem)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        issuer = "https://localhost:%d/" % srv.server_address[1]
        try:
            def token(signer=key):
                now = int(time.time())
                head = b64url(json.dumps({"alg": "RS256", "kid": "d1", "typ": "JWT"}).encode())
                body = b64url(json.dumps({"iss": issuer, "aud": "todo-api", "sub": "ann", "iat": now,
                                          "exp": now + 300}).encode())
                sig = signer.sign(("%s.%s" % (head, body)).encode(), padding.PKCS1v15(), hashes.SHA256())
                return "%s.%s.%s" % (head, body, b64url(sig))

            secure(project, "Jwt", "{type: http, scheme: bearer, bearerFormat: JWT}",
                   '{issuer: "%s", audience: todo-api, discovery_url: "%s.well-known/openid-configuration"}'
                   % (issuer, issuer))
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                names = z.namelist()
            self.assertFalse([n for n in names if "libcrypto" in n or "libcurl" in n], names)
            with on_moto(zpath, {"SSL_CERT_FILE": ca}) as emu:
                self.assertEqual(emu.request("GET", "/todos")[0], 401)
                other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + token(other)})
                self.assertEqual(status, 401, body)
                status, body = emu.request("GET", "/todos", headers={"Authorization": "Bearer " + token()})
                self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr()[-2000:])
            self.assertEqual(seen[:3], ["/.well-known/openid-configuration", "/keys", "/v2/jwks.json"])
        finally:
            srv.shutdown()
            srv.server_close()
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(shutil.which("moto_server"), "moto_server is not installed")
@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class TracesTest(unittest.TestCase):
    def test_spans_exported_over_otlp(self):
        """Traces exported over OTLP/HTTP keep kumo-lambda: its exporter
        POSTs through kumo's own HTTP client, and the collector (this
        test's receiver) gets the function's spans, protobuf, with the
        project's service name."""
        from test_traces import Receiver, attrs
        project = copy_project("todo")
        rx = Receiver()
        try:
            with open(os.path.join(project, "kumo.yaml"), "a") as f:
                f.write("observability:\n  traces: {endpoint: \"http://127.0.0.1:%d\"}\n" % rx.port)
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                names = z.namelist()
            self.assertNotIn("bin/kumo-host", names)
            self.assertFalse([n for n in names if "libcurl" in n], names)
            # a sampled caller (the emulator's X-Ray header says unsampled,
            # as Lambda's does without active tracing)
            trace = "0af7651916cd43dd8448eb211c80319c"
            with on_moto(zpath) as emu:
                status, body = emu.request("GET", "/todos", headers={"traceparent": "00-%s-b7ad6b7169203331-01" % trace})
                self.assertEqual(status, 200, body)
                deadline = time.time() + 15
                while time.time() < deadline and not rx.spans():
                    time.sleep(0.1)
                spans = rx.spans()
                self.assertTrue(spans, emu.stderr()[-2000:])
            self.assertEqual(rx.paths[0], ("/v1/traces", "application/x-protobuf"))
            self.assertEqual(spans[0]["resource"].get("service.name"), "todo")
            self.assertEqual({s["traceId"] for s in spans}, {trace})
            self.assertTrue([s for s in spans if "/todos" in s["name"] or
                             attrs(s).get("http.route") == "/todos"], spans)
        finally:
            rx.stop()
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class FullHostWhenNeededTest(unittest.TestCase):
    def test_own_ca_file_gets_kumo_host(self):
        """kumo-lambda's HTTPS trusts the platform's CAs: a token scheme
        with a CA file of its own gets kumo-host, and the build says why."""
        project = copy_project("todo")
        try:
            ca = os.path.join(os.path.dirname(project), "ca.pem")
            make_ca(os.path.dirname(project), "id.example")
            secure(project, "Jwt", "{type: http, scheme: bearer, bearerFormat: JWT}",
                   '{issuer: "https://id.example/", audience: todo-api, jwks_url: "https://id.example/jwks.json", '
                   'ca_file: %s}' % ca)
            err, zpath = build_aws(project)
            self.assertIn("packaged with kumo-host, not the lean kumo-lambda: security scheme 'Jwt' trusts its own "
                          "CA file (ca_file), which libcurl reads", err)
            with zipfile.ZipFile(zpath) as z:
                self.assertIn("bin/kumo-host", z.namelist())
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_outbound_service_at_an_address_gets_kumo_host(self):
        """A unit's outbound calls (kumo_http_*) keep kumo-lambda: they go
        through kumo's own client (test_outbound.py LambdaOutboundTest
        runs them). A service at https:// and an IP address gets kumo-host:
        kumo's client checks certificate names only. The build says why."""
        project = copy_project("todo")
        try:
            src = os.path.join(project, "functions", "todos.c")
            with open(src, "a") as f:
                f.write("\n/* an outbound call */\n"
                        "__attribute__((used)) static int todo_ping(kumo_ctx *ctx)\n"
                        "{\n    kumo_http_response *r = NULL;\n    return kumo_http_get(ctx, \"peer\", \"/\", &r);\n}\n")
            os.makedirs(os.path.join(project, "services"))
            with open(os.path.join(project, "services", "peer.yaml"), "w") as f:
                f.write("openapi: 3.0.3\ninfo: {title: peer, version: \"1\"}\npaths: {}\n")
            with open(os.path.join(project, "kumo.yaml"), "a") as f:
                f.write("services:\n  peer: {spec: services/peer.yaml, url: \"https://peer.example/v1\"}\n")
            err, zpath = build_aws(project)
            self.assertNotIn("packaged with kumo-host", err)
            with zipfile.ZipFile(zpath) as z:
                names = z.namelist()
            self.assertNotIn("bin/kumo-host", names)  # kumo-lambda is the bootstrap itself
            self.assertFalse([n for n in names if "libcurl" in n], names)
            with open(os.path.join(project, "kumo.yaml")) as f:
                text = f.read().replace("https://peer.example/v1", "https://10.1.2.3:8443/v1")
            with open(os.path.join(project, "kumo.yaml"), "w") as f:
                f.write(text)
            err, zpath = build_aws(project)
            self.assertIn("unit 'todos' is packaged with kumo-host, not the lean kumo-lambda: service 'peer' is at "
                          "https:// and an IP address (https://10.1.2.3:8443/v1), a certificate libcurl checks", err)
            with zipfile.ZipFile(zpath) as z:
                names = z.namelist()
            self.assertIn("bin/kumo-host", names)
            self.assertIn("lib/libcurl.so.4", names)
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

if __name__ == "__main__":
    unittest.main()
