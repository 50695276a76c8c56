"""kumo deploy --target aws, end to end against moto's server.

moto_server (every AWS service on one loopback port, moto's dummy
credentials, nothing reaches AWS) plays AWS. The test copies
examples/todo, and:

  - `kumo deploy --dry-run` writes template.json without calling anything
    (credentials unset, endpoint on a closed port); cfn-lint finds no error
    in it; its REST API Body is OpenAPI 3.0 without x-kumo-* keys, with an
    aws_proxy integration on every operation, and imports through moto's
    API Gateway importer with every path of the spec;
  - `kumo deploy --endpoint-url` reaches CREATE_COMPLETE, and the aws CLI
    finds the function (runtime, handler, memory, store URLs), the REST API
    with every path and method of the spec integrated with the function, the
    DynamoDB table with the key schema the driver uses, the queues and
    buckets; that template passes cfn-lint too;
  - a unit's memory changed in kumo.yaml: the second deploy is
    UPDATE_COMPLETE and the function has the new memory; a third deploy
    with nothing changed succeeds;
  - `kumo destroy` reaches DELETE_COMPLETE and leaves no function, table,
    queue, bucket or stack;
  - a store URL with a password in an environment becomes a NoEcho
    parameter: the password is in neither template.json nor the output.

moto's CloudFormation ignores a RestApi's Body (moto 5.2: the RestApi is
made from Name and Description), so against moto kumo writes the same routes
as AWS::ApiGateway::Resource/Method resources (it says so); the Body form,
which real AWS gets, is checked by cfn-lint and moto's importer instead.
moto has no AWS::ApiGateway::Stage (skipped with a warning), and does not
delete a RestApi when its stack is deleted.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import yaml

from kumo_harness import KUMO, copy_project, free_port

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def spec_routes(project):
    with open(os.path.join(project, "openapi.yaml")) as f:
        doc = yaml.safe_load(f)
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m in METHODS}


# moto_server, with one moto bug worked around (moto 5.x): a stack update
# that keeps a bucket with Tags but no BucketName (CloudFormation names it)
# fails in FakeBucket.update_from_cloudformation_json, which reads
# Properties.BucketName to tag it. The bucket's own name is given there, as
# CloudFormation itself would keep it. kumo destroy --keep-data's update
# (only DeletionPolicy changes) meets it.
MOTO_SERVER = """
import sys
from moto.s3.models import FakeBucket
_update = FakeBucket.update_from_cloudformation_json.__func__
def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    cloudformation_json.setdefault("Properties", {}).setdefault("BucketName", original_resource.name)
    return _update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
