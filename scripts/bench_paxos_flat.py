#!/usr/bin/env python3
"""Emit number-only update_data events (official Socket.IO client) to one sync node at a steady
rate for a while: every number is above the last, so each is a new Paxos decision, and no person
is added (the log, not the CRDT, is what grows). usage: bench_paxos_flat.py URL SECONDS RATE START"""
import json
import sys
import time

import socketio


def main():
    url, seconds, rate, start = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    began = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - began) < seconds:
        # Paced in 10 ms slices: `rate` per second, never ahead of the clock.
        due = int(elapsed * rate) - sent
        for _ in range(max(due, 0)):
            sent += 1
            client.emit("update_data", {"name": "", "number": start + sent})
        time.sleep(0.01)
    client.disconnect()
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - began, "last": start + sent}))


if __name__ == "__main__":
    main()
