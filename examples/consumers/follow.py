#!/usr/bin/env python3
"""Follow a ts-dask named output from Python: nothing of ts-dask, only msgpack and a socket.

A client run with `client.map(fn, xs, { publish: "study-42" })` publishes every settled row on
`tsdask.<cluster>.out.study-42` (docs/subjects.md). This script subscribes there and prints one
JSON line per row:

    {"client": "a9627c3c971e", "job": 0, "index": 3, "key": 3, "value": 9}
    {"client": "a9627c3c971e", "job": 0, "index": 7, "key": 7, "error": {"code": "TaskFailed", ...}}

and, once a call is complete (it holds `total` distinct indices of that call), a line
`{"complete": {"client": ..., "job": ..., "total": ..., "errors": ...}}`.

Usage:
    python3 examples/consumers/follow.py --server nats://127.0.0.1:4222 --cluster default \
        --name study-42 [--token T] [--calls 1]

--calls N exits after N complete calls (default: follow forever). Before the first row it prints
`{"subscribed": "<subject>"}` once the server has the subscription (a PING/PONG round trip), so a
script can start the run after that line and miss nothing.

Needs only msgpack (Debian: apt-get install python3-msgpack; pip: msgpack). NATS is spoken by
hand below (its text protocol: INFO, CONNECT, SUB, PING/PONG, MSG); a real program may as well
use nats-py (`await nc.subscribe(subject, cb=...)`) with the same decoding. No TLS here.
"""
import argparse
import json
import socket
import struct
import sys
from urllib.parse import urlparse

import msgpack

# ts-dask's msgpack extensions (runtime/codec.ts): ext 0 = typed arrays, [dtype byte][raw bytes,
# little-endian]; ext 1 = [tag byte][msgpack body] for Map, Set, BigInt, Error and DataRef.
TYPED = {0: "b", 1: "B", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 8: "d", 9: "q", 10: "Q"}


def ext_hook(code, data):
    if code == 0:
        dtype, raw = data[0], data[1:]
        fmt = TYPED.get(dtype)
        if fmt is None:  # DataView (100) / ArrayBuffer (101): the bytes
            return bytes(raw)
        n = len(raw) // struct.calcsize(fmt)
        return list(struct.unpack("<%d%s" % (n, fmt), raw))
    if code == 1:
        tag, body = data[0], unpack(data[1:])
        if tag == 1:
            return {str(k): v for k, v in body}  # Map (keys as strings for JSON)
        if tag == 2:
            return list(body)  # Set
        if tag == 3:
            return int(body)  # BigInt (sent as its decimal string)
        if tag == 4:
            return {"error": body}  # Error: {name, message, stack}
        if tag == 5:
            return {"dataRef": body[0], "size": body[1]}
    return msgpack.ExtType(code, data)


def unpack(b):
    return msgpack.unpackb(b, raw=False, ext_hook=ext_hook, strict_map_key=False)


class Nats:
    """A minimal core-NATS subscriber over a plain socket."""

    def __init__(self, url, token=None):
        u = urlparse(url if "://" in url else "nats://" + url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222))
        self.buf = b""
        self.readline()  # INFO {...}
        opts = {"verbose": False, "pedantic": False, "name": "ts-dask python follower", "lang": "python", "version": "0", "protocol": 1}
        if u.password:  # nats://user:password@host
            opts.update(user=u.username, **{"pass": u.password})
        elif token or u.username:  # --token, or nats://token@host
            opts["auth_token"] = token or u.username
        self.send("CONNECT " + json.dumps(opts))

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("nats-server closed the connection")
        self.buf += chunk

    def readline(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def read(self, n):
        while len(self.buf) < n + 2:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def subscribe(self, subject):
        self.send("SUB %s 1" % subject)
        self.send("PING")  # the PONG says the server has the subscription
        for kind, _ in self.events():
            if kind == "pong":
                return

    def events(self):
        """Yields ("msg", payload) and ("pong", None); answers the server's PINGs."""
        while True:
            line = self.readline()
            op = line.split(" ", 1)[0].upper()
            if op == "MSG":  # MSG <subject> <sid> [reply-to] <#bytes>
                yield "msg", self.read(int(line.split()[-1]))
            elif op == "PING":
                self.send("PONG")
            elif op == "PONG":
                yield "pong", None
            elif op == "-ERR":
                raise ConnectionError(line)
            # +OK, INFO: nothing to do


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="nats://127.0.0.1:4222")
    ap.add_argument("--cluster", default="default")
    ap.add_argument("--name", required=True, help="the output's name ({ publish: name })")
    ap.add_argument("--token", default=None)
    ap.add_argument("--calls", type=int, default=0, help="exit after this many complete calls (0: never)")
    a = ap.parse_args()

    subject = "tsdask.%s.out.%s" % (a.cluster, a.name)
    nc = Nats(a.server, a.token)
    nc.subscribe(subject)
    print(json.dumps({"subscribed": subject}), flush=True)

    seen = {}  # (client, job) -> set of indices
    failed = {}
    complete = 0
    for kind, payload in nc.events():
        if kind != "msg":
            continue
        m = unpack(payload)
        call = (m["client"], m["job"])
        errors = {e["i"]: e for e in m.get("errors") or []}
        rows = seen.setdefault(call, set())
        for k, index in enumerate(m["index"]):
            row = {"client": m["client"], "job": m["job"], "index": index, "key": m["keys"][k]}
            if k in errors:
                e = dict(errors[k])
                del e["i"]
                row["error"] = e
                failed[call] = failed.get(call, 0) + 1
            else:
                row["value"] = m["values"][k]
            rows.add(index)
            print(json.dumps(row, default=repr), flush=True)
        if len(rows) == m["total"]:
            print(json.dumps({"complete": {"client": call[0], "job": call[1], "total": m["total"], "errors": failed.get(call, 0)}}), flush=True)
            complete += 1
            if a.calls and complete >= a.calls:
                return


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
