"""examples/todo end to end: the whole CRUD through `kumo up`, data in the
embedded SQLite store, surviving a restart of the gateway; attachments in
the embedded blob store (binary round trip, content type, large bodies
through the streamed writer and reader, 404s, served inertly) and
notifications through the embedded queue (one per create and update,
received with a receipt, back after the visibility timeout until acked)."""
import os
import time
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


    def test_attachment_round_trip(self):
        t = self.create("with attachment").json()
        url = self.url("/todos/%s/attachment" % t["id"])
        self.assertProblem(requests.get(url), 404)
        data = bytes(range(256)) * 4 + b"\0\0end"
        r = requests.put(url, data=data, headers={"content-type": "image/png"})
        self.assertEqual(r.status_code, 200, r.text)
        info = r.json()
        self.assertEqual(info["size"], len(data))
        self.assertEqual(info["content_type"], "image/png")
        got = requests.get(url)
        self.assertEqual(got.status_code, 200, got.text[:200])
        self.assertEqual(got.content, data)
        self.assertEqual(got.headers["content-type"], "image/png")
        self.assertEqual(got.headers["etag"], info["etag"])
        # The object is a plain file in the embedded store.
        path = os.path.join(self.project_dir, ".kumo", "data", "blob", "attachments", t["id"])
        if os.path.exists(path):
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)

        # Replaced: new bytes, new type, new etag.
        r = requests.put(url, data="plain text", headers={"content-type": "text/plain"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotEqual(r.json()["etag"], info["etag"])
        got = requests.get(url)
        self.assertEqual(got.text, "plain text")
        self.assertTrue(got.headers["content-type"].startswith("text/plain"))

        # Deleting the todo deletes its attachment.
        self.assertEqual(requests.delete(self.url("/todos/" + t["id"])).status_code, 204)
        self.assertProblem(requests.get(url), 404)

    def test_large_attachment_is_streamed(self):
        t = self.create("big attachment").json()
        url = self.url("/todos/%s/attachment" % t["id"])
        data = os.urandom(3 * 1024 * 1024 + 123)   # over the 256 KiB streaming threshold
        r = requests.put(url, data=data, headers={"content-type": "application/octet-stream"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["size"], len(data))
        got = requests.get(url)
        self.assertEqual(got.status_code, 200)
        self.assertEqual(len(got.content), len(data))
        self.assertEqual(got.content, data)

    def test_attachment_of_missing_todo_is_404(self):
        missing = "0" * 24
        self.assertProblem(requests.put(self.url("/todos/%s/attachment" % missing), data=b"x",
                                        headers={"content-type": "text/plain"}), 404)
        self.assertProblem(requests.get(self.url("/todos/%s/attachment" % missing)), 404)
        self.assertProblem(requests.get(self.url("/todos/nonsense/attachment")), 404)

    def test_attachment_is_served_inertly(self):
        """An uploaded file keeps its type but never runs as a page of the
        API's origin: nosniff and a sandbox always, a download for any type
        not on the passive list."""
        t = self.create("active attachment").json()
        url = self.url("/todos/%s/attachment" % t["id"])
        page = b"<html><script>alert(document.cookie)</script></html>"
        active = ["text/html", "TEXT/HTML; charset=utf-8", "image/svg+xml", "application/xhtml+xml", "text/xml",
                  "application/x-made-up", "text/javascript"]
        passive = ["text/plain", "text/plain;charset=utf-8", "image/png", "application/json",
                   "application/octet-stream"]
        for ctype in active + passive:
            # The gateway parses a JSON body against the spec's '*/*' (any
            # bytes for other types): give it JSON.
            data = b'{"html": "<script>alert(1)</script>"}' if ctype == "application/json" else page
            r = requests.put(url, data=data, headers={"content-type": ctype})
            self.assertEqual(r.status_code, 200, r.text)
            got = requests.get(url)
            self.assertEqual(got.status_code, 200, got.text[:200])
            self.assertEqual(got.content, data)
            self.assertEqual(got.headers["content-type"].lower().replace(" ", ""), ctype.lower().replace(" ", ""))
            self.assertEqual(got.headers.get("x-content-type-options"), "nosniff", ctype)
            csp = got.headers.get("content-security-policy", "")
            self.assertIn("sandbox", csp, ctype)
            self.assertIn("default-src 'none'", csp, ctype)
            if ctype in active:
                self.assertEqual(got.headers.get("content-disposition"), "attachment", ctype)
            else:
                self.assertNotIn("content-disposition", got.headers, ctype)

    def receive(self, max=50, visibility=None):
        params = {"max": max}
        if visibility is not None:
            params["visibility"] = visibility
        r = requests.get(self.url("/notifications"), params=params)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["items"]

    def ack(self, items):
        if not items:
            return {"acked": 0, "stale": []}
        r = requests.post(self.url("/notifications/ack"), json={"receipts": [n["receipt"] for n in items]})
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def drain(self, want_ids, limit_s=10, visibility=None):
        """Receives and acks notifications until one of each (event, todo id)
        in want_ids was seen."""
        got, deadline = [], time.time() + limit_s
        while True:
            items = self.receive(50, visibility)
            self.ack(items)
            got += items
            if want_ids <= {(n["event"], n["todo"]["id"]) for n in got} or time.time() >= deadline:
                break
            if not items:
                time.sleep(0.05)
        return got

    def test_notifications(self):
        self.drain(set(), limit_s=0)   # whatever other tests left
        t = self.create("notify me").json()
        requests.patch(self.url("/todos/" + t["id"]), json={"done": True})
        got = []
        deadline = time.time() + 10
        while not {("created", t["id"]), ("updated", t["id"])} <= {(n["event"], n["todo"]["id"]) for n in got}:
            self.assertLess(time.time(), deadline, got)
            got += self.receive(50, visibility=2)
        mine = [n for n in got if n["todo"]["id"] == t["id"]]
        self.assertEqual([n["event"] for n in mine], ["created", "updated"])
        self.assertEqual(mine[0]["todo"]["title"], "notify me")
        self.assertIs(mine[1]["todo"]["done"], True)
        self.assertTrue(all(n["id"] and n["receipt"] for n in mine))
        # Received but not acked: hidden while their visibility lasts...
        self.assertEqual([n for n in self.receive(100) if n["todo"]["id"] == t["id"]], [])
        # ...and back after it (a response lost on the way loses nothing),
        # with the same ids and new receipts.
        again = []
        deadline = time.time() + 15
        while len([n for n in again if n["todo"]["id"] == t["id"]]) < 2:
            self.assertLess(time.time(), deadline, again)
            again += self.receive(100, visibility=30)
            time.sleep(0.1)
        back = [n for n in again if n["todo"]["id"] == t["id"]]
        self.assertEqual(sorted(n["id"] for n in back), sorted(n["id"] for n in mine))
        self.assertFalse({n["receipt"] for n in back} & {n["receipt"] for n in mine})
        # The first receipts went stale; the current ones ack.
        self.assertEqual(self.ack(mine), {"acked": 0, "stale": [n["receipt"] for n in mine]})
        self.assertEqual(self.ack(back), {"acked": 2, "stale": []})
        self.ack([n for n in again if n["todo"]["id"] != t["id"]])
        # Acked: gone for good (acking again is harmless).
        self.assertEqual(self.ack(back)["acked"], 0)
        time.sleep(2.5)
        self.assertEqual([n for n in self.receive(100) if n["todo"]["id"] == t["id"]], [])

        self.assertProblem(requests.get(self.url("/notifications"), params={"max": 0}), 400)
        self.assertProblem(requests.get(self.url("/notifications"), params={"max": 101}), 400)
        self.assertProblem(requests.get(self.url("/notifications"), params={"visibility": 0}), 400)
        self.assertProblem(requests.get(self.url("/notifications"), params={"visibility": 43201}), 400)
        ack = self.url("/notifications/ack")
        self.assertProblem(requests.post(ack, json={}), 400)
        self.assertProblem(requests.post(ack, json={"receipts": []}), 400)
        self.assertProblem(requests.post(ack, json={"receipts": ["x"] * 101}), 400)
        self.assertProblem(requests.post(ack, json={"receipts": [""]}), 400)
        self.assertProblem(requests.post(ack, json={"receipts": [5]}), 400)
        self.assertProblem(requests.post(ack, json={"receipts": ["1:2"], "more": 1}), 400)
        r = requests.post(ack, json={"receipts": ["no such receipt", "999999:00"]})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"acked": 0, "stale": ["no such receipt", "999999:00"]})


if __name__ == "__main__":
    unittest.main()
