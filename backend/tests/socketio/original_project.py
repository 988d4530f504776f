#!/usr/bin/env python3
"""System tests in the CRDT/Paxos project's own wire shapes, against three running sync nodes.

usage: original_project.py NODE1_URL NODE2_URL NODE3_URL

A client of the original project — its tests, its page, people's scripts — speaks exactly
these shapes (../shared/SPEC.md, "Sync nodes"): REST with `requests`, Socket.IO with the
official python-socketio client. Every check reads the original's fields; none reads the lab's
own. Prints one line per test and exits 0 only if all pass.
"""
import sys
import time

import requests

TIMEOUT = 10.0
NODES = sys.argv[1:4]
STAMP = str(int(time.time() * 1000))


def eventually(what, probe, within=TIMEOUT):
    deadline = time.time() + within
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {within} s (last: {last!r})")


def get_data(node):
    answer = requests.get(f"{node}/get_data", timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body["data"], list), body
    for entry in body["data"]:
        assert set(entry) >= {"name", "max_number"}, entry
    return body["data"]


def names(node):
    return {entry["name"] for entry in get_data(node)}


def max_number(node):
    data = get_data(node)
    return data[0]["max_number"] if data else None


# --- REST -------------------------------------------------------------------------------------

def test_get_data_lists_names_with_the_highest_number():
    for node in NODES:
        data = get_data(node)
        numbers = {entry["max_number"] for entry in data}
        assert len(numbers) <= 1, f"every entry carries the node's highest number: {data}"