FakeBucket.update_from_cloudformation_json = classmethod(update)
from moto.server import main
main(sys.argv[1:])
"""


class DeployAwsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-deploy-aws-")
        cls.port = free_port()
        cls.endpoint = "http://127.0.0.1:%d" % cls.port
        cls.env = dict(os.environ)
        for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
            cls.env.pop(k, None)
        cls.env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                       AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
                       AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        cls.moto_log = open(os.path.join(cls.tmp, "moto.log"), "w")
        cls.moto = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, "-H", "127.0.0.1", "-p", str(cls.port)],
                                    stdout=cls.moto_log, stderr=subprocess.STDOUT, env=cls.env)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(cls.endpoint + "/moto-api/", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or cls.moto.poll() is not None:
                    cls.tearDownClass()
                    raise RuntimeError("moto_server did not start; see %s/moto.log" % cls.tmp)
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        if cls.moto.poll() is None:
            cls.moto.send_signal(signal.SIGTERM)
            try:
                cls.moto.wait(10)
            except subprocess.TimeoutExpired:
                cls.moto.kill()
                cls.moto.wait()
        cls.moto_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kumo(self, *args, env=None, check=True):
        p = subprocess.run([KUMO, *args], capture_output=True, text=True, env=env or self.env, timeout=180)
        if check and p.returncode != 0:
            self.fail("kumo %s: exit %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def aws(self, *args):
        p = subprocess.run(["aws", "--endpoint-url", self.endpoint, "--output", "json", *args],
                           capture_output=True, text=True, env=self.env, timeout=60)
        if p.returncode != 0:
            self.fail("aws %s: %s" % (" ".join(args), p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def cfn_lint(self, path):
        p = subprocess.run(["cfn-lint", path], capture_output=True, text=True, timeout=120)
        # cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational.
        self.assertEqual(p.returncode & 2, 0, "cfn-lint found errors in %s:\n%s" % (path, p.stdout))
        return p

    def project(self):
        src = copy_project("todo")
        dst = os.path.join(self.tmp, "p%d" % len(os.listdir(self.tmp)), "todo")
        shutil.move(os.path.dirname(src), os.path.dirname(dst))
        return dst

    def test_dry_run_template(self):
        proj = self.project()
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}
        dead = "http://127.0.0.1:%d" % free_port()
        p = self.kumo("deploy", "--target", "aws", "--dry-run", "--endpoint-url", dead, proj, env=env)
        self.assertIn("dry run: nothing is sent to AWS", p.stdout)
        self.assertIn("kumo-todo-ACCOUNT-us-east-1", p.stdout)
        path = os.path.join(proj, ".kumo", "deploy", "aws", "template.json")
        self.cfn_lint(path)
        with open(path) as f:
            tpl = json.load(f)
        body = tpl["Resources"]["Api"]["Properties"]["Body"]
        self.assertTrue(body["openapi"].startswith("3.0"))
        self.assertNotIn("x-kumo", json.dumps(body))
        routes = spec_routes(proj)
        got = set()
        for path_, item in body["paths"].items():
            for m, op in item.items():
                if m not in METHODS:
                    continue
                got.add((m.upper(), path_))
                integ = op["x-amazon-apigateway-integration"]
                self.assertEqual(integ["type"], "aws_proxy")
                self.assertEqual(integ["httpMethod"], "POST")
                self.assertIn("/functions/${FunctionTodos.Arn}/invocations", integ["uri"]["Fn::Sub"])
        self.assertEqual(got, routes)

        # The Body imports through moto's API Gateway importer, with
        # CloudFormation's intrinsic in the uri replaced by what it resolves
        # to, and path-level parameters copied into the operations: moto's
        # importer (5.2) takes every key of a path item for a method, where
        # API Gateway reads path-level parameters as OpenAPI defines them.
        arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/" \
              "arn:aws:lambda:us-east-1:123456789012:function:todo-todos/invocations"
        for item in body["paths"].values():
            shared = item.pop("parameters", [])
            for m in METHODS:
                if m in item:
                    item[m]["parameters"] = shared + item[m].get("parameters", [])
        text = json.dumps(body)
        text = re.sub(r'\{"Fn::Sub": "arn:\$\{AWS::Partition\}:apigateway[^"]*"\}', json.dumps(arn), text)
        body_file = os.path.join(self.tmp, "body.json")
        with open(body_file, "w") as f:
            f.write(text)
        api = self.aws("apigateway", "import-rest-api", "--body", "fileb://" + body_file)
        resources = self.aws("apigateway", "get-resources", "--rest-api-id", api["id"])["items"]
        imported = {(m, r["path"]) for r in resources for m in r.get("resourceMethods", {})}
        self.assertEqual(imported, routes)
        self.aws("apigateway", "delete-rest-api", "--rest-api-id", api["id"])

    def test_secret_store_url_is_noecho(self):
        proj = self.project()
        with open(os.path.join(proj, "kumo.yaml"), "a") as f:
            f.write("environments:\n  prod:\n    target: aws\n    stores:\n"
                    "      todos: \"redis://app:Sup3rSecretPw@cache.internal:6379/0\"\n")
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}
        p = self.kumo("deploy", "--target", "aws", "--dry-run", "--env", "prod", proj, env=env)
        path = os.path.join(proj, ".kumo", "deploy", "aws", "template.json")
        with open(path) as f:
            text = f.read()
        self.assertNotIn("Sup3rSecretPw", text)
        self.assertNotIn("Sup3rSecretPw", p.stdout + p.stderr)
        tpl = json.loads(text)
        self.assertTrue(tpl["Parameters"]["StoreUrlTodos"]["NoEcho"])
        self.assertNotIn("TableTodos", tpl["Resources"])
        self.assertIn("StoreUrlTodos=(NoEcho", p.stdout)
        self.cfn_lint(path)

    def test_deploy_update_destroy(self):
        proj = self.project()
        routes = spec_routes(proj)
        t0 = time.time()
        p = self.kumo("deploy", "--target", "aws", "--endpoint-url", self.endpoint, proj)
        seconds = time.time() - t0
        sys.stderr.write("\ndeploy time against moto: %.1f s (kumo deploy --target aws --endpoint-url %s)\n"
                         % (seconds, self.endpoint))
        self.assertIn("stack todo: CREATE_COMPLETE", p.stdout, p.stdout + p.stderr)
        self.assertIn("CREATE_COMPLETE", p.stdout)
        self.assertRegex(p.stdout, r"API: https://\w+\.execute-api\.us-east-1\.amazonaws\.com/prod")
        self.assertIn("the endpoint is moto", p.stdout)
        self.cfn_lint(os.path.join(proj, ".kumo", "deploy", "aws", "template.json"))

        fns = self.aws("lambda", "list-functions")["Functions"]
        self.assertEqual([f["FunctionName"] for f in fns], ["todo-todos"])
        fn = fns[0]
        self.assertEqual(fn["Runtime"], "provided.al2023")
        self.assertEqual(fn["Handler"], "bootstrap")
        self.assertEqual(fn["MemorySize"], 128)
        self.assertEqual(fn["Timeout"], 10)
        conf = self.aws("lambda", "get-function-configuration", "--function-name", "todo-todos")
        variables = conf["Environment"]["Variables"]

        tables = self.aws("dynamodb", "list-tables")["TableNames"]
        self.assertEqual(len(tables), 1)
        table = self.aws("dynamodb", "describe-table", "--table-name", tables[0])["Table"]
        self.assertEqual([(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]],
                         [("pk", "HASH"), ("sk", "RANGE")])
        self.assertEqual(variables["KUMO_STORE_TODOS"],
                         "dynamodb://%s?region=us-east-1&create=false" % tables[0])
        queues = self.aws("sqs", "list-queues")["QueueUrls"]
        self.assertEqual(len(queues), 2)
        main = [q for q in queues if "DeadLetter" not in q]
        self.assertEqual(variables["KUMO_STORE_NOTIFICATIONS"],
                         "sqs://%s?region=us-east-1&create=false" % main[0].rsplit("/", 1)[1])
        buckets = {b["Name"] for b in self.aws("s3api", "list-buckets")["Buckets"]}
        self.assertIn("kumo-todo-123456789012-us-east-1", buckets)
        attachments = variables["KUMO_STORE_ATTACHMENTS"]
        self.assertIn(attachments[len("s3://"):].split("?")[0], buckets)

        apis = self.aws("apigateway", "get-rest-apis")["items"]
        self.assertEqual([a["name"] for a in apis], ["todo"])
        resources = self.aws("apigateway", "get-resources", "--rest-api-id", apis[0]["id"])["items"]
        deployed = {(m, r["path"]) for r in resources for m in r.get("resourceMethods", {})}
        self.assertEqual(deployed, routes)
        # One integration read back (each aws CLI call costs a second or two).
        r = [r for r in resources if r["path"] == "/todos/{id}"][0]
        integ = self.aws("apigateway", "get-integration", "--rest-api-id", apis[0]["id"],
                         "--resource-id", r["id"], "--http-method", "PATCH")
        self.assertEqual(integ["type"], "AWS_PROXY")
        self.assertEqual(integ["httpMethod"], "POST")
        self.assertIn(fn["FunctionArn"], integ["uri"])
        self.assertEqual(len(self.aws("apigateway", "get-deployments", "--rest-api-id", apis[0]["id"])["items"]), 1)

        # A change: the unit's memory.
        path = os.path.join(proj, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        self.assertIn("max_body: 8Mi}", text)
        with open(path, "w") as f:
            f.write(text.replace("max_body: 8Mi}", "max_body: 8Mi, memory: 256Mi}"))
        p = self.kumo("deploy", "--target", "aws", "--endpoint-url", self.endpoint, proj)
        self.assertIn("updating stack todo", p.stdout)
        self.assertIn("stack todo: UPDATE_COMPLETE", p.stdout, p.stdout + p.stderr)
        conf = self.aws("lambda", "get-function-configuration", "--function-name", "todo-todos")
        self.assertEqual(conf["MemorySize"], 256)
        self.assertEqual(self.aws("dynamodb", "list-tables")["TableNames"], tables)

        # Nothing changed: nothing uploaded, still a success.
        p = self.kumo("deploy", "--target", "aws", "--endpoint-url", self.endpoint, proj)
        self.assertIn("is there already", p.stdout)
        self.assertNotIn("uploaded", p.stdout)

        p = self.kumo("destroy", "--target", "aws", "--yes", "--endpoint-url", self.endpoint, proj)
        self.assertIn("stack todo: DELETE_COMPLETE", p.stdout, p.stdout + p.stderr)
        self.assertIn("deleted artifacts bucket kumo-todo-123456789012-us-east-1", p.stdout)
        self.assertEqual(self.aws("lambda", "list-functions")["Functions"], [])
        self.assertEqual(self.aws("dynamodb", "list-tables")["TableNames"], [])
        self.assertEqual(self.aws("sqs", "list-queues").get("QueueUrls", []), [])
        self.assertEqual(self.aws("s3api", "list-buckets")["Buckets"], [])
        # Not asserted: the RestApi is gone. moto (5.2) deletes a stack's
        # other resources but not its RestApi (RestAPI has no
        # delete_from_cloudformation_json); CloudFormation deletes it.
        stacks = self.aws("cloudformation", "describe-stacks")["Stacks"]
        self.assertEqual([s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"], [])

        # Destroying again is not an error.
        p = self.kumo("destroy", "--target", "aws", "--yes", "--endpoint-url", self.endpoint, proj)
        self.assertIn("stack todo does not exist", p.stdout)


    def test_destroy_keep_data(self):
        # a stack of its own (moto is shared with the test above)
        proj = self.project()
        p = self.kumo("deploy", "--target", "aws", "--stack", "keepme", "--endpoint-url", self.endpoint, proj)
        self.assertIn("stack keepme: CREATE_COMPLETE", p.stdout, p.stdout + p.stderr)
        conf = self.aws("lambda", "get-function-configuration", "--function-name", "keepme-todos")
        table = conf["Environment"]["Variables"]["KUMO_STORE_TODOS"][len("dynamodb://"):].split("?")[0]
        bucket = conf["Environment"]["Variables"]["KUMO_STORE_ATTACHMENTS"][len("s3://"):].split("?")[0]
        self.aws("dynamodb", "put-item", "--table-name", table, "--item",
                 json.dumps({"pk": {"S": "kept"}, "sk": {"B": "a2VwdA=="}}))
        self.aws("s3api", "put-object", "--bucket", bucket, "--key", "kept.txt")

        p = self.kumo("destroy", "--target", "aws", "--stack", "keepme", "--keep-data", "--dry-run",
                      "--endpoint-url", self.endpoint, proj)
        self.assertIn("so that its data stores are retained", p.stdout)
        p = self.kumo("destroy", "--target", "aws", "--stack", "keepme", "--keep-data",
                      "--endpoint-url", self.endpoint, proj)
        self.assertIn("stack keepme: DELETE_COMPLETE", p.stdout, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"keeping AWS::DynamoDB::Table +\w+")
        self.assertIn("kept 4 data store resources", p.stdout)
        # the functions are gone, the data is there
        names = [f["FunctionName"] for f in self.aws("lambda", "list-functions")["Functions"]]
        self.assertNotIn("keepme-todos", names)
        item = self.aws("dynamodb", "get-item", "--table-name", table, "--key",
                        json.dumps({"pk": {"S": "kept"}, "sk": {"B": "a2VwdA=="}}))
        self.assertIn("Item", item)
        objects = self.aws("s3api", "list-objects-v2", "--bucket", bucket).get("Contents", [])
        self.assertEqual([o["Key"] for o in objects], ["kept.txt"])
        queues = self.aws("sqs", "list-queues").get("QueueUrls", [])
        self.assertEqual(len([q for q in queues if "keepme" in q]), 2, queues)
        # tidy moto for whatever runs next
        self.aws("dynamodb", "delete-table", "--table-name", table)
        self.aws("s3api", "delete-object", "--bucket", bucket, "--key", "kept.txt")
        self.aws("s3api", "delete-bucket", "--bucket", bucket)
        for q in queues:
            if "keepme" in q:
                self.aws("sqs", "delete-queue", "--queue-url", q)

if __name__ == "__main__":
    unittest.main()
