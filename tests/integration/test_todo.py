"""examples/todo end to end: the whole CRUD through `kumo up`, data in the
embedded SQLite store, surviving a restart of the gateway."""
import unittest

import requests

from kumo_harness import Gateway, GatewayTest


class TodoTest(GatewayTest):
    project = "todo"

    def create(self, title, done=None):
        body = {"title": title}
        if done is not None:
            body["done"] = done
        r = requests.post(self.url("/todos"), json=body)
        self.assertEqual(r.status_code, 201, r.text)
        return r

    def test_crud(self):
        r = self.create("buy milk")
        todo = r.json()
        self.assertEqual(todo["title"], "buy milk")
        self.assertIs(todo["done"], False)
        self.assertTrue(todo["id"])
        self.assertIn("created_at", todo)
        self.assertEqual(r.headers["location"], "/todos/" + todo["id"])
        self.assertTrue(r.headers["content-type"].startswith("application/json"))

        got = requests.get(self.url("/todos/" + todo["id"]))
        self.assertEqual(got.status_code, 200)
        self.assertEqual(got.json(), todo)

        upd = requests.patch(self.url("/todos/" + todo["id"]), json={"done": True})
        self.assertEqual(upd.status_code, 200, upd.text)
        self.assertIs(upd.json()["done"], True)
        self.assertEqual(upd.json()["title"], "buy milk")
        self.assertIs(requests.get(self.url("/todos/" + todo["id"])).json()["done"], True)

        d = requests.delete(self.url("/todos/" + todo["id"]))
        self.assertEqual(d.status_code, 204)
        self.assertEqual(d.content, b"")
        self.assertProblem(requests.get(self.url("/todos/" + todo["id"])), 404)
        self.assertProblem(requests.delete(self.url("/todos/" + todo["id"])), 404)
        self.assertProblem(requests.patch(self.url("/todos/" + todo["id"]), json={"done": False}), 404)

    def test_list_pages_in_creation_order(self):
        ids = [self.create("page item %d" % i).json()["id"] for i in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            r = requests.get(self.url("/todos"), params=params)
            self.assertEqual(r.status_code, 200, r.text)
            page = r.json()
            self.assertLessEqual(len(page["items"]), 3)
            seen += [t["id"] for t in page["items"]]
            pages += 1
            cursor = page["next"]
            if cursor is None:
                break
            self.assertLess(pages, 100)
        mine = [i for i in seen if i in ids]
        self.assertEqual(mine, ids)

    def test_bad_input_is_400_problem(self):
        self.assertProblem(requests.post(self.url("/todos"), data=b"{not json",
                                         headers={"content-type": "application/json"}), 400)
        self.assertProblem(requests.post(self.url("/todos"), json={}), 400)
        self.assertProblem(requests.post(self.url("/todos"), json={"title": ""}), 400)
        self.assertProblem(requests.post(self.url("/todos"), json={"title": "x" * 201}), 400)
        self.assertProblem(requests.post(self.url("/todos"), json={"title": "a", "done": "yes"}), 400)
        t = self.create("patch me").json()
        self.assertProblem(requests.patch(self.url("/todos/" + t["id"]), json={"done": 3}), 400)

    def test_unicode_title_round_trips(self):
        t = self.create("café ☕ 日本").json()
        self.assertEqual(requests.get(self.url("/todos/" + t["id"])).json()["title"], "café ☕ 日本")

    def test_data_survives_restart(self):
        t = self.create("durable").json()
        rc = self.gw.stop()
        self.assertEqual(rc, 0, self.gw.stderr()[-2000:])
        type(self).gw = Gateway(self.project_dir)
        r = requests.get(self.url("/todos/" + t["id"]))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["title"], "durable")


if __name__ == "__main__":
    unittest.main()
