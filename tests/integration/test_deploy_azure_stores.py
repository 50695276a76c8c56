"""kumo deploy --target azure provisions the stores the environment places
nowhere (issue 18): for examples/todo, a table, a container and a queue
with its poison queue in the template's storage account, the function
app's system-assigned identity granted only the storage data roles those
need, scoped to the account, and the stores' URLs as app settings. The
template is checked by a small offline lint (no ARM linter or
deploymentTemplate schema can be installed here): every expression names
parameters and variables the template defines, every dependsOn names a
resource of the template, role assignment names are unique. A store URL
with a password stays a securestring parameter and is in no file; a topic
store (no Azure topic driver yet) keeps today's refusal; kumo destroy asks
first, and --keep-data removes only the identity's role assignments."""
import json
import os
import re
import shutil
import subprocess
import unittest

from kumo_harness import KUMO, copy_project

PASSWORD = "pw-a1c7-never-in-a-file"
ROLES = {
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "8a0f0c08-91a1-4084-bc3d-661d67233fed": "Storage Queue Data Message Processor",
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": "Storage Queue Data Message Sender",
}
ENVIRONMENTS = """
environments:
  prod:
    stores: {todos: "redis://:%s@cache.internal:6379/0"}
""" % PASSWORD


def lint(tmpl):
    """What an ARM linter would say first: undefined names, dangling
    dependsOn, duplicate names. Returns a list of problems."""
    problems = []
    params, variables = set(tmpl.get("parameters", {})), set(tmpl.get("variables", {}))
    for key in ("$schema", "contentVersion", "resources"):
        if key not in tmpl:
            problems.append("no " + key)
    types = {r.get("type") for r in tmpl["resources"]}
    names = set()

    def walk(v, where):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, where + "." + k)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, "%s[%d]" % (where, i))
        elif isinstance(v, str) and v.startswith("[") and not v.startswith("[["):
            if not v.endswith("]") or v.count("(") != v.count(")"):
                problems.append("%s: unbalanced expression %s" % (where, v))
            for p in re.findall(r"parameters\('([^']*)'\)", v):
                if p not in params:
                    problems.append("%s: parameters('%s') is not defined" % (where, p))
            for p in re.findall(r"variables\('([^']*)'\)", v):
                if p not in variables:
                    problems.append("%s: variables('%s') is not defined" % (where, p))
    walk(tmpl, "$")
    for r in tmpl["resources"]:
        for k in ("type", "apiVersion", "name"):
            if k not in r:
                problems.append("a resource has no %s: %s" % (k, r))
        key = (r.get("type"), r.get("name"))
        if key in names:
            problems.append("two resources %s" % (key,))
        names.add(key)
        for d in r.get("dependsOn", []):
            m = re.match(r"\[resourceId\('([^']*)'", d)
            if not m or m.group(1) not in types:
                problems.append("%s depends on %s, which the template does not make" % (r.get("type"), d))
    return problems


class AzureStoresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("todo")
        with open(os.path.join(cls.dir, "kumo.yaml"), "a") as f:
            f.write(ENVIRONMENTS)
        cls.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        cls.out = os.path.join(cls.dir, ".kumo", "deploy", "azure")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def kumo(self, *args, env=None, project=None):
        return subprocess.run([KUMO, *args, project or self.dir], capture_output=True, text=True,
                              env=env or self.env, timeout=300, stdin=subprocess.DEVNULL)

    def template(self):
        with open(os.path.join(self.out, "azuredeploy.json")) as f:
            return json.load(f)

    def settings(self, tmpl):
        site = [r for r in tmpl["resources"] if r["type"] == "Microsoft.Web/sites"][0]
        return site, {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}

    def test_template_provisions_and_grants_only_data_roles(self):
        r = self.kumo("deploy", "--target", "azure", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        tmpl = self.template()
        self.assertEqual(lint(tmpl), [])
        made = {(x["type"].split("/")[-1], x["name"]) for x in tmpl["resources"] if "/default/" in x["name"]}
        self.assertEqual(made, {
            ("tables", "[concat(variables('storageName'), '/default/todos')]"),
            ("containers", "[concat(variables('storageName'), '/default/attachments')]"),
            ("queues", "[concat(variables('storageName'), '/default/notifications')]"),
            ("queues", "[concat(variables('storageName'), '/default/notifications-poison')]")})
        site, settings = self.settings(tmpl)
        self.assertEqual(site["identity"], {"type": "SystemAssigned"})
        self.assertEqual(settings["KUMO_STORE_TODOS"],
                         "[concat('aztable://', variables('storageName'), '/todos?create=false')]")
        self.assertEqual(settings["KUMO_STORE_ATTACHMENTS"],
                         "[concat('azblob://', variables('storageName'), '/attachments?create=false')]")
        self.assertEqual(settings["KUMO_STORE_NOTIFICATIONS"],
                         "[concat('azqueue://', variables('storageName'), "
                         "'/notifications?max_receives=5&create=false')]")
        grants = [x for x in tmpl["resources"] if x["type"] == "Microsoft.Authorization/roleAssignments"]
        got = sorted(g["properties"]["roleDefinitionId"].split("'")[-2] for g in grants)
        self.assertEqual(got, sorted(ROLES))  # exactly these four, no Owner/Contributor
        for g in grants:
            self.assertEqual(g["scope"], "[concat('Microsoft.Storage/storageAccounts/', variables('storageName'))]")
            self.assertIn("resourceId('Microsoft.Web/sites', variables('appName'))", g["properties"]["principalId"])
            self.assertIn(".identity.principalId", g["properties"]["principalId"])
            self.assertEqual(g["properties"]["principalType"], "ServicePrincipal")
        # the queue trigger of an event would read the same queue: same name as the store's
        self.assertNotIn("no Azure Storage queue driver", r.stdout)
        self.assertEqual(subprocess.run(["bash", "-n", os.path.join(self.out, "deploy.sh")]).returncode, 0)
        # the dry run lists what the template creates, under its path
        self.assertRegex(r.stdout, r"azuredeploy\.json\n(    .*\n)*    Microsoft\.Storage/storageAccounts/tableServices/"
                                   r"tables +\[concat\(variables\('storageName'\), '/default/todos'\)\]")

    def test_a_secret_store_stays_a_securestring(self):
        env = dict(self.env, KUMO_STORE_TODOS="redis://:%s@cache.internal:6379/0" % PASSWORD)
        r = self.kumo("deploy", "--target", "azure", "--dry-run", "--env", "prod", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        tmpl = self.template()
        self.assertEqual(lint(tmpl), [])
        _, settings = self.settings(tmpl)
        self.assertEqual(settings["KUMO_STORE_TODOS"], "[parameters('kumoStoreTodos')]")
        self.assertEqual(tmpl["parameters"]["kumoStoreTodos"]["type"], "securestring")
        self.assertNotIn("tables", {x["type"].split("/")[-1] for x in tmpl["resources"]})
        roles = {g["properties"]["roleDefinitionId"].split("'")[-2] for g in tmpl["resources"]
                 if g["type"] == "Microsoft.Authorization/roleAssignments"}
        self.assertNotIn("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", roles)  # no table: no table role
        for name in os.listdir(self.out):
            with open(os.path.join(self.out, name), errors="replace") as f:
                self.assertNotIn(PASSWORD, f.read(), name)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)

    def test_a_topic_store_is_still_refused(self):
        root = os.path.dirname(self.dir)
        other = os.path.join(root, "topics")
        shutil.copytree(self.dir, other, ignore=shutil.ignore_patterns(".kumo"))
        path = os.path.join(other, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("queue: [notifications]}", "queue: [notifications], topic: [news]}"))
        r = self.kumo("deploy", "--target", "azure", "--dry-run", project=other)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("store 'news' has no URL", r.stderr)

    def test_destroy_asks_and_keep_data_drops_only_the_roles(self):
        r = self.kumo("destroy", "--target", "azure")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("the tables, containers and queues of the stores deploy made there", r.stderr)
        self.assertIn("--keep-data", r.stderr)
        r = self.kumo("destroy", "--target", "azure", "--dry-run", "--keep-data")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.out, "destroy.sh")) as f:
            sh = f.read()
        self.assertIn("az role assignment delete --ids", sh)
        self.assertNotIn("az group delete", sh)
        self.assertNotIn("Microsoft.Storage/storageAccounts", sh)
        r = self.kumo("destroy", "--target", "azure", "--dry-run")
        with open(os.path.join(self.out, "destroy.sh")) as f:
            self.assertIn("az group delete --name kumo-todo --yes", f.read())


if __name__ == "__main__":
    unittest.main()
