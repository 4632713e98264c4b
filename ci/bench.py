#!/usr/bin/env python3
"""The measuring half of ci/bench (which installs the tools and builds, then calls this).

Every figure comes from a real run on this machine: wrk for fixed URLs, loadgen for the shopper
mix and checkouts, /proc for memory and CPU, headless Chromium for the storefront. Each binary set
(a baseline, then the current build) gets its own stack started by `ci/dev up --detach`, so the two
columns of the report are measured the same way, minutes apart. Nothing here asserts a figure:
a step fails only when it cannot measure (a service does not start, a request is refused).
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["gateway", "user", "product", "order", "web"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The query shapes of the product bench, plus a cursor page of each kind and a transposition.
SEARCH_SHAPES = [
    ("word", "q=keyboard"),
    ("two words", "q=wireless%20mouse"),
    ("words, sorted by price", "q=gaming%20headset&sort=price_asc"),
    ("typo (swap)", "q=keybaord"),
    ("typo (transposition, 6 letters)", "q=seleve"),
    ("word, category, in stock", "q=monitor&category=computers&in_stock=true"),
    ("category, price desc", "category=keyboards&sort=price_desc"),
    ("price range, in stock, price asc", "min_price=1000&max_price=5000&in_stock=true&sort=price_asc"),
    ("newest", "sort=newest"),
    ("word, next page", "q=keyboard&cursor=*"),
    ("price asc, next page", "sort=price_asc&cursor=*"),
]

# The catalog product-bench generates (services/product/benches/product-bench.rs): names repeat
# words as real catalogs do, so a one-word query matches a seventh of the products.
CATALOG_SQL = """
WITH leaves AS (SELECT array_agg(id ORDER BY slug) AS ids FROM categories c
                WHERE NOT EXISTS (SELECT 1 FROM categories child WHERE child.parent_id = c.id)),
nouns AS (SELECT * FROM unnest((SELECT ids[1:7] FROM leaves),
            ARRAY['Accessory','Headphones','Keyboard','Laptop','Mouse','Monitor','Speaker'])
          WITH ORDINALITY AS n(category_id, noun, position)),
inserted AS (INSERT INTO products (id, sku, slug, name, description, price_amount,
    price_currency, image_url, attributes, category_id, created_at, updated_at)
  SELECT gen_random_uuid(), 'BENCH-' || i, 'bench-product-' || i,
    (ARRAY['Arcwell','Northkey','Lumen','Quill','Halcyon','Vantage','Ember','Solace','Tidal','Orbit'])[1 + i % 10]
    || ' ' || (ARRAY['Pro','Air','Max','Mini','Ultra','Lite','Studio','Gaming','Wireless','Classic'])[1 + (i / 10) % 10]
    || ' ' || n.noun || ' ' || i,
    'A ' || (ARRAY['quiet','fast','compact','durable','lightweight','premium','wireless','ergonomic'])[1 + i % 8]
    || ' ' || lower(n.noun) || ' for work and play, model ' || i || '.',
    500 + (i * 7919) % 200000, 'USD', NULL,
    jsonb_build_object('color', (ARRAY['black','white','grey','blue'])[1 + i % 4]),
    n.category_id, now() - make_interval(secs => i), now() - make_interval(secs => i)
  FROM generate_series(1, {count}) AS i JOIN nouns n ON n.position = 1 + i % 7
  RETURNING id)
