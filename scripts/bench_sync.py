#!/usr/bin/env python3
"""Emit N update_data events to one sync node (official Socket.IO client), then time how long
after the last emit all nodes hold the same persons. usage: bench_sync.py N URL1 URL2 URL3"""
import json
import sys
import time
import urllib.request

import socketio


def persons(url):
    with urllib.request.urlopen(url + "/get_data", timeout=5) as response:
        return json.loads(response.read())["persons"]


def main():
    n, urls = int(sys.argv[1]), sys.argv[2:]
    before = len(persons(urls[0]))
    client = socketio.Client(reconnection=False)
    client.connect(urls[0], transports=["websocket"], wait_timeout=10)
    started = time.time()
    for i in range(n):
        client.emit("update_data", {"name": f"bench person {i}", "number": i})
    last_emit = time.time()
    deadline = last_emit + 60
    while time.time() < deadline:
        lists = [persons(url) for url in urls]
        if len(lists[0]) >= before + n and all(lst == lists[0] for lst in lists):
            done = time.time()
            print(json.dumps({"events": n, "emit_s": last_emit - started, "converged_after_last_emit_s": done - last_emit}))
            client.disconnect()
            return
        time.sleep(0.005)
    print(json.dumps({"events": n, "error": "no convergence within 60 s"}))
    sys.exit(1)


if __name__ == "__main__":
    main()
