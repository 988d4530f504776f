#!/usr/bin/env python3
"""Start the lab, load each service with wrk, print one table row per benchmark.

Usage: bench.py LAB_BINARY [--seconds N] [--only NAME]
Every run is bounded (N seconds of wrk); the lab is stopped (SIGTERM, by PID) at the end.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")

def free_port():
    """A port on loopback the OS has free now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, probe, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if probe():
                return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit(f"bench: {what} did not happen within {seconds} s")

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}

def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")

POST_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"name":"bench ' .. counter .. '","price":9.99,"category":"bench"}')
end
"""


def post_script():
    path = os.path.join(tempfile.mkdtemp(prefix="lab-bench-"), "post.lua")
    with open(path, "w") as f:
        f.write(POST_SCRIPT)
    return path


def wrk(url, seconds, connections=32, threads=2, script=None):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": ms(lat.get("50", "")), "p99": ms(lat.get("99", "")), "errors": errors,
            "requests": int(total.group(1)) if total else 0}

class Lab:
    def __init__(self, binary, dist):
        self.data = tempfile.mkdtemp(prefix="lab-bench-")
        self.proc = subprocess.Popen(
            [binary, "up", "--free-ports", "--data", self.data, "--dist", dist],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "RUST_LOG": "warn"})
        # `up` prints the URL once every service is ready (it gives up after 60 s itself).
        deadline = time.time() + 90
        self.url = None
        while time.time() < deadline and self.url is None:
            line = self.proc.stdout.readline()
            if line.startswith("dashboard: "):
                self.url = line.split(" ", 1)[1].strip()
        if not self.url:
            self.stop()
            sys.exit("bench: the lab did not start")
        wait("every service up", lambda: all(s["health"] == "up" for s in self.services()))

    def services(self):
        return http("GET", self.url + "/api/services")

    def service(self, name):
        return next(s for s in self.services() if s["name"] == name)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()

FIRST_LOAD_TARGET_KB = 300


def first_load(url):
    """Bytes over the wire for the dashboard's first load, as a browser asks (gzip, br): the page
    and every file it names (the js, the wasm, the css)."""
    def fetch(path, encoding):
        req = urllib.request.Request(url + path, headers={"accept-encoding": encoding})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read(), resp.headers.get("content-encoding", "identity")
    page, _ = fetch("/", "identity")
    assets = sorted(set(re.findall(r'(?:href|src)="(/[^"]+\.(?:js|wasm|css))"', page.decode())))
    sizes = []
    for path in ["/"] + assets:
        body, encoding = fetch(path, "gzip, br")
        sizes.append((path, len(body), encoding))
    return sizes


def count_products(store):
    return http("GET", store + "/replication/state")["products"]


def mirror_benchmarks(lab, run, rows, args):
    """Durable writes: sync mirroring, cost as data grows, async replication with its lag."""
    script = post_script()
    sync_front = lab.service("mirroring")["url"]
    sync_primary = lab.service("store-sync-primary")["url"]
    for i in range(100 - count_products(sync_primary)):
        http("POST", sync_front + "/products", {"name": f"seed {i}", "price": 1.0})
    print("  running: sync p50 with 100 products (1 conn, 2 s)", flush=True)
    small = wrk(sync_front + "/products", 2, connections=1, threads=1, script=script)
    run("sync-mirrored POST /products, 32 conn", 2000, sync_front + "/products", script=script, group="writes",
        p99_ms=20.0)
    print(f"  growing the sync store to 50,000 products (now {count_products(sync_primary)})", flush=True)
    while count_products(sync_primary) < 50000:
        wrk(sync_front + "/products", 5, script=script)
    print("  running: sync p50 with 50,000 products (1 conn, 2 s)", flush=True)
    large = wrk(sync_front + "/products", 2, connections=1, threads=1, script=script)
    ratio = large["p50"] / small["p50"] if small["p50"] else float("nan")
    rows.append((f"sync p50 100 → {count_products(sync_primary)} products: x{ratio:.2f}", large, 0, small["p50"] * 1.5, None))

    # Async: a front of its own with a 50 ms replicator, over the lab's async stores.
    primary = lab.service("store-async-primary")["url"]
    mirror = lab.service("store-async-mirror")["url"]
    port = free_port()
    front = subprocess.Popen([args.binary, "serve", "replication", "--name", "bench-replication", "--port", str(port),
                              "--primary", primary, "--mirror", mirror, "--interval-ms", "50"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    try:
        url = f"http://127.0.0.1:{port}"
        wait("the benchmark's async front", lambda: http("GET", url + "/health"))
        lags, stop = [], False
        import threading
        def sample():
            while not stop:
                try:
                    lags.append(http("GET", url + "/replication")["lagMs"])
                except Exception:
                    pass
                time.sleep(0.1)
        sampler = threading.Thread(target=sample)
        sampler.start()
        run("async POST /products (50 ms replicator), 32 conn", 5000, url + "/products", script=script, group="writes",
            p99_ms=20.0)
        stop = True
        sampler.join()
        lags.sort()
        if lags:
            worst, p99 = lags[-1], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            fake = {"rps": float(len(lags)), "p50": lags[len(lags) // 2], "p99": p99, "errors": 0}
            rows.append((f"  async lag during that run (max {worst} ms)", fake, 0, None, 100.0))
    finally:
        front.send_signal(signal.SIGTERM)
        front.wait(timeout=15)


def sync_benchmarks(lab, run, rows, args):
    """1,000 update_data events until the three nodes agree; Paxos decisions per second."""
    python = os.environ.get("LAB_PYTHON", "python3")
    here = os.path.dirname(os.path.abspath(__file__))
    urls = [lab.service(f"node-{n}")["url"] for n in (1, 2, 3)]
    print("  running: 1,000 update_data events to node-1 until all three agree", flush=True)
    out = subprocess.run([python, os.path.join(here, "bench_sync.py"), "1000", *urls],
                         capture_output=True, text=True, timeout=120)
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
        after = result["converged_after_last_emit_s"] * 1000
        fake = {"rps": 1000 / max(result["emit_s"], 1e-9), "p50": after, "p99": after, "errors": 0}
        rows.append(("sync nodes: 1,000 update_data, converged after last emit", fake, 0, 500.0, None))
    except (ValueError, IndexError, KeyError):
        print("  bench_sync failed:", out.stdout, out.stderr)

    # Paxos: three nodes of its own, the load switch out of the way, numbers rising so that
    # every request is a new Paxos decision.
    ports, nodes, data = paxos_nodes(args)
    try:
        def adder(base):
            """A wrk script adding persons with rising numbers, all above `base`."""
            path = os.path.join(tempfile.mkdtemp(prefix="lab-bench-"), "add.lua")
            with open(path, "w") as f:
                f.write("""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"name":"p' .. counter .. '","number":' .. (%d + counter * 100 + math.random(99)) .. '}')