INSERT INTO inventory (product_id, on_hand) SELECT id, hashtext(id::text) & 63 FROM inserted;
"""


def log(message):
    print(f"==> {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_block(size=11):
    """A block of free ports below the ephemeral range, as ci/dev wants."""
    for base in range(21000, 32000, 50):
        ports = range(base, base + size)
        if all(port_free(p) for p in ports):
            return base
    raise SystemExit("ci/bench: no free block of ports below 32000")


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def http(url, method="GET", body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return response.status, (json.loads(raw) if raw and raw[:1] in b"[{" else raw)


def psql(db, sql):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def wrk(url, seconds, connections, headers=()):
    """One wrk run: req/s, p50 and p99 in ms, non-2xx answers and socket errors."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    for header in headers:
        command[1:1] = ["-H", header]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def ms(value):
        number = float(re.match(r"[\d.]+", value).group())
        unit = value[len(re.match(r"[\d.]+", value).group()):]
        return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": round(rps, 1), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def proc_stat(pid):
    """RSS now and at its peak (KiB), and CPU seconds so far, of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "hwm_kib": int(fields["VmHWM"].split()[0]),
        "cpu_s": cpu,
    }


class Process:
    """A service binary started with a copy of a running one's environment and its own ports."""

    def __init__(self, binary, env, log_path):
        self.log = open(log_path, "ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([binary], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, url, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"ci/bench: {self.proc.args[0]} exited with {self.proc.returncode}; log {self.log.name}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.002)
        raise SystemExit(f"ci/bench: {url} not ready after {timeout}s; log {self.log.name}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Stack:
    """One `ci/dev up --detach` stack on free ports, with the gateway's rate limits raised (the
    load comes from one address) and everything else as ci/dev configures it."""

    def __init__(self, label, bin_dir, work):
        self.label = label
        self.bin_dir = Path(bin_dir)
        self.state = Path(tempfile.mkdtemp(prefix=f"stack-{label}-", dir=work))
        self.work = Path(work)
        self.port = free_block()
        self.extra = []

    def up(self):
        limits = [
            "gateway:RATE_LIMIT_PER_SECOND=1000000", "gateway:RATE_LIMIT_BURST=1000000",
            "gateway:AUTH_RATE_LIMIT_PER_MINUTE=1000000", "gateway:AUTH_RATE_LIMIT_BURST=1000000",
        ]
        command = [str(ROOT / "ci/dev"), "up", "--detach", "--port", str(self.port), "--state-dir", str(self.state),
                   "--bin-dir", str(self.bin_dir), "--no-install"]
        for item in limits:
            command += ["--env", item]
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        env = {}
        for line in (self.state / "stack.env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value.replace("\\ ", " ")
        self.suffix = env["DEV_SUFFIX"]
        self.ports = {s: int(env[f"DEV_PORT_{s}"]) for s in SERVICES if f"DEV_PORT_{s}" in env}
        self.ops = {s: int(env[f"DEV_OPS_PORT_{s}"]) for s in SERVICES if f"DEV_OPS_PORT_{s}" in env}
        self.url = f"http://127.0.0.1:{self.port}"

    def pid(self, service):
        return int((self.state / "run" / f"{service}.pid").read_text().split()[0])

    def services(self):
        return [s for s in SERVICES if (self.state / "run" / f"{s}.pid").exists()]

    def db(self, service):
        return f"ecommerce_{service}_{self.suffix}"

    def spawn(self, service, **overrides):
        """Another instance of `service`, started as the stack started it, on new ports."""
        raw = Path(f"/proc/{self.pid(service)}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        port = free_port()
        env["BIND_ADDR"] = f"127.0.0.1:{port}"
        ready = f"http://127.0.0.1:{port}/readyz"
        if service == "gateway":
            ops = free_port()
            env["OPS_BIND_ADDR"] = f"127.0.0.1:{ops}"
            ready = f"http://127.0.0.1:{ops}/readyz"
        env.update(overrides)
        process = Process(str(self.bin_dir / service), env, self.work / f"{self.label}-{service}-{port}.log")
        process.port = port
        process.ready_url = ready
        self.extra.append(process)
        return process

    def down(self):
        for process in self.extra:
            if process.proc.poll() is None:
                process.stop()
        subprocess.run([str(ROOT / "ci/dev"), "reset", "--state-dir", str(self.state)], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def start_nginx(work, name, body):
    conf = Path(work) / f"nginx-{name}.conf"
    conf.write_text(f"""worker_processes auto;
pid {work}/nginx-{name}.pid;
error_log {work}/nginx-{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  {body}
}}
""")
    subprocess.run(["nginx", "-c", str(conf), "-p", str(work)], check=True)
    return Path(work) / f"nginx-{name}.pid"


def stop_nginx(pid_file):
    if pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGQUIT)
        for _ in range(100):
            if not pid_file.exists():
                break
            time.sleep(0.05)


def loadgen(bin_dir, url, mix, users, seconds, work, name):
    summary = Path(work) / f"loadgen-{name}.json"
    command = [str(Path(bin_dir) / "loadgen"), "--host", url, "--mix", mix, "--users", str(users),
               "--increase-rate", str(users), "--run-time", f"{seconds}s", "--quiet", "--no-print-metrics",
               # Count from the first request: every order placed is in the figures.
               "--no-reset-metrics",
               "--summary", str(summary)]
    with open(Path(work) / f"loadgen-{name}.log", "wb") as out:
        subprocess.run(command, check=True, stdout=out, stderr=subprocess.STDOUT)
    return json.loads(summary.read_text())


def postgres_log():
    """The server log of the PostgreSQL on 5432, where auto_explain writes (Debian's cluster)."""
    try:
        out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[2] == "5432" and Path(fields[6]).exists():
            return Path(fields[6])
    return None


def explain_shapes(stack, shapes, work):
    """EXPLAIN (ANALYZE, BUFFERS) of every statement each shape runs, from auto_explain in the
    server log of a product instance started for it (its connections load the module)."""
    log_file = postgres_log()
    if log_file is None:
        return {"note": "no readable PostgreSQL server log on 5432 (auto_explain writes there)"}
    db = stack.db("product")
    settings = {"session_preload_libraries": "'auto_explain'", "auto_explain.log_min_duration": "0",
                "auto_explain.log_analyze": "on", "auto_explain.log_buffers": "on",
                "auto_explain.log_timing": "on", "auto_explain.log_format": "text"}
    for key, value in settings.items():
        psql("postgres", f'ALTER DATABASE "{db}" SET {key} = {value}')
    plans = {}
    instance = stack.spawn("product", CACHE_TTL_SECS="0")
    try:
        instance.wait_ready(instance.ready_url)
        base = f"http://127.0.0.1:{instance.port}/api/v1/products?limit=20&"
        for name, query in shapes:
            http(base + query)  # plans and caches settle: the second run is the one kept
            start = log_file.stat().st_size
            http(base + query)
            time.sleep(0.2)
            with open(log_file, "rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
            blocks = re.split(r"^\S.*?LOG:\s+duration: ", text, flags=re.M)[1:]
            plans[name] = [("duration: " + b).rstrip() for b in blocks if "Query Text:" in b]
    finally:
        instance.stop()
        for key in settings:
            psql("postgres", f'ALTER DATABASE "{db}" RESET {key}')
    return plans


def search_step(label, stack, args, work, out):
    """Search per query shape on the seeded catalog, as the stack serves it (the page cache on),
    then on an instance with the caches off (every page computed: the searches' own cost), and
    the EXPLAIN of each shape's statements from an instance with the caches off too."""
    s = args.scale
    product = f"http://127.0.0.1:{stack.ports['product']}"
    log(f"[{label}] search: {s['products']:,} products, {len(SEARCH_SHAPES)} query shapes")
    seed_catalog(stack.db("product"), s["products"])
    shapes = resolve_cursors(product, SEARCH_SHAPES)
    out["search"] = {name: wrk(f"{product}/api/v1/products?limit=20&{query}", s["seconds"], s["connections"])
                     for name, query in shapes}
    check_step("search", out["search"])
    _, typo = http(f"{product}/api/v1/products?limit=5&q=seleve")
    out["search_seleve_finds"] = [item["name"] for item in typo["items"]]
    log(f"[{label}] search: the same shapes with the caches off (CACHE_TTL_SECS=0)")
    uncached = stack.spawn("product", CACHE_TTL_SECS="0")
    try:
        uncached.wait_ready(uncached.ready_url)
        base = f"http://127.0.0.1:{uncached.port}/api/v1/products?limit=20&"
        out["search_uncached"] = {name: wrk(base + query, s["seconds"], s["connections"]) for name, query in shapes}
    finally:
        uncached.stop()
    check_step("search, caches off", out["search_uncached"])
    if args.explain:
        log(f"[{label}] search: EXPLAIN (ANALYZE, BUFFERS) of each shape")
        out["explain"] = explain_shapes(stack, shapes, work)


def program_cpu(names):
    """CPU seconds so far of every running process whose command name is one of `names`, summed
    per name: the machine's PostgreSQL backends, RabbitMQ and Redis serve every stack alike."""
    totals = dict.fromkeys(names, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().split(") ", 1)
        except OSError:
            continue
        name = comm.split("(", 1)[1]
        if name in totals:
            fields = rest.split()
            totals[name] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return totals


def services_cpu(stack):
    """CPU seconds so far of each of the stack's services."""
    return {svc: proc_stat(stack.pid(svc))["cpu_s"] for svc in stack.services()}


def stack_cpu(stack):
    """CPU seconds so far of the stack's services and of the servers they use."""
    cpu = services_cpu(stack)
    servers = program_cpu(["postgres", "beam.smp", "redis-server"])
    cpu.update({"postgres": servers["postgres"], "rabbitmq": servers["beam.smp"], "redis": servers["redis-server"]})
    return cpu


def checkout_step(label, stack, tools, args, work, out):
    """Checkouts end to end through the gateway: orders per second, lost and duplicated, and the
    CPU each process spent per order (where the time of a checkout goes)."""
    s = args.scale
    log(f"[{label}] checkout: {s['users']} buyers for {s['seconds']}s through the gateway")
    order_db, product_db = stack.db("order"), stack.db("product")
    psql(product_db, "UPDATE inventory SET on_hand = on_hand + 1000000")
    before_orders = int(psql(order_db, "SELECT count(*) FROM orders"))
    cpu_before = stack_cpu(stack)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    checkout = loadgen(tools, stack.url, "checkout", s["users"], s["seconds"], work, f"checkout-{label}")
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    drained = wait_drained(order_db, product_db)
    cpu_after = stack_cpu(stack)
    # The load generator shares the machine's two cores with the stack.
    cpu_before["loadgen"] = children.ru_utime + children.ru_stime
    cpu_after["loadgen"] = finished.ru_utime + finished.ru_stime
    check_step("checkout", {"checkout": checkout["total"]})
    paid = checkout["tasks"].get("checkout", {"count": 0, "failed": 0})
    answered = paid["count"] - paid["failed"]
    orders = int(psql(order_db, "SELECT count(*) FROM orders")) - before_orders
    committed = int(psql(product_db, "SELECT count(*) FROM reservations WHERE status = 'committed'"))
    out["checkout"] = {
        "per_second": round(answered / checkout["seconds"], 1), "p50_ms": paid.get("p50_ms"),
        "p99_ms": paid.get("p99_ms"), "answered_201": answered, "refused": paid["failed"],
        "orders_written": orders, "reservations_committed": committed, "outbox_drained": drained,
        "lost": max(answered - orders, 0), "duplicated": max(orders - answered, 0),
        # Includes each order's add to cart and the drain of its events after the load.
        "cpu_ms_per_order": {name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(orders, 1), 2)
                             for name in cpu_after},
    }


def detail_step(label, stack, tools, args, out, detail):
    """Product detail on the stack as ci/dev configures it: cached (in the service's memory in
    front of Redis), cached in Redis only, uncached, and a bare axum handler beside them."""
    s = args.scale
    product = f"http://127.0.0.1:{stack.ports['product']}"
    log(f"[{label}] product detail on the stack: cached, cached in Redis only, uncached, and a bare axum handler beside it")
    bare_port = free_port()
    bare_proc = subprocess.Popen([str(Path(tools) / "bare-http"), f"127.0.0.1:{bare_port}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis_only = stack.spawn("product", CACHE_LOCAL_ENTRIES="0")
    uncached = stack.spawn("product", CACHE_TTL_SECS="0")
    try:
        for instance in (redis_only, uncached):
            instance.wait_ready(instance.ready_url)
        http(product + detail)
        wait_port(bare_port)
        out["detail"] = {
            "bare axum handler": wrk(f"http://127.0.0.1:{bare_port}/", s["seconds"], s["connections"]),
            "cached": wrk(product + detail, s["seconds"], s["connections"]),
            "cached, Redis only": wrk(f"http://127.0.0.1:{redis_only.port}{detail}", s["seconds"], s["connections"]),
            "uncached": wrk(f"http://127.0.0.1:{uncached.port}{detail}", s["seconds"], s["connections"]),
        }
    finally:
        bare_proc.terminate()
        bare_proc.wait()
        redis_only.stop()
        uncached.stop()
    check_step("product detail", out["detail"])


def proxy_step(label, stack, args, work, out, detail):
    """Product detail direct, through nginx (a worker per core, upstream keep-alive, a JSON access
    line per request as the gateway writes one) and through the gateway with a token (its
    verified-token cache on, and off on a second instance)."""
    s = args.scale
    product = f"http://127.0.0.1:{stack.ports['product']}"
    log(f"[{label}] proxies: product detail direct, through nginx, through the gateway (token cache on, off)")
    _, auth = http(f"{stack.url}/api/v1/auth/register", "POST",
                   {"email": f"bench-{os.getpid()}-{label}@shop.test", "password": "bench-password-123",
                    "display_name": "Bench"})
    bearer = f"authorization: Bearer {auth['access_token']}"
    nginx_port = free_port()
    nginx = start_nginx(work, f"proxy-{label}", f"""
  log_format line escape=json '{{"time":"$time_iso8601","remote":"$remote_addr","method":"$request_method","uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,"duration":$request_time,"upstream":"$upstream_addr","request_id":"$request_id","agent":"$http_user_agent"}}';
  access_log {work}/nginx-proxy-{label}-access.log line;
  upstream product {{ server 127.0.0.1:{stack.ports['product']}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{nginx_port};
    location / {{ proxy_pass http://product; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}""")
    gateway_off = stack.spawn("gateway", TOKEN_CACHE_CAPACITY="0")
    gateway_off.wait_ready(gateway_off.ready_url)
    try:
        wait_port(nginx_port)
        out["proxy"] = {
            "direct": wrk(product + detail, s["seconds"], s["connections"]),
            "nginx": wrk(f"http://127.0.0.1:{nginx_port}{detail}", s["seconds"], s["connections"]),
            "gateway": wrk(stack.url + detail, s["seconds"], s["connections"], [bearer]),
            "gateway, token cache off": wrk(f"http://127.0.0.1:{gateway_off.port}{detail}", s["seconds"],
                                            s["connections"], [bearer]),
        }
    finally:
        stop_nginx(nginx)
        gateway_off.stop()
    check_step("proxies", out["proxy"])


def detail_path(stack):
    """The detail path of a product the seeded catalog lists."""
    _, page = http(f"http://127.0.0.1:{stack.ports['product']}/api/v1/products?limit=1")
    return f"/api/v1/products/{page['items'][0]['id']}"


def step_only(step, label, bin_dir, tools, args, work):
    """`--only STEP`: a stack, that step, nothing else."""
    out = {"label": label, "bin_dir": str(bin_dir)}
    stack = Stack(label, bin_dir, work)
    log(f"[{label}] stack: ci/dev up --detach on ports {stack.port}..{stack.port + 10}")
    stack.up()
    try:
        if step == "search":
            search_step(label, stack, args, work, out)
        elif step == "detail":
            detail_step(label, stack, tools, args, out, detail_path(stack))
        elif step == "proxy":
            proxy_step(label, stack, args, work, out, detail_path(stack))
        else:
            checkout_step(label, stack, tools, args, work, out)
    finally:
        log(f"[{label}] stack down")
        stack.down()
    return out


def checkout_table(result):
    """The checkout figures of an `--only checkout` run, as Markdown."""
    sets = result["sets"]
    programs = list(next(iter(sets.values()))["checkout"]["cpu_ms_per_order"])
    lines = [f"Checkouts end to end, loadgen {result['scale']['users']} buyers for {result['scale']['seconds']} s; "
             f"load average {result['machine']['load_before'][0]:.2f} before, "
             f"{result['machine']['load_after'][0]:.2f} after", "",
             "| set | orders/s | p50 ms | p99 ms | lost | duplicated | " + " | ".join(
                 f"{p} CPU ms/order" for p in programs) + " |",
             "|---" * (6 + len(programs)) + "|"]
    for label, figures in sets.items():
        c = figures["checkout"]
        lines.append(f"| {label} ({figures['label']}) | {c['per_second']:,.1f} | {c['p50_ms']} | {c['p99_ms']} "
                     f"| {c['lost']} | {c['duplicated']} | "
                     + " | ".join(f"{c['cpu_ms_per_order'][p]:.2f}" for p in programs) + " |")
    return "\n".join(lines) + "\n"


def rows_table(result, key, title):
    """The wrk rows under `key` of each set of an `--only` run, as Markdown."""
    sets = result["sets"]
    rows = list(next(iter(sets.values()))[key])
    lines = [f"{title}, wrk {result['scale']['connections']} connections, "
             f"{result['scale']['seconds']} s a row; load average {result['machine']['load_before'][0]:.2f} before, "
             f"{result['machine']['load_after'][0]:.2f} after", "",
             "| set | " + " | ".join(f"{row} req/s | p50 ms | p99 ms" for row in rows) + " |",
             "|---" * (1 + 3 * len(rows)) + "|"]
    for label, figures in sets.items():
        cells = []
        for row in rows:
            v = figures[key].get(row)
            cells += [f"{v['rps']:,.1f}", f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}"] if v else ["n/a"] * 3
        lines.append(f"| {label} ({figures['label']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def detail_table(result):
    """The product detail figures of an `--only detail` run, as Markdown."""
    return rows_table(result, "detail", "Product detail on the ci/dev stack")


def proxy_table(result):
    """The proxy figures of an `--only proxy` run, as Markdown, with the gateway's ratios to nginx."""
    lines = [rows_table(result, "proxy", "Product detail direct, through nginx and through the gateway")]
    for label, figures in result["sets"].items():
        nginx = figures["proxy"]["nginx"]
        for row in ("gateway", "gateway, token cache off"):
            v = figures["proxy"][row]
            lines.append(f"- {label}: {row} ÷ nginx: throughput {v['rps'] / nginx['rps']:.2f}, "
                         f"p99 {v['p99_ms'] / nginx['p99_ms']:.2f}")
    return "\n".join(lines) + "\n"


def search_table(result):
    """The search figures of an `--only search` run, as Markdown."""
    lines = [f"Search per query shape, {result['scale']['products']:,} products, wrk "
             f"{result['scale']['connections']} connections, {result['scale']['seconds']} s a row; load average "
             f"{result['machine']['load_before'][0]:.2f} before, {result['machine']['load_after'][0]:.2f} after", ""]
    for label, figures in result["sets"].items():
        lines += [f"{label} ({figures['label']})", "",
                  "| shape | req/s | p50 ms | p99 ms | caches off: req/s | p50 ms | p99 ms |",
                  "|---|---|---|---|---|---|---|"]
        for name, on in figures["search"].items():
            off = figures["search_uncached"][name]
            lines.append(f"| {name} | {on['rps']:,.1f} | {on['p50_ms']:.2f} | {on['p99_ms']:.2f} "
                         f"| {off['rps']:,.1f} | {off['p50_ms']:.2f} | {off['p99_ms']:.2f} |")
        lines.append("")
        for name, plans in figures.get("explain", {}).items():
            lines += [f"EXPLAIN {name}:", "```"] + (plans if isinstance(plans, list) else [plans]) + ["```", ""]
    return "\n".join(lines)


def measure_set(label, bin_dir, tools, args, work):
    s = args.scale
    out = {"label": label, "bin_dir": str(bin_dir)}
    stack = Stack(label, bin_dir, work)
    log(f"[{label}] stack: ci/dev up --detach on ports {stack.port}..{stack.port + 10}")
    started = time.perf_counter()
    stack.up()
    out["stack_up_s"] = round(time.perf_counter() - started, 2)
    try:
        time.sleep(2 if args.smoke else 5)
        out["rss_idle_kib"] = {svc: proc_stat(stack.pid(svc))["rss_kib"] for svc in stack.services()}

        detail = detail_path(stack)
        detail_step(label, stack, tools, args, out, detail)
        proxy_step(label, stack, args, work, out, detail)

        checkout_step(label, stack, tools, args, work, out)

        log(f"[{label}] loadgen shopper mix: {s['users']} users for {s['seconds']}s through the gateway")
        cpu_before = services_cpu(stack)
        mix = loadgen(tools, stack.url, "shopper", s["users"], s["seconds"], work, f"mix-{label}")
        cpu_after = services_cpu(stack)
        out["mix"] = mix
        check_step("loadgen shopper mix", {"all requests": mix["total"]})
        requests = max(mix["total"]["count"], 1)
        out["cpu_s_per_1000_requests"] = {
            svc: round((cpu_after[svc] - cpu_before[svc]) * 1000 / requests, 3) for svc in cpu_after}

        search_step(label, stack, args, work, out)
        out["rss_peak_kib"] = {svc: proc_stat(stack.pid(svc))["hwm_kib"] for svc in stack.services()}

        log(f"[{label}] exec -> ready per service ({s['exec_runs']} starts each, median)")
        out["exec_ready_ms"] = {}
        for svc in stack.services():
            times = []
            for _ in range(s["exec_runs"]):
                process = stack.spawn(svc)
                times.append(process.wait_ready(process.ready_url))
                process.stop()
            out["exec_ready_ms"][svc] = round(statistics.median(times) * 1000, 1)

        if label == "current" and not args.smoke:
            out["frontend"] = frontend_report(stack.url, work)
    finally:
        log(f"[{label}] stack down")
        stack.down()
    return out


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise SystemExit(f"ci/bench: nothing listens on {port}")


def wait_drained(order_db, product_db, timeout=60.0):
    """Seconds until the outbox has published every event and the product service has committed
    the reservation of every paid order (the effect of order.paid), or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = int(psql(order_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        paid = int(psql(order_db, "SELECT count(*) FROM orders WHERE status = 'paid'"))
        committed = int(psql(product_db, "SELECT count(*) FROM reservations WHERE status = 'committed'"))
        if pending == 0 and committed >= paid:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


def seed_catalog(db, count):
    psql(db, CATALOG_SQL.replace("{count}", str(count)))
    psql(db, "ANALYZE")


def resolve_cursors(product, shapes):
    """Shapes whose cursor is `*` get the first page's next_cursor."""
    resolved = []
    for name, query in shapes:
        if "cursor=*" in query:
            first = query.replace("&cursor=*", "")
            _, page = http(f"{product}/api/v1/products?limit=20&{first}")
            query = f"{first}&cursor={urllib.parse.quote(page['next_cursor'] or '', safe='')}"
        resolved.append((name, query))
    return resolved


def frontend_report(url, work):
    dist = ROOT / "frontend/dist/index.html"
    if not dist.exists() or not (ROOT / "frontend/e2e/node_modules").exists():
        return {"note": "the storefront is not built here (ci/frontend-build)"}
    env = dict(os.environ, ARTIFACTS_DIR=str(work))
    subprocess.run([str(ROOT / "ci/frontend-report"), url], check=True, cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = json.loads((Path(work) / "frontend-report.json").read_text())
    code = [row for row in report["files"] if re.search(r"\.(wasm|js)$", row["file"])]
    return {
        "wasm_js_raw": sum(r["raw"] for r in code), "wasm_js_gzip": sum(r["gzip"] for r in code),
        "wasm_js_brotli": sum(r["brotli"] for r in code), "first_catalog_render_ms": report["median"]["catalog"],
        "app_first_render_ms": report["median"]["app"],
    }


def local_limit(tools, work, seconds, connections):
    bare_port, nginx_port = free_port(), free_port()
    bare = subprocess.Popen([str(Path(tools) / "bare-http"), f"127.0.0.1:{bare_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nginx = start_nginx(work, "limit", f"""
  access_log off;
  server {{ listen 127.0.0.1:{nginx_port}; location / {{ return 200 "ok"; }} }}""")
    try:
        wait_port(bare_port)
        wait_port(nginx_port)
        return {
            "bare axum handler": wrk(f"http://127.0.0.1:{bare_port}/", seconds, connections),
            "nginx return 200": wrk(f"http://127.0.0.1:{nginx_port}/", seconds, connections),
        }
    finally:
        bare.terminate()
        bare.wait()
        stop_nginx(nginx)


def snapshot(bin_dir, work, name, binaries):
    """A copy of the binaries measured: the release folder is shared by every build on the
    machine, and a build finishing mid-run must not swap a service under the benchmark."""
    folder = Path(work) / f"bin-{name}"
    folder.mkdir()
    for binary in binaries:
        source = Path(bin_dir) / binary
        if not source.exists():
            raise SystemExit(f"ci/bench: no {source}")
        shutil.copy2(source, folder / binary)
    return folder


def check_step(name, figures):
    """A step broke (not a figure: a figure never fails the run) when it measured nothing or
    some answer was not the expected one."""
    problems = []
    for row, v in figures.items():
        if "rps" in v and (v["rps"] <= 0 or v["non_2xx"] > 0):
            problems.append(f"{row}: {v['rps']} req/s, {v['non_2xx']} answers not 2xx")
        if "count" in v and (v["count"] == 0 or v["failed"] == v["count"]):
            problems.append(f"{row}: {v['count']} requests, {v['failed']} failed")
    if problems:
        raise SystemExit(f"ci/bench: step '{name}' broke: " + "; ".join(problems))


def image_sizes():
    images = ROOT / "target/images"
    return {p.name.removesuffix(".oci.tar"): p.stat().st_size for p in sorted(images.glob("*.oci.tar"))}


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "kernel": platform.release(),
            "load_before": os.getloadavg()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the current build's binaries (services, loadgen, bare-http)")
    parser.add_argument("--baseline")
    parser.add_argument("--baseline-label")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", help="the report (default BENCHMARKS.md; with --only, printed instead)")
    parser.add_argument("--json", help="the figures (default docs/benchmarks.json; with --only, none)")
    # A step alone, for working on it: its figures are printed (and written where --out and
    # --json say), never into BENCHMARKS.md, which holds whole runs.
    parser.add_argument("--only", choices=["detail", "proxy", "search", "checkout"], help="run this step alone, on a stack of each set")
    args = parser.parse_args()
    if not args.only:
        args.out = args.out or str(ROOT / "BENCHMARKS.md")
        args.json = args.json or str(ROOT / "docs/benchmarks.json")
    args.scale = ({"seconds": 1, "connections": 8, "users": 4, "products": 2000, "exec_runs": 1}
                  if args.smoke else
                  {"seconds": 10, "connections": 32, "users": 32, "products": 100_000, "exec_runs": 5})
    args.explain = True
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
              "work_tree_changed": bool(dirty), "machine": machine(), "smoke": args.smoke,
              "scale": args.scale, "sets": {}}
    try:
        tools = {None: ["loadgen", "bare-http"], "detail": ["bare-http"], "proxy": [], "search": [], "checkout": ["loadgen"]}[args.only]
        current = snapshot(args.bin, work, "current", SERVICES + tools)
        baseline = snapshot(args.baseline, work, "baseline", SERVICES) if args.baseline else None
        if args.only:
            if baseline:
                result["sets"]["baseline"] = step_only(args.only, "baseline", baseline, current, args, work)
                result["sets"]["baseline"]["label"] = args.baseline_label or args.baseline
            result["sets"]["current"] = step_only(args.only, "current", current, current, args, work)
            result["sets"]["current"]["label"] = f"{commit}{' (work tree changed)' if dirty else ''}"
            result["machine"]["load_after"] = os.getloadavg()
        else:
            log(f"local limit: a bare axum handler and nginx return 200, {args.scale['seconds']}s each")
            result["local_limit"] = local_limit(current, work, args.scale["seconds"], args.scale["connections"])
            check_step("local limit", result["local_limit"])
            if baseline:
                result["sets"]["baseline"] = measure_set("baseline", baseline, current, args, work)
                result["sets"]["baseline"]["label"] = args.baseline_label or args.baseline
            result["sets"]["current"] = measure_set("current", current, current, args, work)
            result["sets"]["current"]["label"] = f"{commit}{' (work tree changed)' if dirty else ''}"
            result["images"] = image_sizes()
            result["machine"]["load_after"] = os.getloadavg()
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    report = {None: render, "detail": detail_table, "proxy": proxy_table, "search": search_table, "checkout": checkout_table}[args.only](result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.out:
        Path(args.out).write_text(report)
        log(f"wrote {args.out}{f' and {args.json}' if args.json else ''}")
    else:
        print(report)


if __name__ == "__main__":
    # No __pycache__ left in the checkout.
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_report import render  # noqa: E402

    main()
