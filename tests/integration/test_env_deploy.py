"""kumo.yaml's env: on every deploy target (issue 17): plain values in the
generated configuration, secrets only as references (a Kubernetes secret,
Secret Manager, OpenFaaS secrets, NoEcho parameters, Key Vault), never their
values in a file, the plan or the output; deploy.sh computes them and pipes
them, run here with stand-in kubectl/skopeo that record what they get.
Deploy safety: an embedded-default store on a target with several replicas
is refused unless environments.ENV.embedded accepts it. kumo-host reads a
secret mounted as a file (KUMO_ENV_FILE_<NAME>, OpenFaaS)."""
import base64
import json
import os
import pty
import shutil
import subprocess
import tempfile
import unittest
import urllib.request
import zipfile

import yaml

from kumo_harness import KUMO, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
TOKEN = "tok-7d1e0b5a-never-in-a-file"
DB_PASSWORD = "pw-c94f21-never-in-a-file"

KUMO_YAML = """name: envtest
api: openapi.yaml
env:
  GREETING: hello
  SHARED: project
  API_TOKEN: "${env:ENVTEST_TOKEN}"
  MULTI: "${file:secret.txt}"
functions:
  alpha:
    sources: [functions/dump.c]
    cflags: [-DDUMP=dump_alpha]
    env: {SHARED: alpha, ONLY_ALPHA: "yes"}
  beta:
    sources: [functions/dump.c]
    cflags: [-DDUMP=dump_beta]
  crc:
    sources: [functions/crc.c]
    pkg_config: [zlib, expat]
stores:
  kv: [notes]
environments:
  dev: {}
  prod:
    env: {GREETING: prod-hello, DB_URL: "postgres://app:${env:ENVTEST_DB_PASSWORD}@db.internal/app"}
    stores: {notes: "redis://cache.internal:6379/0"}
"""

OPENAPI = """openapi: 3.0.3
info: {title: envtest, version: 1.0.0}
paths:
  /alpha:
    get:
      operationId: dump_alpha
      responses: {'200': {description: env, content: {application/json: {schema: {type: object}}}}}
  /beta:
    get:
      operationId: dump_beta
      responses: {'200': {description: env, content: {application/json: {schema: {type: object}}}}}
  /crc:
    get:
      operationId: crc
      parameters: [{name: s, in: query, required: true, schema: {type: string}}]
      responses: {'200': {description: crc, content: {application/json: {schema: {type: object}}}}}
"""