end
""" % base)
            return path

        url = f"http://127.0.0.1:{ports[0]}/add_name"

        def status():
            return http("GET", f"http://127.0.0.1:{ports[0]}/paxos/status")

        def decided():
            return status()["decided"]

        # Requests whose number is already below the agreed highest (the other wrk thread's numbers
        # run ahead) need no decision: the decisions are counted by the node itself.
        before, started = decided(), time.monotonic()
        run("paxos: POST /add_name, rising numbers, 32 conn", 0, url, script=adder(0), group="sync", p99_ms=20.0)
        rate = (decided() - before) / (time.monotonic() - started)
        load = rows[-1][1]
        rows.append(("  values decided per second (node-1's count)",
                     {"rps": rate, "p50": load["p50"], "p99": load["p99"], "errors": load["errors"]}, 2000, None, None))
        # One connection, one wrk thread: every number is above the last, so every request is a
        # decision and its latency is one decision's.
        now = status()
        before = now["decided"]
        run("paxos: one decision at a time, 1 conn", 0, url, script=adder(now["highestNumber"]), connections=1,
            threads=1, p50_ms=2.0, group="sync")
        load = rows[-1][1]
        print(f"  the 1-connection run: {decided() - before} decisions for {load['requests']} requests", flush=True)
        agreed = [http("GET", f"http://127.0.0.1:{p}/get_data")["highestNumber"] for p in ports]
        print(f"  highest number agreed on the three nodes: {agreed}", flush=True)

        # Reads of the agreed number, writes stopped: the local read (what /get_data answers)
        # against the linearizable one (ReadIndex: a majority confirms the leader, concurrent
        # reads share a round; a follower also asks the leader for the index). Each
        # linearizable row names its req/s as a share of the local row's.
        roles = {p: http("GET", f"http://127.0.0.1:{p}/paxos/status")["role"] for p in ports}
        leader = next((p for p in ports if roles[p] == "leader"), ports[0])
        follower = next(p for p in ports if p != leader)

        def highest(port, read):
            return f"http://127.0.0.1:{port}/highest?read={read}"

        def versus(local, label):
            """Name the last row's req/s (and p50) against the local row's."""
            if local is None or not rows or rows[-1][0] != label:
                return
            name, r, target, p50_ms, p99_ms = rows[-1]
            share = r["rps"] / local["rps"] if local["rps"] else float("nan")
            rows[-1] = (f"{name}: x{share:.2f} local", r, target, p50_ms, p99_ms)

        def last(label):
            return rows[-1][1] if rows and rows[-1][0] == label else None

        for conns in (32, 1):
            threads = 2 if conns > 1 else 1
            local_label = f"paxos: GET /highest?read=local, {conns} conn"
            run(local_label, 0, highest(leader, "local"), connections=conns, threads=threads, group="sync")
            local = last(local_label)
            places = [("leader", leader), ("follower", follower)] if conns > 1 else [("follower", follower)]
            for place, port in places:
                label = f"paxos: GET /highest linearizable, {place}, {conns} conn"
                run(label, 0, highest(port, "linearizable"), connections=conns, threads=threads, group="sync")
                versus(local, label)
    finally:
        stop(nodes)
    paxos_flat(args)


def paxos_nodes(args):
    """Three sync nodes of the benchmark's own on free ports, the load switch out of the way:
    (ports, processes, data directory)."""
    ports = [free_port() for _ in range(3)]
    data = tempfile.mkdtemp(prefix="lab-bench-paxos-")
    nodes = []
    for i, port in enumerate(ports):
        peers = ",".join(f"{j + 1}=http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i)
        nodes.append(subprocess.Popen(
            [args.binary, "serve", "sync-node", "--name", f"paxos-{i + 1}", "--id", str(i + 1), "--port", str(port),
             "--peers", peers, "--db", os.path.join(data, f"n{i + 1}.sqlite3"), "--high-request", "1000000000",
             # BENCH_ANTI_ENTROPY_MS: how often the nodes pull each other's whole state (default 1000 ms).
             "--anti-entropy-ms", os.environ.get("BENCH_ANTI_ENTROPY_MS", "1000")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"}))
    for port in ports:
        wait("a Paxos benchmark node", lambda: http("GET", f"http://127.0.0.1:{port}/health"))
    return ports, nodes, data


def stop(processes):
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def recording_benchmarks(lab, rows, args):
    """What recording costs: the same durable writes (each one front → primary → mirror
    messages, all recorded) with the lab's recording off and on, four times in turn (this
    machine is shared: interleaving keeps a burst of other work from landing on one side only),
    medians compared. Target: on keeps >= 90% of off."""
    script = post_script()
    front = lab.service("mirroring")["url"] + "/products"
    seconds = max(3, args.seconds // 2)
    offs, ons, events = [], [], 0

    def recorded(round):
        nonlocal events
        run = http("POST", lab.url + "/api/recordings", {"name": f"bench {round + 1}"})
        try:
            ons.append(wrk(front, seconds, script=script))
        finally:
            events += http("POST", lab.url + f"/api/recordings/{run['id']}/stop")["events"]

    # The store grows with every write, so whatever runs second in a round runs against a
    # bigger table: the order alternates (off-on, on-off, ...) so neither side always has it.
    for round in range(4):
        order = "off then on" if round % 2 == 0 else "on then off"
        print(f"  running: round {round + 1} of 4, recording {order} ({seconds} s each)", flush=True)
        if round % 2 == 0:
            offs.append(wrk(front, seconds, script=script))
            recorded(round)
        else:
            recorded(round)
            offs.append(wrk(front, seconds, script=script))
    # The median of four: the mean of the middle two.
    def median(results):
        middle = sorted(results, key=lambda r: r["rps"])[1:3]
        mean = lambda key: None if None in (middle[0][key], middle[1][key]) else (middle[0][key] + middle[1][key]) / 2
        return {key: mean(key) for key in ("rps", "p50", "p99")} | {"errors": sum(r["errors"] for r in results)}

    off, on = median(offs), median(ons)
    ratio = on["rps"] / off["rps"] if off["rps"] else float("nan")
    rows.append(("recording off (median of 4): mirrored POST", off, 0, None, None))
    rows.append((f"  recording on: x{ratio:.2f} ({events} events)", on, int(off["rps"] * 0.9), None, None))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def paxos_flat(args):
    """Under a long Paxos load (number-only updates, each a decision), the log is compacted: the
    instances kept, the node's memory and its database stay flat while decisions pile up. Fresh
    nodes: no persons, so what grows is the log alone."""
    seconds = args.flat_seconds
    if seconds <= 0:
        return
    ports, nodes, data = paxos_nodes(args)
    try:
        paxos_flat_on(args, seconds, ports, nodes, data)
    finally:
        stop(nodes)


def paxos_flat_on(args, seconds, ports, nodes, data):
    """The flat row's run, on `nodes` (their ports and data directory)."""
    python = os.environ.get("LAB_PYTHON", "python3")
    here = os.path.dirname(os.path.abspath(__file__))
    url = f"http://127.0.0.1:{ports[0]}"
    start = http("GET", url + "/paxos/status")["highestNumber"]

    def sample():
        status = http("GET", url + "/paxos/status")
        db = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("n1."))
        return {"decided": status["decided"] + status["noops"], "kept": status["kept"],
                "snapshot": status["snapshotIndex"], "rss_mb": rss_kb(nodes[0].pid) / 1024, "db_mb": db / 1e6}

    print(f"  running: paxos log under load for {seconds} s (number-only update_data, 1,000/s)", flush=True)
    emitter = subprocess.Popen([python, os.path.join(here, "bench_paxos_flat.py"), url, str(seconds), "1000", str(start)],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(min(10, seconds / 4))
    first = sample()
    samples = [first]
    while emitter.poll() is None:
        time.sleep(min(30, seconds / 4))
        samples.append(sample())
        s = samples[-1]
        print(f"    {s['decided']:>9} decided, {s['kept']:>5} kept (snapshot at {s['snapshot']}), "
              f"RSS {s['rss_mb']:.1f} MB, db {s['db_mb']:.2f} MB", flush=True)
    sent = json.loads(emitter.stdout.read().strip().splitlines()[-1])["sent"]
    last = samples[-1]
    kept_max = max(s["kept"] for s in samples)
    PAXOS_FLAT.append((seconds, sent, first, last, kept_max))


def reference(args, run, rows):
    """The bare-axum row: `lab bench-reference` on a free port, loaded like the others."""
    label = "bare axum GET /getServer (reference: no middleware), 32 conn"
    if args.only and args.only not in label and args.only != "limits":
        return None
    port = free_port()
    server = subprocess.Popen([args.binary, "bench-reference", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    try:
        url = f"http://127.0.0.1:{port}/getServer"
        wait("the reference server", lambda: http("GET", url))
        run(label, 0, url, group="limits")
    finally:
        stop([server])
    return rows[-1][1] if rows and rows[-1][0] == label else None


def against(rows, bare, label, share=0.8):
    """Name the last row's req/s as a share of the reference's, with `share` of it as its target."""
    if bare is None or not rows or rows[-1][0] != label or not bare["rps"]:
        return
    name, r, target, p50_ms, p99_ms = rows[-1]
    rows[-1] = (f"{name}: x{r['rps'] / bare['rps']:.2f} bare", r, max(target, round(share * bare["rps"])), p50_ms, p99_ms)


PAXOS_FLAT = []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    parser.add_argument("--only", default=None)
    parser.add_argument("--flat-seconds", type=int, default=int(os.environ.get("BENCH_FLAT_SECONDS", "300")),
                        help="how long the Paxos log runs under load for the flat-storage row (0: skip)")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lab = Lab(args.binary, os.path.join(root, "dist"))
    rows = []
    loads = []
    try:
        if not args.only or args.only == "first-load":
            loads = first_load(lab.url)
        shop = lab.service("shop-a")["url"]
        registry = lab.service("registry")["url"]
        wait("the registry sees every server up",
             lambda: all(s["state"] == "up" for s in http("GET", registry + "/servers")["servers"]))

        def run(name, target, url, p50_ms=None, p99_ms=None, group=None, **kw):
            if args.only and args.only not in name and args.only != group:
                return
            print(f"  running: {name} ({args.seconds} s)", flush=True)
            result = wrk(url, args.seconds, **kw)
            rows.append((name, result, target, p50_ms, p99_ms))

        for i in range(100):
            http("POST", shop + "/products", {"name": f"product {i}", "price": round(9.99 + i, 2),
                                              "category": ["books", "toys", "tools"][i % 3]})
        # The limit on this machine, in the same run: a bare axum route in the same binary, no
        # middleware, answering what /getServer answers. The shop's and the registry's rows are
        # read against it (target: 80 % of it).
        bare = reference(args, run, rows)
        run("shop GET /products (100 products), 32 conn", 30000, shop + "/products", group="limits")
        against(rows, bare, "shop GET /products (100 products), 32 conn")
        run("registry GET /getServer, 32 conn", 35000, registry + "/getServer", group="limits")
        against(rows, bare, "registry GET /getServer, 32 conn")

        iris = "/predict?sl=6.0&sw=2.7&pl=5.1&pw=1.6"
        for name, label in [("model-a", "A forest"), ("model-b", "B tree"), ("model-c", "C knn")]:
            run(f"model {label} GET /predict, 32 conn", 20000, lab.service(name)["url"] + iris, p99_ms=5.0)
        meta = lab.service("meta-model")["url"]
        # The second wave's target (the first wave's was 5,000).
        run("meta-model GET /predict, 32 conn", 15000, meta + iris)
        run("meta-model GET /predict, 1 conn", 0, meta + iris, connections=1, threads=1, p50_ms=1.0)

        if not args.only or "writes" in args.only or "mirror" in args.only:
            mirror_benchmarks(lab, run, rows, args)
        if not args.only or "recording" in args.only:
            recording_benchmarks(lab, rows, args)
        if not args.only or "sync" in args.only or "paxos" in args.only:
            sync_benchmarks(lab, run, rows, args)
        elif args.only == "flat":
            paxos_flat(args)
    finally:
        lab.stop()

    if loads:
        total = sum(size for _, size, _ in loads)
        print()
        print("dashboard first load (Accept-Encoding: gzip, br), bytes over the wire:")
        for path, size, encoding in loads:
            print(f"  {path:<44} {size:>9}  {encoding}")
        verdict = "ok" if total <= FIRST_LOAD_TARGET_KB * 1000 else "MISSED"
        print(f"  {'total':<44} {total:>9}  target <= {FIRST_LOAD_TARGET_KB} KB ({total / 1000:.0f} KB): {verdict}")
    for seconds, sent, first, last, kept_max in PAXOS_FLAT:
        print()
        print(f"paxos log under {seconds} s of load ({sent} number-only updates), node-1, first sample -> last:")
        print(f"  decided instances   {first['decided']:>10} -> {last['decided']:>10}")
        print(f"  instances kept      {first['kept']:>10} -> {last['kept']:>10}  (most seen {kept_max}; "
              f"target flat: <= 2 x 1,024 = 2048: {'ok' if kept_max <= 2048 else 'MISSED'})")
        print(f"  RSS (MB)            {first['rss_mb']:>10.1f} -> {last['rss_mb']:>10.1f}")
        print(f"  database (MB)       {first['db_mb']:>10.2f} -> {last['db_mb']:>10.2f}")
    if not rows:
        return
    print()
    print(f"{'benchmark':<46} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'target':<22} verdict")
    print("-" * 112)
    for name, r, target, p50_ms, p99_ms in rows:
        goals, ok = [], r["errors"] == 0
        if target:
            goals.append(f">= {target} req/s")
            ok = ok and r["rps"] >= target
        if p50_ms is not None:
            goals.append(f"p50 <= {p50_ms} ms")
            ok = ok and r["p50"] <= p50_ms
        if p99_ms is not None:
            goals.append(f"p99 <= {p99_ms} ms")
            ok = ok and r["p99"] <= p99_ms
        verdict = "ok" if ok else "MISSED"
        print(f"{name:<46} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7}  {', '.join(goals):<22} {verdict}")

if __name__ == "__main__":
    main()
