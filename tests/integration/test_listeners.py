"""kumo up listens with one socket per event loop, all on the same port
(SO_REUSEPORT), so the kernel spreads connections over the loops; yet a
port that is taken is still refused, and a second kumo up on the port of
a running one fails instead of silently sharing its traffic."""
import os
import subprocess
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, free_port


def socket_inodes(pid):
    """Inodes of the sockets process pid has open."""
    out = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[len("socket:["):-1]))
    return out


def listening_inodes(port):
    """Inodes of the IPv4 TCP sockets listening on port."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "0A" and int(local.split(":")[1], 16) == port:
                out.add(inode)
    return out


class ListenersTest(unittest.TestCase):
    def test_one_listener_per_loop_on_one_port(self):
        for threads in (1, 2):
            gw = Gateway(copy_project("hello"), threads=threads)
            try:
                self.assertEqual(requests.get(gw.base + "/hello", timeout=30).status_code, 200)
                mine = listening_inodes(gw.port) & socket_inodes(gw.proc.pid)
                self.assertEqual(len(mine), threads, "listening sockets of kumo up --threads %d" % threads)
            finally:
                gw.stop()

    def test_a_second_kumo_up_on_the_same_port_is_refused(self):
        gw = Gateway(copy_project("hello"), threads=2)
        try:
            second = subprocess.run(
                [KUMO, "up", copy_project("hello"), "--port", str(gw.port), "--admin-port", str(free_port()),
                 "--threads", "2"],
                capture_output=True, text=True, timeout=120)
            self.assertNotEqual(second.returncode, 0, second.stdout)
            self.assertIn("cannot listen on 127.0.0.1:%d" % gw.port, second.stderr)
            self.assertIn("pick another with --port", second.stderr)
            # the first one still has the port to itself, and serves
            for _ in range(10):
                self.assertEqual(requests.get(gw.base + "/hello", timeout=30).status_code, 200)
        finally:
            gw.stop()


if __name__ == "__main__":
    unittest.main()