FAKE_TOOL = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "$FAKE_LOG"
if [ "$1" = apply ] && [ "$3" = - ]; then cat >> "$FAKE_LOG.stdin"; echo --- >> "$FAKE_LOG.stdin"; fi
if [ "$1" = get ]; then echo http://example.test; fi
exit 0
"""


class EnvDeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("envvars", PROJECTS)
        with open(os.path.join(cls.dir, "kumo.yaml"), "w") as f:
            f.write(KUMO_YAML)
        with open(os.path.join(cls.dir, "openapi.yaml"), "w") as f:
            f.write(OPENAPI)
        cls.env = dict(os.environ, ENVTEST_TOKEN=TOKEN, ENVTEST_DB_PASSWORD=DB_PASSWORD,
                       GOOGLE_CLOUD_PROJECT="demo-project", KUMO_REGISTRY="registry.test:5000",
                       AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        cls.outputs = []
        # the image targets share one image per unit: built once for
        # knative, the same layouts serve kubernetes, openfaas and gcp
        cls.deploy("knative", "--env", "prod")
        for t in ("kubernetes", "openfaas", "gcp"):
            shutil.copytree(os.path.join(cls.dir, ".kumo", "build", "knative"),
                            os.path.join(cls.dir, ".kumo", "build", t))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    @classmethod
    def deploy(cls, target, *args, env=None, dry=True):
        r = subprocess.run([KUMO, "deploy", "--target", target, *(["--dry-run"] if dry else []), *args, cls.dir],
                           capture_output=True, text=True, env=env or cls.env, timeout=300)
        cls.outputs.append(r.stdout + r.stderr)
        return r

    def ok(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def file(self, target, name):
        with open(os.path.join(self.dir, ".kumo", "deploy", target, name)) as f:
            return f.read()

    def assertNoSecretAnywhere(self):
        for out in self.outputs:
            self.assertNotIn(TOKEN, out)
            self.assertNotIn(DB_PASSWORD, out)
            self.assertNotIn("line one", out)  # the ${file:} secret's content
        for root, _, files in os.walk(os.path.join(self.dir, ".kumo")):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for s in (TOKEN, DB_PASSWORD):
                    self.assertNotIn(s.encode(), data, os.path.join(root, name))

    @staticmethod
    def env_list(container):
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    def test_knative(self):
        self.ok(self.deploy("knative", "--env", "prod"))
        for unit in ("alpha", "beta"):
            svc = yaml.safe_load(self.file("knative", "service-%s.yaml" % unit))
            env = self.env_list(svc["spec"]["template"]["spec"]["containers"][0])
            self.assertEqual(env["GREETING"], "prod-hello")
            self.assertEqual(env["SHARED"], "alpha" if unit == "alpha" else "project")
            self.assertEqual(env["KUMO_STORE_NOTES"], "redis://cache.internal:6379/0")
            for name in ("API_TOKEN", "MULTI", "DB_URL"):
                self.assertEqual(env[name], {"secretKeyRef": {"name": "kumo-envtest-env",
                                                              "key": "%s.%s" % (unit, name)}})
        self.assertEqual(self.env_list(yaml.safe_load(self.file("knative", "service-alpha.yaml"))
                                       ["spec"]["template"]["spec"]["containers"][0])["ONLY_ALPHA"], "yes")
        self.assertNotIn("ONLY_ALPHA", self.file("knative", "service-beta.yaml"))
        sh = self.file("knative", "deploy.sh")
        self.assertIn('"${ENVTEST_TOKEN}"', sh)
        self.assertIn(': "${ENVTEST_DB_PASSWORD?export ENVTEST_DB_PASSWORD first', sh)
        self.assertNoSecretAnywhere()

    def test_knative_deploy_sh_pipes_the_secret(self):
        """deploy.sh run for real with stand-in kubectl and skopeo: the
        secret reaches kubectl on its stdin, right, and no command line
        (what `ps` shows) holds a value."""
        bin_dir = tempfile.mkdtemp(prefix="kumo-fake-")
        try:
            for tool in ("kubectl", "skopeo"):
                with open(os.path.join(bin_dir, tool), "w") as f:
                    f.write(FAKE_TOOL)
                os.chmod(os.path.join(bin_dir, tool), 0o755)
            log = os.path.join(bin_dir, "log")
            env = dict(self.env, PATH=bin_dir + os.pathsep + os.environ["PATH"], FAKE_LOG=log)
            self.ok(self.deploy("knative", "--env", "prod", env=env, dry=False))
            with open(log) as f:
                argv = f.read()
            with open(log + ".stdin") as f:
                docs = [d for d in yaml.safe_load_all(f.read()) if d]
            self.assertIn("kubectl apply -f -", argv)
            self.assertNotIn(TOKEN, argv)
            self.assertNotIn(DB_PASSWORD, argv)
            secret = [d for d in docs if d.get("kind") == "Secret"][0]
            self.assertEqual(secret["metadata"]["name"], "kumo-envtest-env")
            data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
            self.assertEqual(data["alpha.API_TOKEN"], TOKEN)
            self.assertEqual(data["beta.API_TOKEN"], TOKEN)
            self.assertEqual(data["alpha.MULTI"], "line one\nline two")
            self.assertEqual(data["alpha.DB_URL"], "postgres://app:%s@db.internal/app" % DB_PASSWORD)
        finally:
            shutil.rmtree(bin_dir, ignore_errors=True)

    def test_kubernetes_store_secret_piped(self):
        """A store URL with a password reaches kubectl on its stdin, in the
        Secret manifest, never on a command line."""
        bin_dir = tempfile.mkdtemp(prefix="kumo-fake-")
        try:
            for tool in ("kubectl", "skopeo"):
                with open(os.path.join(bin_dir, tool), "w") as f:
                    f.write(FAKE_TOOL)
                os.chmod(os.path.join(bin_dir, tool), 0o755)
            log = os.path.join(bin_dir, "log")
            url = "redis://:%s@cache.internal:6379/0" % DB_PASSWORD
            env = dict(self.env, PATH=bin_dir + os.pathsep + os.environ["PATH"], FAKE_LOG=log,
                       KUMO_STORE_NOTES=url)
            # kumo.yaml's URL has a password: deploy.sh takes it from the
            # deployer's environment (KUMO_STORE_NOTES) as a secret
            path = os.path.join(self.dir, "kumo.yaml")
            with open(path, "w") as f:
                f.write(KUMO_YAML.replace("redis://cache.internal", "redis://:placeholder@cache.internal"))
            try:
                self.ok(self.deploy("kubernetes", "--env", "prod", env=env, dry=False))
            finally:
                with open(path, "w") as f:
                    f.write(KUMO_YAML)
            with open(log) as f:
                argv = f.read()
            with open(log + ".stdin") as f:
                docs = [d for d in yaml.safe_load_all(f.read()) if d]
            self.assertNotIn(DB_PASSWORD, argv)
            secret = [d for d in docs if d.get("kind") == "Secret" and d["metadata"]["name"] == "kumo-envtest-stores"]
            self.assertEqual(len(secret), 1, docs)
            self.assertEqual(base64.b64decode(secret[0]["data"]["KUMO_STORE_NOTES"]).decode(), url)
        finally:
            shutil.rmtree(bin_dir, ignore_errors=True)

    def test_kubernetes(self):
        self.ok(self.deploy("kubernetes", "--env", "prod"))
        docs = list(yaml.safe_load_all(self.file("kubernetes", "alpha.yaml")))
        dep = [d for d in docs if d["kind"] == "Deployment"][0]
        env = self.env_list(dep["spec"]["template"]["spec"]["containers"][0])
        self.assertEqual(env["GREETING"], "prod-hello")
        self.assertEqual(env["API_TOKEN"], {"secretKeyRef": {"name": "kumo-envtest-env", "key": "alpha.API_TOKEN"}})
        self.assertIn("} | kubectl apply -f -", self.file("kubernetes", "deploy.sh"))
        self.assertNoSecretAnywhere()

    def test_openfaas(self):
        self.ok(self.deploy("openfaas", "--env", "prod"))
        stack = yaml.safe_load(self.file("openfaas", "stack.yml"))
        fn = stack["functions"]["envtest-alpha"]
        self.assertEqual(fn["environment"]["GREETING"], "prod-hello")
        self.assertEqual(fn["environment"]["ONLY_ALPHA"], "yes")
        self.assertEqual(fn["environment"]["KUMO_ENV_FILE_API_TOKEN"],
                         "/var/openfaas/secrets/kumo-envtest-env-alpha-api-token")
        self.assertNotIn("API_TOKEN", fn["environment"])
        self.assertIn("kumo-envtest-env-alpha-api-token", fn["secrets"])
        self.assertNotIn("ONLY_ALPHA", stack["functions"]["envtest-beta"]["environment"])
        self.assertIn('printf %s "${ENVTEST_TOKEN}" | faas-cli secret create kumo-envtest-env-alpha-api-token',
                      self.file("openfaas", "deploy.sh"))
        self.assertNoSecretAnywhere()

    def test_gcp(self):
        self.ok(self.deploy("gcp", "--env", "prod"))
        svc = yaml.safe_load(self.file("gcp", "service-alpha.yaml"))
        env = self.env_list(svc["spec"]["template"]["spec"]["containers"][0])
        self.assertEqual(env["GREETING"], "prod-hello")
        self.assertEqual(env["API_TOKEN"], {"secretKeyRef": {"name": "kumo-envtest-env-alpha-API_TOKEN",
                                                             "key": "latest"}})
        sh = self.file("gcp", "deploy.sh")
        self.assertIn('printf %s "${ENVTEST_TOKEN}" | gcloud secrets versions add kumo-envtest-env-alpha-API_TOKEN '
                      '--data-file=-', sh)
        self.assertIn("secretmanager.googleapis.com", sh)
        self.assertNoSecretAnywhere()

    def test_aws(self):
        r = self.ok(self.deploy("aws", "--env", "prod"))
        self.assertIn("EnvAlphaApiToken=(NoEcho: env API_TOKEN = ${env:ENVTEST_TOKEN})", r.stdout)
        tpl = json.loads(self.file("aws", "template.json"))
        variables = tpl["Resources"]["FunctionAlpha"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["GREETING"], "prod-hello")
        self.assertEqual(variables["ONLY_ALPHA"], "yes")
        self.assertEqual(variables["API_TOKEN"], {"Ref": "EnvAlphaApiToken"})
        self.assertEqual(variables["DB_URL"], {"Ref": "EnvAlphaDbUrl"})
        self.assertTrue(tpl["Parameters"]["EnvAlphaApiToken"]["NoEcho"])
        self.assertNotIn("ONLY_ALPHA", tpl["Resources"]["FunctionBeta"]["Properties"]["Environment"]["Variables"])
        # the unit's own library (pkg_config: [expat]) travels in its package; kumo-host does not link it
        with zipfile.ZipFile(os.path.join(self.dir, ".kumo", "build", "aws", "crc.zip")) as z:
            names = z.namelist()
        self.assertTrue([n for n in names if n.startswith("lib/libexpat.so")], names)
        self.assertNoSecretAnywhere()

    def test_azure_secrets_reach_az_on_stdin(self):
        """deploy.sh for azure run with a stand-in az: the secret parameters
        (an env: secret, a store URL with a password) reach az in the
        parameters document on its stdin, never on a command line."""
        bin_dir = tempfile.mkdtemp(prefix="kumo-fake-")
        path = os.path.join(self.dir, "kumo.yaml")
        try:
            with open(os.path.join(bin_dir, "az"), "w") as f:
                f.write("#!/bin/sh\nprintf '%s\\n' \"az $*\" >> \"$FAKE_LOG\"\n"
                        "case \"$*\" in *@/dev/stdin*) cat > \"$FAKE_LOG.stdin\" ;; esac\nexit 0\n")
            os.chmod(os.path.join(bin_dir, "az"), 0o755)
            log = os.path.join(bin_dir, "log")
            url = "redis://:%s@cache.internal:6379/0" % DB_PASSWORD
            env = dict(self.env, PATH=bin_dir + os.pathsep + os.environ["PATH"], FAKE_LOG=log, KUMO_STORE_NOTES=url)
            # one function app: the same env: for every function
            with open(path, "w") as f:
                f.write(KUMO_YAML.replace('    env: {SHARED: alpha, ONLY_ALPHA: "yes"}\n', "")
                        .replace("redis://cache.internal", "redis://:placeholder@cache.internal"))
            self.ok(self.deploy("azure", "--env", "prod", env=env, dry=False))
            with open(log) as f:
                argv = f.read()
            with open(log + ".stdin") as f:
                params = json.load(f)["parameters"]
            self.assertIn("az deployment group create", argv)
            self.assertNotIn(DB_PASSWORD, argv)
            self.assertNotIn(TOKEN, argv)
            values = {v["value"] for v in params.values()}
            self.assertIn(url, values)
            self.assertIn(TOKEN, values)
            self.assertIn("line one\nline two", values)
            self.assertIn("postgres://app:%s@db.internal/app" % DB_PASSWORD, values)
        finally:
            with open(path, "w") as f:
                f.write(KUMO_YAML)
            shutil.rmtree(bin_dir, ignore_errors=True)

    def test_azure_refuses_env_differing_per_function(self):
        r = self.deploy("azure", "--env", "prod")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("kumo.yaml:12:19: env SHARED differs between functions alpha and beta", r.stderr)
        self.assertIn("one function app", r.stderr)

    def test_embedded_store_refused_then_accepted(self):
        r = self.deploy("knative")  # dev: the store is not placed
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("store 'notes' has no URL in environment 'dev'", r.stderr)
        self.assertIn("environments.dev.embedded: [notes]", r.stderr)
        path = os.path.join(self.dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        mtime = os.stat(path).st_mtime
        try:
            with open(path, "w") as f:
                f.write(text.replace("  dev: {}", "  dev: {embedded: [notes]}"))
            os.utime(path, (mtime, mtime))  # the images built for prod serve: no rebuild
            r = self.ok(self.deploy("knative"))
            self.assertIn("store 'notes' keeps its embedded default", r.stdout)
        finally:
            with open(path, "w") as f:
                f.write(text)
            os.utime(path, (mtime, mtime))

    def test_destroy_asks_before_deleting_data(self):
        """aws: the dev environment keeps store notes in the stack (a
        DynamoDB table): destroy lists it and, without a terminal, needs
        --yes or --keep-data; --dry-run says what would go."""
        env = dict(self.env, AWS_ENDPOINT_URL="http://127.0.0.1:9")
        r = subprocess.run([KUMO, "destroy", "--target", "aws", "--endpoint-url", "http://127.0.0.1:9", self.dir],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("kv store 'notes': its DynamoDB table", r.stderr)
        self.assertIn("--yes", r.stderr)
        self.assertIn("nothing was deleted", r.stderr)
        # on a terminal it asks; anything but y or k stops, deleting nothing
        master, slave = pty.openpty()
        try:
            os.write(master, b"n\n")
            q = subprocess.run([KUMO, "destroy", "--target", "aws", "--endpoint-url", "http://127.0.0.1:9", self.dir],
                               stdin=slave, capture_output=True, text=True, env=env, timeout=60)
        finally:
            os.close(master)
            os.close(slave)
        self.assertEqual(q.returncode, 1, q.stderr)
        self.assertIn("delete it [y], keep it [k], or stop [N]?", q.stderr)
        self.assertIn("stopped: nothing was deleted", q.stderr)
        r = subprocess.run([KUMO, "destroy", "--target", "aws", "--dry-run", self.dir],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dry run: nothing is sent to AWS. kumo destroy would:", r.stdout)
        self.assertIn("kv store 'notes': its DynamoDB table", r.stdout)
        r = subprocess.run([KUMO, "destroy", "--target", "aws", "--keep-data", "--dry-run", self.dir],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("so that its data stores are retained (DeletionPolicy Retain)", r.stdout)
        self.assertIn("keeping these data stores", r.stdout)
        # prod places the store on redis: nothing of the stack's holds data
        r = subprocess.run([KUMO, "destroy", "--target", "aws", "--env", "prod", "--dry-run", self.dir],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertNotIn("store 'notes'", r.stdout)
        # the cluster targets delete no data: no question; the dry run prints destroy.sh
        r = subprocess.run([KUMO, "destroy", "--target", "knative", "--env", "prod", "--dry-run", self.dir],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kubectl delete secret kumo-envtest-env --ignore-not-found", r.stdout)
        # azure: the resource group goes, unless the data is kept
        r = subprocess.run([KUMO, "destroy", "--target", "azure", "--dry-run", "--keep-data", self.dir],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("# kept: the resource group kumo-envtest and its storage account", r.stdout)
        self.assertNotIn("az group delete", r.stdout)
        r = subprocess.run([KUMO, "destroy", "--target", "azure", self.dir],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the resource group of 'envtest'", r.stderr)

    def test_host_reads_secret_files(self):
        """What OpenFaaS mounts: KUMO_ENV_FILE_API_TOKEN names the file."""
        d = tempfile.mkdtemp(prefix="kumo-envfile-")
        secret = os.path.join(d, "token")
        with open(secret, "w") as f:
            f.write(TOKEN + "\n")
        port = free_port()
        log = open(os.path.join(d, "host.log"), "w+")
        env = {k: v for k, v in self.env.items() if k != "ENVTEST_TOKEN"}
        env.update(PORT=str(port), KUMO_DATA=d, KUMO_ENV_FILE_API_TOKEN=secret, API_TOKEN="")
        proc = subprocess.Popen([HOST, "http", self.dir, "alpha"], stdout=log, stderr=log, env=env)
        try:
            def get():
                if proc.poll() is not None:
                    return True
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/alpha" % port, timeout=5) as r:
                        return json.loads(r.read())
                except OSError:
                    return None
            got = wait_for(get, timeout=30)
            log.seek(0)
            self.assertIsInstance(got, dict, log.read())
            self.assertEqual(got["API_TOKEN"], TOKEN)
            self.assertNotIn("KUMO_ENV_FILE_API_TOKEN", got)
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