def test_add_name_adds_a_name_alone_and_it_reaches_every_node():
    name = f"abcd {STAMP}"
    answer = requests.post(f"{NODES[0]}/add_name", json={"name": name}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == f'Name "{name}" added successfully', answer.json()
    for node in NODES:
        eventually(f"{name} on {node}", lambda: name in names(node))


def test_add_name_without_a_name_is_refused():
    for body in [{}, {"name": ""}, {"name": "   "}]:
        answer = requests.post(f"{NODES[1]}/add_name", json=body, timeout=5)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == "Name is required", answer.json()


def prepare(node, n):
    answer = requests.post(f"{node}/prepare", json={"proposal_number": n}, timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) >= {"promised", "accepted_proposal", "accepted_value"}, body
    return body


def accept(node, n, value):
    answer = requests.post(f"{node}/accept", json={"proposal_number": n, "value": value}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["accepted"]


def propose(n, value):
    """The original's proposer: prepare on every node; with a majority of promises, accept the
    value of the highest-numbered proposal they report (or its own) on every node."""
    promises = [p for p in (prepare(node, n) for node in NODES) if p["promised"]]
    if len(promises) * 2 <= len(NODES):
        return None
    reported = [p for p in promises if p["accepted_proposal"] is not None]
    if reported:
        value = max(reported, key=lambda p: p["accepted_proposal"])["accepted_value"]
    accepted = sum(accept(node, n, value) for node in NODES)
    return value if accepted * 2 > len(NODES) else None


def test_a_proposal_of_800000_then_300000_leaves_800000_everywhere():
    n = int(STAMP)
    assert propose(n, 800000) == 800000
    assert propose(n + 1, 300000) == 800000, "the second proposer adopts the chosen value"
    for node in NODES:
        eventually(f"800000 on {node}", lambda: max_number(node) == 800000)
        report = prepare(node, n + 2)
        assert (report["accepted_proposal"], report["accepted_value"]) == (n + 1, 800000), report
    # Real acceptor rules: nothing at or below a promise is promised, nothing below it accepted.
    assert prepare(NODES[0], n)["promised"] is False
    assert prepare(NODES[0], n + 2)["promised"] is False, "the same number twice"
    assert accept(NODES[0], n + 1, 5) is False


def test_prepare_and_accept_say_which_fields_they_expect():
    for route, body in [("prepare", {"proposal": 1}), ("accept", {"proposal_number": 1}), ("prepare", [])]:
        answer = requests.post(f"{NODES[2]}/{route}", json=body, timeout=5)
        assert answer.status_code == 400, (route, body, answer.text)
        assert "proposal_number" in answer.json()["error"], answer.json()


def test_get_load_and_the_switch_to_crdt_only():
    load = requests.get(f"{NODES[2]}/get_load", timeout=5).json()
    assert isinstance(load["load"], int), load
    switched = requests.post(f"{NODES[2]}/switch_to_crdt_only", timeout=5).json()
    assert switched["message"] and switched["load_increased"] is True, switched
    # (The original could not switch back; the lab can: leave the node as it was.)
    back = requests.post(f"{NODES[2]}/switch_to_normal", timeout=5).json()
    assert back["load_increased"] is False, back


def test_data_transfer_pulls_the_peers():
    answer = requests.get(f"{NODES[1]}/data_transfer", timeout=10)
    assert answer.status_code == 200, answer.text


def test_the_root_answers_node_info_as_json_and_a_page_for_a_browser():
    for node in NODES:
        info = requests.get(node + "/", headers={"accept": "application/json"}, timeout=5).json()
        assert info["port"] == int(node.rsplit(":", 1)[1]) and info["address"], info
        page = requests.get(node + "/", headers={"accept": "text/html"}, timeout=5)
        assert page.headers["content-type"].startswith("text/html"), page.headers
        assert "update_data" in page.text and "get_socket_list" in page.text
        assert "https://" not in page.text and "<script src" not in page.text, "nothing from outside"


# --- Socket.IO ---------------------------------------------------------------------------------

# The official client with an event queue each, as the compatibility test drives it.
from client import Client  # noqa: E402  (backend/tests/socketio/client.py, beside this file)


def with_clients(test):
    def run():
        clients = [Client(f"node-{i + 1}", node, None) for i, node in enumerate(NODES)]
        try:
            test(clients)
        finally:
            for client in clients:
                client.sio.disconnect()
    run.__name__ = test.__name__
    return run


@with_clients
def test_update_data_with_a_name_and_number_reaches_the_clients_of_every_node(clients):
    name = f"socket ana {STAMP}"
    clients[0].sio.emit("update_data", {"name": name, "number": 900001})
    for client in clients:
        client.wait("data_updated", lambda d: any(e["name"] == name for e in d["data"]))
    for node in NODES:
        eventually(f"900001 on {node}", lambda: max_number(node) == 900001)


@with_clients
def test_a_number_only_update_raises_the_highest_number_everywhere(clients):
    clients[1].sio.emit("update_data", {"name": "", "number": "950002"})  # as the original page sends it
    for node in NODES:
        eventually(f"950002 on {node}", lambda: max_number(node) == 950002)
    clients[2].sio.emit("update_data", {"name": None, "number": 950003})
    for node in NODES:
        eventually(f"950003 on {node}", lambda: max_number(node) == 950003)
    assert "" not in names(NODES[0]) and "None" not in names(NODES[0]), "no person was added"
    clients[0].sio.emit("get_highest_number")
    clients[0].wait("highest_number", lambda m: m["number"] == 950003)


@with_clients
def test_a_name_only_update_adds_the_name_everywhere(clients):
    name = f"name only {STAMP}"
    clients[2].sio.emit("update_data", {"name": name})
    for node in NODES:
        eventually(f"{name} on {node}", lambda: name in names(node))


@with_clients
def test_get_data_and_get_socket_list_answer_in_the_original_shapes(clients):
    clients[0].sio.emit("get_data")
    data = clients[0].wait("data")
    assert all("name" in entry for entry in data["data"]), data
    clients[1].sio.emit("get_socket_list")
    sockets = clients[1].wait("socket_list")["sockets"]
    assert sorted(sockets) == sorted(int(n.rsplit(":", 1)[1]) for n in NODES), sockets


@with_clients
def test_an_update_with_neither_name_nor_number_gets_an_error(clients):
    for bad in [{"name": "", "number": ""}, {}, {"name": None, "number": None}]:
        clients[0].sio.emit("update_data", bad)
        error = clients[0].wait("error")
        assert error["message"], error
    assert clients[0].sio.connected


TESTS = [value for key, value in list(globals().items()) if key.startswith("test_")]


def main():
    failed = 0
    for test in TESTS:
        try:
            test()
            print(f"ok     {test.__name__}")
        except Exception as failure:  # a failing check, or the node answering something else
            failed += 1
            print(f"FAILED {test.__name__}: {type(failure).__name__}: {failure}")
    print(f"{len(TESTS) - failed} of {len(TESTS)} passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
