#!/usr/bin/env python3
"""Drive the sync nodes with the official Socket.IO client (python-socketio).

usage: client.py NODE1_URL NODE2_URL NODE3_URL
Exit 0 only if every expected event arrived in time: an update emitted on node 1 reaches
clients of nodes 2 and 3, get_data / get_socket_list / get_highest_number answer, and bad
payloads get an `error` event without a disconnect. Node 1 is reached over websocket, node 2
over long-polling (then upgraded), node 3 with the defaults.
"""
import queue
import sys
import time

import socketio

TIMEOUT = 10.0
EVENTS = ["data_updated", "data", "error", "socket_list", "highest_number"]


class Client:
    def __init__(self, label, url, transports):
        self.label = label
        self.queues = {e: queue.Queue() for e in EVENTS}
        self.sio = socketio.Client(reconnection=False)
        for event in EVENTS:
            self.sio.on(event, self._handler(event))
        self.sio.connect(url, transports=transports, wait_timeout=TIMEOUT)
        print(f"[{label}] connected over {self.sio.transport()}")

    def _handler(self, event):
        def handle(*args):
            self.queues[event].put(args[0] if len(args) == 1 else list(args))
        return handle

    def wait(self, event, until=lambda _: True):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            try:
                value = self.queues[event].get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if until(value):
                print(f"[{self.label}] <- {event}")
                return value
        raise AssertionError(f"[{self.label}] no {event!r} within {TIMEOUT} s")


def has(person):
    return lambda data: person in data.get("persons", [])


def main():
    a = Client("node-1", sys.argv[1], ["websocket"])
    b = Client("node-2", sys.argv[2], ["polling"])
    c = Client("node-3", sys.argv[3], None)
    try:
        person = {"name": "socket ana", "number": 777}
        a.sio.emit("update_data", person)
        for client in (a, b, c):
            data = client.wait("data_updated", has(person))
            assert isinstance(data["highestNumber"], int), data
        # The original's form sent the number as a string: accepted.
        a.sio.emit("update_data", {"name": "string bo", "number": "42"})
        c.wait("data_updated", has({"name": "string bo", "number": 42}))

        b.sio.emit("get_data")
        data = b.wait("data")
        assert person in data["persons"], data
        assert {"name": "socket ana", "max_number": data["highestNumber"]} in data["data"], data
        c.sio.emit("get_socket_list")
        sockets = c.wait("socket_list")
        assert c.sio.get_sid("/") in sockets["clients"], sockets
        ports = sorted(int(url.rsplit(":", 1)[1]) for url in sys.argv[1:4])
        assert sorted(sockets["sockets"]) == ports, sockets
        a.sio.emit("get_highest_number")
        a.wait("highest_number", lambda n: n["number"] >= 777)

        for bad in [{}, {"name": "", "number": ""}, {"name": "x", "number": "abc"}, {"name": "x", "number": -1}, "not json", 42, [1, 2]]:
            a.sio.emit("update_data", bad)
            error = a.wait("error")
            assert error["event"] == "update_data" and error["message"], error
        a.sio.emit("update_data")
        a.wait("error")
        time.sleep(0.3)
        assert b.queues["error"].empty(), "an error went to another client"
        assert all(client.sio.connected for client in (a, b, c)), "a bad payload disconnected a client"
        print("socket.io compatibility: ok")
    finally:
        for client in (a, b, c):
            client.sio.disconnect()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}")
        sys.exit(1)
