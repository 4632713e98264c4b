"""The driver of ci/faults and ci/soak: steady scenario load through the gateway that records
every request and answer, the fault schedule, and the checks of the databases and the broker.

ci/faults starts the stack (ci/dev) and runs `faults.py faults ...`; ci/soak runs
`faults.py soak ...`. Processes are killed, stopped and started through `ci/faults ctl`, which
uses the launcher's own functions, so a restarted process is started exactly as ci/dev starts
it. The order service reaches the product service through the proxy in this process
(PRODUCT_URL), which can delay or cut that link.

Every request is one record (start and end on one clock, operation, route template, status or
connection error, Retry-After, problem type, Idempotency-Key, order id). The verdicts are
computed from the records and from PostgreSQL and RabbitMQ after the shop has settled, never
from what the driver believes happened.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import errno
import json
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import aiohttp
import pika
import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("gateway", "user", "product", "order", "web")
# Port offsets of ci/dev (ci/lib-dev.sh, DEV_PORT_OFFSET); the gateway's /readyz is on its ops port.
OPS_OFFSET = {"gateway": 10, "user": 1, "product": 2, "order": 3, "web": 4}

# The gateway's timeouts (its defaults: UPSTREAM_TIMEOUT_MS, CHECKOUT_TIMEOUT_MS): an answer later
# than these plus a margin is a hang.
UPSTREAM_TIMEOUT = 10.0
CHECKOUT_TIMEOUT = 30.0
HANG_MARGIN = 2.0
# How long a shopper keeps retrying one checkout (503, in progress, no connection) with its key:
# past the order service's PENDING_ORDER_TTL_SECS (20 s in the suite), after which an abandoned
# key is freed, plus a retry's own wait.
CHECKOUT_RETRY_FOR = 60.0
# Services must be ready again, and the shop selling, this long after a fault ends.
RECOVERY_BOUND = 10.0
# After a fault has ended and the shop recovered, the gateway's circuit breaker may still hold
# a failing upstream open for its cool-down (BREAKER_COOLDOWN_MS, 2 s in the suite): answers in
# this time still belong to the fault.
GRACE = 3.0
# Once the load stops, what failures left behind must be settled within this: abandoned orders
# cancelled (20 s in the suite), their reservations released or expired (85 s), the outbox
# published and the queue drained.
SETTLE_LIMIT = 150.0

PLENTY_STOCK = 1_000_000
SCARCE_STOCK = 40
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
ADDRESS = {
    "recipient": "Fault Suite",
    "line1": "1 Chaos Street",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}

# Connection-level failures the client sees, by what a client can tell.
REFUSED, RESET, DISCONNECTED, TIMEOUT = "refused", "reset", "disconnected", "timeout"

clock = time.monotonic


def say(*parts: object) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------------------------------------
# The stack


class Stack:
    """What ci/dev recorded about a running stack: ports, databases, queue, PIDs."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state = state_dir
        settings = dict(
            re.findall(r"^(\w+)=(\S*)$", (state_dir / "stack.env").read_text(), re.M)
        )
        self.suffix = settings["DEV_SUFFIX"]
        self.url = f"http://127.0.0.1:{port}"
        self.ops = {svc: f"http://127.0.0.1:{port + off}" for svc, off in OPS_OFFSET.items()}
        self.pg_port = int(settings["DEV_PG_AT"])
        self.amqp_port = int(settings["DEV_AMQP_AT"])
        self.queue = f"product.order-events.{self.suffix}"
        self.admin_password = (state_dir / "secrets" / "admin-password").read_text().strip()

    def db(self, service: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.pg_port,
            user="postgres",
            dbname=f"ecommerce_{service}_{self.suffix}",
            connect_timeout=3,
            autocommit=True,
        )

    def query(self, service: str, sql: str, *params: object) -> list[tuple]:
        with self.db(service) as conn:
            return conn.execute(sql, params).fetchall()

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """(messages ready, consumers) of the product service's queue and its dead-letter queue."""
        params = pika.ConnectionParameters(
            host="127.0.0.1",
            port=self.amqp_port,
            credentials=pika.PlainCredentials("guest", "guest"),
            connection_attempts=1,
            socket_timeout=3,
            blocked_connection_timeout=3,
        )
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            depths = {}
            for name in (self.queue, f"{self.queue}.dlq"):
                method = channel.queue_declare(queue=name, passive=True).method
                depths[name] = (method.message_count, method.consumer_count)
            return depths
        finally:
            connection.close()

    def pid(self, name: str) -> int | None:
        """The PID of a process ci/dev (or ctl) started, when it still runs."""
        try:
            pid, start = (self.state / "run" / f"{name}.pid").read_text().split()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return int(pid) if fields[0] != "Z" and fields[19] == start else None

    def pids(self) -> dict[str, int | None]:
        return {svc: self.pid(svc) for svc in SERVICES}

    def rss_mib(self, name: str) -> float | None:
        pid = self.pid(name)
        if pid is None:
            return None
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) / 1024 if match else None

    async def ctl(self, action: str, name: str, *settings: str) -> None:
        """`ci/faults ctl`: act on one process of the stack; raises when it fails."""
        command = [str(ROOT / "ci" / "faults"), "ctl", action, name, *settings,
                   "--state-dir", str(self.state)]
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ci/faults ctl {action} {name}: {done.stderr.strip()}")

    async def readiness(self, session: aiohttp.ClientSession, svc: str) -> str | None:
        """The /readyz status (`ready`, `degraded`, `not_ready`, ...), None when nothing answers."""
        try:
            async with session.get(f"{self.ops[svc]}/readyz",
                                   timeout=aiohttp.ClientTimeout(total=2.5)) as resp:
                body = await resp.json(content_type=None)
                return body.get("status") if isinstance(body, dict) else str(resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None


# ---------------------------------------------------------------------------------------------
# The proxy between the order and the product service


class Proxy:
    """A TCP forwarder that adds latency to every chunk in both directions, or cuts the link:
    it stops listening (new connections are refused) and drops every open connection."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target = target_port
        self.delay = 0.0
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.links.update((client_w, server_w))
        try:
            await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))
        except asyncio.CancelledError:
            pass  # the suite is ending: the link goes with it
        finally:
            for writer in (client_w, server_w):
                self.links.discard(writer)
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Each chunk is delivered `delay` after it was read, in order: latency, not a slower
        # line, so that a request can arrive (and be acted on) after its caller gave up.
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.close()
                    return
                if due > clock():
                    await asyncio.sleep(due - clock())
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(65536)
                queue.put_nowait((clock() + self.delay, chunk))
                if not chunk:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()


# ---------------------------------------------------------------------------------------------
# Recording client


@dataclass
class Record:
    """One request and its answer, as the client saw it."""

    start: float
    end: float
    vu: int
    op: str
    method: str
    route: str
    status: int = 0
    error: str | None = None
    retry_after: str | None = None
    content_type: str | None = None
    problem: str | None = None
    key: str | None = None
    order: str | None = None
    limit: float = UPSTREAM_TIMEOUT + HANG_MARGIN


@dataclass
class Checkout:
    """One checkout as a shopper lives it: every attempt under one Idempotency-Key."""

    key: str
    vu: int
    user_id: str
    start: float
    end: float = 0.0
    final: int | str = 0
    order: str | None = None
    orders_seen: set[str] = field(default_factory=set)
    attempts: int = 0
    declined_card: bool = False
    lines: dict[str, int] = field(default_factory=dict)
    cancel: int | str | None = None


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.records: list[Record] = []
        self.checkouts: list[Checkout] = []
        self.t0 = clock()
        # A connection per request: a request either reaches a listening gateway and must be
        # answered, or is refused; no pooled connection can be closed under it by a restart.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(self, vu: int, op: str, method: str, path: str, route: str, *,
                   token: str | None = None, body: object = None,
                   headers: dict[str, str] | None = None,
                   limit: float = UPSTREAM_TIMEOUT + HANG_MARGIN) -> tuple[Record, object]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        record = Record(start=clock(), end=0.0, vu=vu, op=op, method=method, route=route,
                        limit=limit, key=sent.get("Idempotency-Key"))
        data: object = None
        try:
            async with self.session.request(method, self.base + path, json=body, headers=sent,
                                            timeout=aiohttp.ClientTimeout(total=limit)) as resp:
                raw = await resp.read()
                record.status = resp.status
                record.retry_after = resp.headers.get("Retry-After")
                record.content_type = resp.headers.get("Content-Type", "").split(";")[0]
                if record.content_type.endswith("json") and raw:
                    data = json.loads(raw)
                    if isinstance(data, dict):
                        record.problem = data.get("type") if resp.status >= 400 else None
                        instance = data.get("instance") or ""
                        if op == "checkout" and resp.status == 201:
                            record.order = data.get("id")
                        elif op == "checkout" and instance.startswith("/api/v1/orders/"):
                            record.order = instance.rsplit("/", 1)[1]
        except asyncio.TimeoutError:
            record.error = TIMEOUT
        except aiohttp.ClientConnectorError as error:
            record.error = REFUSED if error.os_error.errno == errno.ECONNREFUSED else RESET
        except aiohttp.ServerDisconnectedError:
            record.error = DISCONNECTED
        except (aiohttp.ClientError, OSError, ValueError):
            record.error = RESET
        record.end = clock()
        self.records.append(record)
        return record, data


# ---------------------------------------------------------------------------------------------
# The shoppers


@dataclass
class Shopper:
    vu: int
    email: str
    password: str
    user_id: str = ""
    token: str = ""


class Load:
    """Virtual users, each looping over a shopper's scenario, paced so that each starts a
    request every `len(shoppers) / rate` seconds on average (jittered), however long the
    answers take while the shop keeps up: the whole load is then about `rate` requests a
    second. With `rate` 0 they run at full speed."""

    def __init__(self, client: Client, shoppers: list[Shopper], plenty: list[str],
                 scarce: list[str], rate: float, seed: int) -> None:
        self.client = client
        self.shoppers = shoppers
        self.plenty = plenty
        self.scarce = scarce
        self.pause = len(shoppers) / rate if rate > 0 else 0.0
        self.random = random.Random(seed)
        self.stopping = False
        self.tasks: list[asyncio.Task] = []
        # When each shopper (its task) starts its next request.
        self.due: dict[asyncio.Task, float] = {}

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._loop(s)) for s in self.shoppers]

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*self.tasks)

    async def _think(self) -> None:
        if not self.pause:
            return
        task, now = asyncio.current_task(), clock()
        # A shopper held up by a slow answer catches up by at most one request, not in a burst.
        due = max(self.due.get(task, now), now - self.pause)
        self.due[task] = due + self.pause * self.random.uniform(0.5, 1.5)
        if self.due[task] > now:
            await asyncio.sleep(self.due[task] - now)

    async def _loop(self, shopper: Shopper) -> None:
        while not self.stopping:
            await self._iteration(shopper)

    async def _iteration(self, s: Shopper) -> None:
        c, r = self.client, self.random
        if r.random() < 0.05:
            await self.login(s)
            await self._think()
        query = r.choice(["?limit=20", "?q=shirt&limit=10", "?sort=price_asc&limit=10",
                          "?q=lamp&limit=5"])
        await c.call(s.vu, "browse", "GET", f"/api/v1/products{query}", "/api/v1/products",
                     token=s.token)
        await self._think()
        product = r.choice(self.plenty + self.scarce)
        await c.call(s.vu, "product", "GET", f"/api/v1/products/{product}",
                     "/api/v1/products/{id}", token=s.token)
        await self._think()
        if r.random() < 0.2:
            await c.call(s.vu, "categories", "GET", "/api/v1/categories", "/api/v1/categories")
            await self._think()
        if r.random() < 0.2:
            await c.call(s.vu, "storefront", "GET", "/", "/")
            await self._think()
        # The cart holds exactly what this checkout buys: whatever an earlier one left goes.
        record, cart = await c.call(s.vu, "cart", "GET", "/api/v1/cart", "/api/v1/cart",
                                    token=s.token)
        await self._think()
        if record.status == 200 and isinstance(cart, dict):
            for item in cart.get("items", []) + cart.get("unavailable", []):
                pid = item.get("product_id") or item.get("product", {}).get("product_id")
                if pid:
                    await c.call(s.vu, "cart-remove", "DELETE", f"/api/v1/cart/items/{pid}",
                                 "/api/v1/cart/items/{product_id}", token=s.token)
                    await self._think()
        lines = {r.choice(self.plenty): r.randint(1, 3)}
        if r.random() < 0.1:
            lines[r.choice(self.scarce)] = r.randint(1, 2)
        for pid, quantity in lines.items():
            await c.call(s.vu, "cart-put", "PUT", f"/api/v1/cart/items/{pid}",
                         "/api/v1/cart/items/{product_id}", token=s.token,
                         body={"quantity": quantity})
            await self._think()
        # What the checkout buys is the cart as the shopper sees it now: a removal or a put
        # that failed during a fault leaves it other than planned.
        record, cart = await c.call(s.vu, "cart", "GET", "/api/v1/cart", "/api/v1/cart",
                                    token=s.token)
        await self._think()
        if record.status != 200 or not isinstance(cart, dict) or not cart.get("items"):
            return
        lines = {item["product_id"]: item["quantity"] for item in cart["items"]}
        checkout = await self.checkout(s, lines, declined=r.random() < 0.05)
        await self._think()
        await c.call(s.vu, "orders", "GET", "/api/v1/orders?limit=5", "/api/v1/orders",
                     token=s.token)
        await self._think()
        if checkout.final == 201 and checkout.order and r.random() < 0.1:
            await self.cancel(s, checkout)
            await self._think()

    async def login(self, s: Shopper) -> None:
        deadline = clock() + CHECKOUT_RETRY_FOR
        while True:
            record, data = await self.client.call(
                s.vu, "login", "POST", "/api/v1/auth/login", "/api/v1/auth/login",
                body={"email": s.email, "password": s.password})
            if record.status == 200 and isinstance(data, dict):
                s.token = data["access_token"]
                return
            if clock() > deadline or not retryable(record, data):
                return
            await asyncio.sleep(retry_delay(record))

    async def checkout(self, s: Shopper, lines: dict[str, int], declined: bool) -> Checkout:
        key = str(uuid.uuid4())
        checkout = Checkout(key=key, vu=s.vu, user_id=s.user_id, start=clock(),
                            declined_card=declined, lines=lines)
        body = {
            "shipping_address": ADDRESS,
            "card": {"number": CARD_DECLINED if declined else CARD_OK, "exp_month": 12,
                     "exp_year": 2030, "cvc": "123"},
        }
        while True:
            checkout.attempts += 1
            record, data = await self.client.call(
                s.vu, "checkout", "POST", "/api/v1/checkout", "/api/v1/checkout",
                token=s.token, body=body, headers={"Idempotency-Key": key},
                limit=CHECKOUT_TIMEOUT + HANG_MARGIN)
            if record.order:
                checkout.orders_seen.add(record.order)
            checkout.final = record.status or record.error or 0
            checkout.order = record.order
            if clock() - checkout.start > CHECKOUT_RETRY_FOR or not retryable(record, data):
                break
            await asyncio.sleep(retry_delay(record))
        checkout.end = clock()
        self.client.checkouts.append(checkout)
        return checkout

    async def cancel(self, s: Shopper, checkout: Checkout) -> None:
        deadline = clock() + CHECKOUT_RETRY_FOR
        while True:
            record, data = await self.client.call(
                s.vu, "cancel", "POST", f"/api/v1/orders/{checkout.order}/cancel",
                "/api/v1/orders/{id}/cancel", token=s.token)
            checkout.cancel = record.status or record.error
            if clock() > deadline or not retryable(record, data):
                return
            await asyncio.sleep(retry_delay(record))


def retryable(record: Record, data: object) -> bool:
    """What a well-behaved client retries: a 503, no answer at all, or a 409 saying the same
    Idempotency-Key is still being processed."""
    if record.error or record.status == 503:
        return True
    if record.status == 409 and isinstance(data, dict):
        return any(e.get("code") == "in_progress" for e in data.get("errors") or [])
    return False


def retry_delay(record: Record) -> float:
    try:
        return min(float(record.retry_after), 5.0) if record.retry_after else 1.0
    except ValueError:
        return 1.0


# ---------------------------------------------------------------------------------------------
# Setup


async def setup(stack: Stack, client: Client, shoppers: int, run: str
                ) -> tuple[list[Shopper], list[str], list[str], dict[str, int]]:
    """Shoppers registered, products chosen and stocked; returns the stock they start with."""
    record, data = await client.call(-1, "setup", "POST", "/api/v1/auth/login",
                                     "/api/v1/auth/login",
                                     body={"email": "admin@shop.local",
                                           "password": stack.admin_password})
    if record.status != 200:
        raise RuntimeError(f"admin login answered {record.status or record.error}")
    admin = data["access_token"]
    record, data = await client.call(-1, "setup", "GET", "/api/v1/products?limit=50",
                                     "/api/v1/products")
    products = [p["id"] for p in data["items"] if p.get("active", True)]
    if len(products) < 6:
        raise RuntimeError("the demo catalog has fewer than 6 products")
    plenty, scarce = products[:4], products[4:6]
    for pid, stock in [(p, PLENTY_STOCK) for p in plenty] + [(p, SCARCE_STOCK) for p in scarce]:
        record, _ = await client.call(-1, "setup", "PUT", f"/api/v1/admin/products/{pid}/stock",
                                      "/api/v1/admin/products/{id}/stock", token=admin,
                                      body={"available": stock})
        if record.status != 200:
            raise RuntimeError(f"setting the stock answered {record.status or record.error}")
    people = []
    for vu in range(shoppers):
        shopper = Shopper(vu=vu, email=f"shopper{vu}-{run}@faults.test",
                          password="correct horse battery staple")
        record, data = await client.call(-1, "setup", "POST", "/api/v1/auth/register",
                                         "/api/v1/auth/register",
                                         body={"email": shopper.email,
                                               "password": shopper.password,
                                               "display_name": f"Shopper {vu}"})
        if record.status != 201:
            raise RuntimeError(f"registering a shopper answered {record.status or record.error}")
        shopper.user_id, shopper.token = data["user"]["id"], data["access_token"]
        people.append(shopper)
    start = dict(stack.query("product",
                             "SELECT product_id::text, on_hand FROM inventory "
                             "WHERE product_id = ANY(%s::uuid[])", plenty + scarce))
    client.records.clear()
    return people, plenty, scarce, start


async def documented_statuses(client: Client) -> dict[tuple[str, str], set[int]]:
    """Each operation's documented statuses, from the gateway's OpenAPI document."""
    async with client.session.get(client.base + "/api/v1/openapi.json") as resp:
        document = await resp.json()
    statuses = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                statuses[(method.upper(), path)] = {
                    int(code) for code in operation["responses"] if code.isdigit()}
    return statuses


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    """One fault as it happened: when it started, when the dependency was back, when the shop
    had recovered (every service ready, a checkout paid, the consumer back)."""

    name: str
    kind: str
    start: float
    back: float = 0.0
    ready: float | None = None
    serving: float | None = None
    consuming: float | None = None
    restarted: list[str] = field(default_factory=list)
    gateway_down: bool = False
    graceful: bool = False
    error: str | None = None

    @property
    def recovered(self) -> float | None:
        times = [self.ready, self.serving, self.consuming]
        return None if None in times else max(times)

    @property
    def recovery(self) -> float | None:
        return None if self.recovered is None else max(0.0, self.recovered - self.back)

    @property
    def window_end(self) -> float:
        return (self.recovered or self.back + RECOVERY_BOUND) + GRACE


class Schedule:
    def __init__(self, stack: Stack, client: Client, proxy: Proxy) -> None:
        self.stack = stack
        self.client = client
        self.proxy = proxy
        self.faults: list[Fault] = []

    async def recover(self, fault: Fault, consumer: bool = False) -> None:
        """Waits (at most RECOVERY_BOUND past its bound, to measure) for every service to be
        ready, a checkout sent after the fault ended to be paid, and for a RabbitMQ outage, the
        product service consuming again."""
        fault.consuming = None if consumer else fault.back
        deadline = fault.back + 2 * RECOVERY_BOUND
        while clock() < deadline and fault.recovered is None:
            if fault.ready is None:
                states = await asyncio.gather(*(self.stack.readiness(self.client.session, s)
                                                for s in SERVICES))
                if all(state == "ready" for state in states):
                    fault.ready = clock()
            if fault.serving is None:
                paid = [r.end for r in self.client.records
                        if r.op == "checkout" and r.status == 201 and r.start >= fault.back]
                fault.serving = min(paid) if paid else None
            if fault.consuming is None:
                try:
                    depths = await asyncio.to_thread(self.stack.queue_depths)
                    if depths[self.stack.queue][1] >= 1:
                        fault.consuming = clock()
                except Exception:  # noqa: BLE001 - the broker is not back yet
                    pass
            await asyncio.sleep(0.1)

    async def run(self, fault: Fault, action, consumer: bool = False) -> None:
        say(f"  fault: {fault.name}")
        before = self.stack.pids()
        try:
            await action(fault)
        except Exception as error:  # noqa: BLE001 - reported as the fault's failure
            fault.error = str(error)
            fault.back = fault.back or clock()
        await self.recover(fault, consumer)
        after = self.stack.pids()
        fault.restarted = [s for s in SERVICES if before[s] != after[s]]
        self.faults.append(fault)
        rec = fault.recovery
        say(f"    back after {fault.back - fault.start:.1f} s, recovered in "
            f"{'-' if rec is None else f'{rec:.1f} s'}")
        # The steady gap before the next fault: answers here must be clean again.
        await asyncio.sleep(max(0.0, fault.window_end - clock()))

    async def kill(self, svc: str) -> None:
        async def action(fault: Fault) -> None:
            await self.stack.ctl("kill", svc)
            await self.stack.ctl("start", svc)
            fault.back = clock()
        await self.run(Fault(f"kill -9 {svc}", "kill", clock(), gateway_down=svc == "gateway"),
                       action)

    async def term(self, svc: str) -> None:
        async def action(fault: Fault) -> None:
            await self.stack.ctl("term", svc)
            await self.stack.ctl("start", svc)
            fault.back = clock()
        await self.run(Fault(f"SIGTERM {svc}", "term", clock(), gateway_down=svc == "gateway",
                             graceful=True), action)

    async def outage(self, server: str, seconds: float) -> None:
        async def action(fault: Fault) -> None:
            await self.stack.ctl("stop", server)
            await asyncio.sleep(max(0.0, fault.start + seconds - clock()))
            await self.stack.ctl("start", server)
            fault.back = clock()
        await self.run(Fault(f"{server} down {seconds:.0f} s", "outage", clock()), action,
                       consumer=server == "rabbitmq")

    async def payment(self, name: str, setting: str, seconds: float) -> None:
        async def action(fault: Fault) -> None:
            await self.stack.ctl("term", "order")
            await self.stack.ctl("start", "order", setting)
            await asyncio.sleep(max(0.0, fault.start + seconds - clock()))
            await self.stack.ctl("term", "order")
            await self.stack.ctl("start", "order")
            fault.back = clock()
        await self.run(Fault(name, "payment", clock(), graceful=True), action)

    async def link(self, name: str, seconds: float, delay: float | None) -> None:
        async def action(fault: Fault) -> None:
            if delay is None:
                await self.proxy.cut()
            else:
                self.proxy.delay = delay
            await asyncio.sleep(seconds)
            if delay is None:
                await self.proxy.start()
            self.proxy.delay = 0.0
            fault.back = clock()
        await self.run(Fault(name, "link", clock()), action)

    async def all(self, outage: float, window: float) -> None:
        for svc in SERVICES:
            await self.kill(svc)
        for svc in SERVICES:
            await self.term(svc)
        for server in ("postgres", "redis", "rabbitmq"):
            await self.outage(server, outage)
        await self.payment("payment slow (3 s, timeout 2 s)", "PAYMENT_TEST_LATENCY_MS=3000",
                           window)
        await self.payment("payment failing (50%)", "PAYMENT_TEST_FAILURE_RATE=0.5", window)
        await self.link("order→product +0.7 s each way", window, 0.7)
        await self.link("order→product cut", window, None)


# ---------------------------------------------------------------------------------------------
# Settling and the checks


async def settle(stack: Stack, limit: float) -> tuple[float, str | None]:
    """Waits until the outbox is published, the queue drained, no order pending and no stock
    held: what the shop does by itself once the load stops. Returns how long it took and, when
    it did not settle within `limit`, what was left (the checks then run on that state)."""
    start = clock()
    while True:
        unpublished = stack.query("order", "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
        pending = stack.query("order", "SELECT count(*) FROM orders WHERE status = 'pending'")[0][0]
        held = stack.query("product", "SELECT count(*) FROM reservations WHERE status = 'reserved'")[0][0]
        depths = await asyncio.to_thread(stack.queue_depths)
        queued = depths[stack.queue][0]
        if unpublished == pending == held == queued == 0:
            return clock() - start, None
        if clock() - start > limit:
            return clock() - start, (
                f"not within {limit:.0f} s: {unpublished} events unpublished, {queued} queued, "
                f"{pending} orders pending, {held} reservations held")
        await asyncio.sleep(0.5)


@dataclass
class Violation:
    check: str
    detail: str
    start: float | None = None
    end: float | None = None


PAID = ("paid", "shipped", "delivered")


@dataclass
class Snapshot:
    """What the databases and the broker hold about the run's shoppers and products once the
    shop has settled: the input of the invariants, read in one place so that the checks are a
    function of it (and can be shown to fail on a snapshot broken on purpose: `self-test`)."""

    orders: dict[str, tuple[str, str]]
    payments: dict[str, list[tuple[str, str | None]]]
    lines: dict[str, dict[str, int]]
    events: dict[str, list[tuple[str, str, bool]]]
    reservations: dict[str, str]
    reserved_lines: dict[str, dict[str, int]]
    processed: collections.Counter
    inventory: dict[str, tuple[int, int]]
    depths: dict[str, tuple[int, int]]


def snapshot(stack: Stack, shoppers: list[Shopper], products: list[str]) -> Snapshot:
    users = [s.user_id for s in shoppers]
    orders = {oid: (status, user) for oid, status, user in stack.query(
        "order", "SELECT id::text, status, user_id::text FROM orders WHERE user_id = ANY(%s::uuid[])",
        users)}
    ids = list(orders)
    payments = collections.defaultdict(list)
    for oid, status, provider_id in stack.query(
            "order", "SELECT order_id::text, status, provider_payment_id FROM payments "
                     "WHERE order_id = ANY(%s::uuid[])", ids):
        payments[oid].append((status, provider_id))
    lines = collections.defaultdict(dict)
    for oid, pid, quantity in stack.query(
            "order", "SELECT order_id::text, product_id::text, quantity FROM order_lines "
                     "WHERE order_id = ANY(%s::uuid[])", ids):
        lines[oid][pid] = quantity
    events = collections.defaultdict(list)
    for oid, event_id, kind, published in stack.query(
            "order", "SELECT aggregate_id::text, event_id::text, routing_key, published_at IS NOT NULL "
                     "FROM outbox WHERE aggregate_id = ANY(%s::uuid[])", ids):
        events[oid].append((event_id, kind, published))
    reservations = dict(stack.query(
        "product", "SELECT order_id::text, status FROM reservations WHERE order_id = ANY(%s::uuid[])",
        ids))
    reserved_lines = collections.defaultdict(dict)
    for oid, pid, quantity in stack.query(
            "product", "SELECT order_id::text, product_id::text, quantity FROM reservation_lines "
                       "WHERE order_id = ANY(%s::uuid[])", ids):
        reserved_lines[oid][pid] = quantity
    processed = collections.Counter(eid for (eid,) in stack.query(
        "product", "SELECT event_id::text FROM processed_events WHERE order_id = ANY(%s::uuid[])",
        ids))
    inventory = {pid: (on_hand, reserved) for pid, on_hand, reserved in stack.query(
        "product", "SELECT product_id::text, on_hand, reserved FROM inventory "
                   "WHERE product_id = ANY(%s::uuid[])", products)}
    return Snapshot(orders, payments, lines, events, reservations, reserved_lines, processed,
                    inventory, stack.queue_depths())


def check_data(snap: Snapshot, checkouts: list[Checkout], stock_start: dict[str, int],
               queue: str) -> tuple[list[Violation], dict[str, object]]:
    """The invariants, from the databases and the broker (`snap`), against the checkouts as the
    shoppers lived them."""
    orders, payments, lines, events = snap.orders, snap.payments, snap.lines, snap.events
    reservations, reserved_lines = snap.reservations, snap.reserved_lines
    processed, inventory, depths = snap.processed, snap.inventory, snap.depths

    violations: list[Violation] = []

    def fail(check: str, detail: str, c: Checkout | None = None) -> None:
        violations.append(Violation(check, detail, c.start if c else None, c.end if c else None))

    by_order: dict[str, Checkout] = {}
    for c in checkouts:
        if len(c.orders_seen) > 1 and c.final == 201:
            fail("one order per key", f"key {c.key} answered orders {sorted(c.orders_seen)}", c)
        if c.final == 201 and c.order:
            if c.order in by_order:
                fail("201 exactly once", f"order {c.order} answered to two keys", c)
            by_order[c.order] = c
    answered_201 = set(by_order)

    def event_kinds(oid: str) -> collections.Counter:
        return collections.Counter(kind for _, kind, _ in events[oid])

    for oid, c in by_order.items():
        if oid not in orders:
            fail("201 is an order", f"order {oid} (201) is not in the orders table", c)
            continue
        status = orders[oid][0]
        pay = payments[oid]
        kinds = event_kinds(oid)
        cancelled = status == "cancelled" and c.cancel is not None
        if status not in PAID and not cancelled:
            fail("201 is paid", f"order {oid} answered 201 is {status}", c)
        want_payment = "refunded" if cancelled else "succeeded"
        if [p[0] for p in pay] != [want_payment] or not pay[0][1]:
            fail("paid exactly once", f"order {oid} ({status}): payments {pay}", c)
        if kinds["order.placed"] != 1 or kinds["order.paid"] != 1 or \
                kinds["order.cancelled"] != (1 if cancelled else 0):
            fail("events exactly once", f"order {oid} ({status}): outbox {dict(kinds)}", c)
        want_reservation = "released" if cancelled else "committed"
        if reservations.get(oid) != want_reservation:
            fail("stock sold once", f"order {oid} ({status}): reservation {reservations.get(oid)}", c)
        if reserved_lines.get(oid) != lines.get(oid) or lines.get(oid) != c.lines:
            fail("stock sold once", f"order {oid}: ordered {lines.get(oid)}, reserved "
                 f"{reserved_lines.get(oid)}, put in the cart {c.lines}", c)
        if c.cancel == 200 and status != "cancelled":
            fail("cancel sticks", f"order {oid}: cancel answered 200, order is {status}", c)

    failed_by_order = {c.order: c for c in checkouts if c.final != 201 and c.order}
    for oid, (status, _) in orders.items():
        if oid in answered_201:
            continue
        c = failed_by_order.get(oid)
        pay = [p[0] for p in payments[oid]]
        if status in PAID or "succeeded" in pay:
            fail("no paid order without a 201", f"order {oid} is {status}, payments {pay}", c)
        if status == "pending":
            fail("no order left pending", f"order {oid} is pending", c)
        if reservations.get(oid) in ("reserved", "committed"):
            fail("failed checkouts hold no stock",
                 f"order {oid} ({status}): reservation {reservations[oid]}", c)
        if event_kinds(oid)["order.paid"]:
            fail("no paid order without a 201", f"order {oid} ({status}) published order.paid", c)

    # Every event published once; each the product service acts on applied once.
    for oid, evs in events.items():
        for event_id, kind, published in evs:
            if not published:
                fail("events published", f"{kind} {event_id} of order {oid} is not published")
            if kind in ("order.paid", "order.cancelled") and processed[event_id] != 1:
                fail("events applied once",
                     f"{kind} {event_id} of order {oid} applied {processed[event_id]} times",
                     by_order.get(oid) or failed_by_order.get(oid))
    known = {e[0] for evs in events.values() for e in evs}
    for event_id in processed:
        if event_id not in known:
            fail("events applied once", f"processed event {event_id} is in no outbox")

    # Conservation: what left the shelf is what was sold, per product, counted three ways.
    sold_orders = collections.Counter()
    for oid, (status, _) in orders.items():
        if status in PAID:
            sold_orders.update(lines[oid])
    sold_reservations = collections.Counter()
    held = collections.Counter()
    for oid, status in reservations.items():
        if status == "committed":
            sold_reservations.update(reserved_lines[oid])
        elif status == "reserved":
            held.update(reserved_lines[oid])
    conservation = {}
    for pid, start in stock_start.items():
        on_hand, reserved = inventory[pid]
        shelf = start - on_hand
        conservation[pid] = {"start": start, "on_hand": on_hand, "reserved": reserved,
                             "sold": sold_orders[pid]}
        if not (shelf == sold_orders[pid] == sold_reservations[pid]) or reserved != held[pid]:
            fail("stock conserved",
                 f"product {pid}: {start} at the start, {on_hand} on hand, {reserved} reserved "
                 f"({held[pid]} by open reservations), {sold_orders[pid]} in paid orders, "
                 f"{sold_reservations[pid]} in committed reservations")
        if on_hand < 0 or reserved > on_hand or sold_orders[pid] > start:
            fail("no oversell", f"product {pid}: {sold_orders[pid]} sold of {start}")

    dlq = depths[f"{queue}.dlq"][0]
    if dlq:
        fail("no dead letters", f"{dlq} messages in {queue}.dlq")
    if depths[queue][0]:
        fail("queue drained", f"{depths[queue][0]} messages left in {queue}")

    summary = {
        "orders": len(orders),
        "paid": sum(1 for s, _ in orders.values() if s in PAID),
        "checkouts": len(checkouts),
        "answered 201": len(answered_201),
        "events": sum(len(e) for e in events.values()),
        "applied": sum(processed.values()),
        "released by expiry": sum(1 for s in reservations.values() if s == "expired"),
        "conservation": conservation,
    }
    return violations, summary


def check_answers(records: list[Record], faults: list[Fault],
                  documented: dict[tuple[str, str], set[int]]) -> list[Violation]:
    """What clients saw: only documented answers; 503 problems with Retry-After only during a
    fault; connection errors only while the gateway itself is down; nothing past its timeout."""
    violations = []
    for r in records:
        fault = window_of(r, faults)
        where = f"{r.method} {r.route}"
        if r.end - r.start > r.limit - HANG_MARGIN / 2 or r.error == TIMEOUT:
            violations.append(Violation("no hang", f"{where} took {r.end - r.start:.1f} s",
                                        r.start, r.end))
        elif r.error:
            allowed = fault is not None and fault.gateway_down and (
                r.error == REFUSED or not fault.graceful)
            if not allowed:
                violations.append(Violation("no connection error",
                                            f"{where}: {r.error}", r.start, r.end))
        elif r.status == 503:
            if fault is None:
                violations.append(Violation("503 only during a fault", where, r.start, r.end))
            elif not r.retry_after or r.content_type != "application/problem+json":
                violations.append(Violation(
                    "503 is a problem with Retry-After",
                    f"{where}: Retry-After {r.retry_after}, {r.content_type}", r.start, r.end))
        elif r.status >= 500:
            violations.append(Violation("no 5xx but 503", f"{where} answered {r.status}",
                                        r.start, r.end))
        elif r.route != "/" and r.status not in documented.get((r.method, r.route), set()):
            violations.append(Violation("only documented answers",
                                        f"{where} answered {r.status} ({r.problem})",
                                        r.start, r.end))
    return violations


def window_of(r: Record | Violation, faults: list[Fault]) -> Fault | None:
    """The fault whose window the request's time overlaps, if any (the first)."""
    for f in faults:
        if r.start is not None and r.start <= f.window_end and (r.end or r.start) >= f.start:
            return f
    return None


# ---------------------------------------------------------------------------------------------
# The report


def status_summary(records: list[Record]) -> str:
    counts = collections.Counter(str(r.status) if not r.error else r.error for r in records)
    return " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(row) for row in rows)])


def fault_problems(f: Fault) -> list[str]:
    """What went wrong with the fault itself: it could not be applied, the shop did not recover
    within the bound, or a service restarted that the fault did not restart (an outage of a
    dependency must be ridden out, not survived by a crash loop)."""
    problems = []
    if f.error:
        problems.append(f"fault failed: {f.error}")
    if f.recovery is None or f.recovery > RECOVERY_BOUND:
        problems.append(f"not recovered within {RECOVERY_BOUND:.0f} s")
    unexpected = [s for s in f.restarted if f.kind not in ("kill", "term", "payment")
                  or (f.kind == "payment" and s != "order")]
    if unexpected:
        problems.append(f"restarted: {', '.join(unexpected)}")
    return problems


def report(faults: list[Fault], records: list[Record], violations: list[Violation]) -> str:
    """The table: a row per fault, one for the steady load between faults, and one for the
    invariants of the settled shop that belong to no single request."""
    def held(problems: list[str]) -> str:
        return "yes" if not problems else "NO: " + "; ".join(problems)

    rows = []
    for f in faults:
        during = [r for r in records if window_of(r, faults) is f]
        mine = [v for v in violations if v.start is not None and window_of(v, faults) is f]
        rows.append([f.name, str(len(during)), status_summary(during),
                     "-" if f.recovery is None else f"{f.recovery:.1f} s",
                     held(sorted({v.check for v in mine}) + fault_problems(f))])
    steady = [r for r in records if window_of(r, faults) is None]
    mine = [v for v in violations if v.start is not None and window_of(v, faults) is None]
    rows.append(["(none: steady load)", str(len(steady)), status_summary(steady), "-",
                 held(sorted({v.check for v in mine}))])
    settled = [v for v in violations if v.start is None]
    rows.append(["(after settling: stock, events, queues)", "-", "-", "-",
                 held(sorted({v.check for v in settled}))])
    return table(rows, ["fault", "requests", "answers by status", "recovery", "invariants held"])


def write_records(out: Path, client: Client, faults: list[Fault]) -> None:
    t0 = client.t0
    with (out / "requests.jsonl").open("w") as f:
        for r in client.records:
            row = asdict(r)
            row["start"], row["end"] = round(r.start - t0, 4), round(r.end - t0, 4)
            f.write(json.dumps(row) + "\n")
    with (out / "checkouts.jsonl").open("w") as f:
        for c in client.checkouts:
            row = asdict(c)
            row["start"], row["end"] = round(c.start - t0, 4), round(c.end - t0, 4)
            row["orders_seen"] = sorted(c.orders_seen)
            f.write(json.dumps(row) + "\n")
    with (out / "faults.json").open("w") as f:
        json.dump([{**asdict(x), **{k: getattr(x, k) - t0 for k in ("start", "back")},
                    **{k: getattr(x, k) and getattr(x, k) - t0
                       for k in ("ready", "serving", "consuming")},
                    "recovery": x.recovery} for x in faults], f, indent=1, default=str)


# ---------------------------------------------------------------------------------------------
# The commands


async def settle_and_check(stack: Stack, client: Client, shoppers, stock, mode: str):
    """Waits for the shop to settle, then checks the data invariants; a shop that does not
    settle is one more violation, not an aborted run."""
    settled, unsettled = await settle(stack, SETTLE_LIMIT)
    say(f"{mode}: settled in {settled:.1f} s" if unsettled is None
        else f"{mode}: the shop did not settle: {unsettled}")
    data_violations, summary = check_data(snapshot(stack, shoppers, list(stock)),
                                           client.checkouts, stock, stack.queue)
    if unsettled is not None:
        data_violations.append(Violation("the shop settles", unsettled))
    return settled, data_violations, summary


async def faults_command(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir, args.port)
    proxy = Proxy(args.proxy_port, args.port + OPS_OFFSET["product"])
    await proxy.start()
    client = Client(stack.url)
    try:
        documented = await documented_statuses(client)
        shoppers, plenty, scarce, stock = await setup(stack, client, args.shoppers,
                                                      uuid.uuid4().hex[:8])
        load = Load(client, shoppers, plenty, scarce, args.load, args.seed)
        say(f"faults: {len(shoppers)} shoppers, about {args.load:.0f} requests/s, then the faults:")
        load.start()
        await asyncio.sleep(5)
        schedule = Schedule(stack, client, proxy)
        await schedule.all(args.outage, args.window)
        await load.stop()
        took = clock() - client.t0
        say(f"faults: load stopped after {took:.0f} s and {len(client.records)} requests; settling")
        _, data_violations, summary = await settle_and_check(stack, client, shoppers, stock,
                                                             "faults")
    finally:
        await client.close()
        await proxy.cut()
    faults = schedule.faults
    violations = check_answers(client.records, faults, documented) + data_violations
    write_records(args.out, client, faults)
    text = report(faults, client.records, violations)
    say("")
    say(text)
    say("")
    say(f"checkouts: {summary['checkouts']} ({summary['answered 201']} answered 201), "
        f"orders: {summary['orders']} ({summary['paid']} paid), outbox events: "
        f"{summary['events']}, applied by the product service: {summary['applied']}, "
        f"reservations released by expiry: {summary['released by expiry']}")
    for pid, c in summary["conservation"].items():
        say(f"stock of {pid}: {c['start']} = {c['on_hand']} on hand + {c['sold']} sold "
            f"({c['reserved']} reserved)")
    (args.out / "report.md").write_text(text + "\n")
    problems = [f"{f.name}: {p}" for f in faults for p in fault_problems(f)]
    for v in violations[:40]:
        say(f"VIOLATION {v.check}: {v.detail}")
    for p in problems:
        say(f"FAULT {p}")
    rows = text.splitlines()[2:]
    failed_rows = sum(1 for row in rows if "| NO: " in row)
    say(f"faults: {len(faults)} faults, {len(client.records)} requests, "
        f"{len(violations)} violations; {len(rows) - failed_rows} rows held, {failed_rows} failed")
    return 1 if violations or problems else 0


async def soak_command(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir, args.port)
    proxy = Proxy(args.proxy_port, args.port + OPS_OFFSET["product"])
    await proxy.start()
    client = Client(stack.url)
    try:
        documented = await documented_statuses(client)
        shoppers, plenty, scarce, stock = await setup(stack, client, args.shoppers,
                                                      uuid.uuid4().hex[:8])
        maximum = args.max_rate or await measure_max(client, shoppers, plenty, scarce, args.seed)
        rate = 0.7 * maximum
        say(f"soak: maximum {maximum:.0f} requests/s; {args.minutes} minutes at {rate:.0f}/s "
            f"(70%)")
        # The per-minute figures start now; the checkouts of the measurement stay, as the
        # orders they made are checked with the others.
        client.records.clear()
        load = Load(client, shoppers, plenty, scarce, rate, args.seed)
        load.start()
        minutes = []
        header = ["minute", "requests", "errors", "p99 ms"] + [f"{s} MiB" for s in SERVICES]
        say(" ".join(f"{h:>12}" for h in header))
        for minute in range(1, args.minutes + 1):
            since = clock()
            await asyncio.sleep(60)
            window = [r for r in client.records if since <= r.start < clock()]
            errors = check_answers(window, [], documented)
            latencies = sorted(r.end - r.start for r in window)
            p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0
            rss = {s: stack.rss_mib(s) for s in SERVICES}
            minutes.append({"minute": minute, "requests": len(window), "errors": len(errors),
                            "p99_ms": p99, "rss": rss})
            cells = [minute, len(window), len(errors), f"{p99:.0f}"] + [
                "-" if v is None else f"{v:.1f}" for v in rss.values()]
            say(" ".join(f"{c:>12}" for c in cells))
            for v in errors[:5]:
                say(f"  {v.check}: {v.detail}")
        await load.stop()
        settled, data_violations, summary = await settle_and_check(stack, client, shoppers,
                                                                   stock, "soak")
    finally:
        await client.close()
        await proxy.cut()
    (args.out / "soak.json").write_text(json.dumps(minutes, indent=1))
    errors = sum(m["errors"] for m in minutes)
    # RSS after the first minute, when caches and pools have filled.
    flat = {}
    for svc in SERVICES:
        values = [m["rss"][svc] for m in minutes[1:] if m["rss"][svc] is not None]
        flat[svc] = (max(values) / min(values) - 1) if len(values) >= 2 else 0.0
    say("")
    say(f"soak: {sum(m['requests'] for m in minutes)} requests, {errors} errors, p99 "
        f"{statistics.median(m['p99_ms'] for m in minutes):.0f} ms (median of the minutes), "
        f"settled in {settled:.1f} s, {summary['answered 201']} orders paid")
    say("soak: RSS growth after the first minute: "
        + ", ".join(f"{s} {100 * g:.1f}%" for s, g in flat.items()))
    for v in data_violations[:20]:
        say(f"VIOLATION {v.check}: {v.detail}")
    ok = errors == 0 and not data_violations and all(g <= 0.10 for g in flat.values())
    say(f"soak: verdict {'PASS' if ok else 'FAIL'} (RSS flat within 10%, 0 errors, "
        f"invariants held)")
    return 0 if ok else 1


async def measure_max(client: Client, shoppers: list[Shopper], plenty: list[str],
                      scarce: list[str], seed: int) -> float:
    """Requests a second with the shoppers at full speed (no think time), in 20 s steps of
    more shoppers until the rate stops growing; the best step whose answers were clean."""
    best = 0.0
    for count in (len(shoppers) // 4, len(shoppers) // 2, len(shoppers)):
        client.records.clear()
        load = Load(client, shoppers[:count], plenty, scarce, 0, seed)
        load.start()
        await asyncio.sleep(20)
        window = [r for r in client.records]
        await load.stop()
        rate = len(window) / 20
        errors = sum(1 for r in window if r.error or r.status >= 500)
        say(f"soak: {count} shoppers at full speed: {rate:.0f} requests/s, {errors} errors")
        if errors == 0 and rate > best * 1.05:
            best = rate
        else:
            break
    return best


# ---------------------------------------------------------------------------------------------
# The self-test: every check shown to fail on an input broken on purpose


def self_test() -> int:
    """Each invariant of check_data, check_answers and fault_problems run on a consistent world
    (which must pass) and on that world broken in the one way the invariant is about (which
    must fail with that invariant's name). ci/faults runs this before it starts the stack."""
    p1, p2, queue = "p-plenty", "p-scarce", "q"
    o1, o2, o3 = "o-paid", "o-cancelled", "o-declined"

    def world() -> tuple[Snapshot, list[Checkout], dict[str, int]]:
        paid = Checkout(key="k1", vu=0, user_id="u", start=1.0, end=2.0, final=201, order=o1,
                        orders_seen={o1}, lines={p1: 2})
        cancelled = Checkout(key="k2", vu=0, user_id="u", start=3.0, end=4.0, final=201,
                             order=o2, orders_seen={o2}, lines={p2: 1}, cancel=200)
        declined = Checkout(key="k3", vu=1, user_id="u", start=5.0, end=6.0, final=402,
                            order=o3, orders_seen={o3}, declined_card=True, lines={p1: 1})
        snap = Snapshot(
            orders={o1: ("paid", "u"), o2: ("cancelled", "u"), o3: ("payment_failed", "u")},
            payments={o1: [("succeeded", "pay-1")], o2: [("refunded", "pay-2")],
                      o3: [("declined", None)]},
            lines={o1: {p1: 2}, o2: {p2: 1}, o3: {p1: 1}},
            events={o1: [("e1", "order.placed", True), ("e2", "order.paid", True)],
                    o2: [("e3", "order.placed", True), ("e4", "order.paid", True),
                         ("e5", "order.cancelled", True)],
                    o3: [("e6", "order.placed", True), ("e7", "order.cancelled", True)]},
            reservations={o1: "committed", o2: "released", o3: "released"},
            reserved_lines={o1: {p1: 2}, o2: {p2: 1}, o3: {p1: 1}},
            processed=collections.Counter({"e2": 1, "e4": 1, "e5": 1, "e7": 1}),
            inventory={p1: (98, 0), p2: (10, 0)},
            depths={queue: (0, 1), f"{queue}.dlq": (0, 0)},
        )
        return snap, [paid, cancelled, declined], {p1: 100, p2: 10}

    def data_breaks() -> list[tuple[str, object]]:
        return [
            ("201 is an order", lambda s, c, st: s.orders.pop(o1)),
            ("201 is paid", lambda s, c, st: s.orders.update({o1: ("payment_failed", "u")})),
            ("paid exactly once", lambda s, c, st: s.payments[o1].append(("succeeded", "pay-x"))),
            ("paid exactly once", lambda s, c, st: s.payments.update({o1: [("succeeded", None)]})),
            ("events exactly once",
             lambda s, c, st: s.events[o1].append(("e8", "order.paid", True))),
            ("events exactly once", lambda s, c, st: s.events[o1].pop(0)),
            ("stock sold once", lambda s, c, st: s.reservations.update({o1: "released"})),
            ("stock sold once", lambda s, c, st: s.reserved_lines.update({o1: {p1: 3}})),
            ("cancel sticks", lambda s, c, st: s.orders.update({o2: ("paid", "u")})),
            ("no paid order without a 201", lambda s, c, st: s.orders.update({o3: ("paid", "u")})),
            ("no paid order without a 201",
             lambda s, c, st: s.payments.update({o3: [("succeeded", "pay-3")]})),
            ("no order left pending", lambda s, c, st: s.orders.update({o3: ("pending", "u")})),
            ("failed checkouts hold no stock",
             lambda s, c, st: s.reservations.update({o3: "committed"})),
            ("events published", lambda s, c, st: s.events[o1].__setitem__(
                1, ("e2", "order.paid", False))),
            ("events applied once", lambda s, c, st: s.processed.update({"e2": 1})),
            ("events applied once", lambda s, c, st: s.processed.pop("e7")),
            ("events applied once", lambda s, c, st: s.processed.update({"e-stray": 1})),
            ("stock conserved", lambda s, c, st: s.inventory.update({p1: (97, 0)})),
            ("stock conserved", lambda s, c, st: s.inventory.update({p2: (10, 1)})),
            ("no oversell", lambda s, c, st: st.update({p1: 1})),
            ("no dead letters", lambda s, c, st: s.depths.update({f"{queue}.dlq": (1, 0)})),
            ("queue drained", lambda s, c, st: s.depths.update({queue: (2, 1)})),
            ("one order per key", lambda s, c, st: c[0].orders_seen.add("o-other")),
            ("201 exactly once", lambda s, c, st: c.append(replace(c[0], key="k9"))),
        ]

    failures = []
    snap, checkouts, stock = world()
    clean, _ = check_data(snap, checkouts, stock, queue)
    if clean:
        failures.append(f"the consistent world fails: {[v.check for v in clean]}")
    controls = 0
    for check, breaks in data_breaks():
        snap, checkouts, stock = world()
        breaks(snap, checkouts, stock)
        found, _ = check_data(snap, checkouts, stock, queue)
        controls += 1
        if check not in {v.check for v in found}:
            failures.append(f"{check}: not caught (found {sorted({v.check for v in found})})")

    gateway_kill = Fault("kill -9 gateway", "kill", 10.0, back=11.0, ready=12.0, serving=12.0,
                         consuming=11.0, gateway_down=True)
    gateway_term = Fault("SIGTERM gateway", "term", 30.0, back=31.0, ready=32.0, serving=32.0,
                         consuming=31.0, gateway_down=True, graceful=True)
    pg = Fault("postgres down 20 s", "outage", 50.0, back=70.0, ready=72.0, serving=72.0,
               consuming=70.0)
    faults = [gateway_kill, gateway_term, pg]
    documented = {("GET", "/api/v1/products"): {200, 400}}

    def rec(start: float, **kw) -> Record:
        base = dict(start=start, end=start + 0.1, vu=0, op="browse", method="GET",
                    route="/api/v1/products", status=200)
        return Record(**{**base, **kw})

    good = [rec(1.0), rec(10.5, status=0, error=REFUSED), rec(10.5, status=0, error=RESET),
            rec(30.5, status=0, error=REFUSED),
            rec(55.0, status=503, retry_after="2", content_type="application/problem+json"),
            rec(90.0, status=400)]
    if check_answers(good, faults, documented):
        failures.append("clean answers fail: "
                        f"{[v.check for v in check_answers(good, faults, documented)]}")
    answer_breaks = [
        ("no 5xx but 503", rec(55.0, status=500)),
        ("no 5xx but 503", rec(55.0, status=502)),
        ("503 is a problem with Retry-After",
         rec(55.0, status=503, content_type="application/problem+json")),
        ("503 is a problem with Retry-After",
         rec(55.0, status=503, retry_after="2", content_type="text/plain")),
        ("503 only during a fault",
         rec(90.0, status=503, retry_after="2", content_type="application/problem+json")),
        ("no hang", rec(55.0, end=55.0 + UPSTREAM_TIMEOUT + HANG_MARGIN)),
        ("no hang", rec(55.0, status=0, error=TIMEOUT)),
        ("no connection error", rec(90.0, status=0, error=REFUSED)),
        ("no connection error", rec(55.0, status=0, error=RESET)),
        ("no connection error", rec(30.5, status=0, error=RESET)),
        ("only documented answers", rec(90.0, status=418)),
    ]
    for check, broken in answer_breaks:
        controls += 1
        found = {v.check for v in check_answers([*good, broken], faults, documented)}
        if check not in found:
            failures.append(f"{check}: {broken.status or broken.error} at {broken.start} not "
                            f"caught (found {sorted(found)})")

    if any(fault_problems(f) for f in faults):
        failures.append(f"clean faults fail: {[fault_problems(f) for f in faults]}")
    fault_breaks = [
        ("not recovered", replace(pg, ready=70.0 + RECOVERY_BOUND + 1)),
        ("not recovered", replace(pg, serving=None)),
        ("restarted", replace(pg, restarted=["product"])),
        ("fault failed", replace(pg, error="postgres did not stop")),
    ]
    for check, broken in fault_breaks:
        controls += 1
        if not any(p.startswith(check) for p in fault_problems(broken)):
            failures.append(f"{check}: {broken} not caught")

    for failure in failures:
        say(f"self-test: FAILED {failure}")
    say(f"self-test: {controls} broken inputs, {controls - len(failures)} caught by their check"
        if not failures else f"self-test: {len(failures)} of {controls} controls failed")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1:] == ["self-test"]:
        return self_test()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["faults", "soak"])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proxy-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--shoppers", type=int, default=16)
    parser.add_argument("--load", type=float, default=60.0,
                        help="requests a second the suite aims at (faults)")
    parser.add_argument("--outage", type=float, default=20.0,
                        help="seconds each of PostgreSQL, Redis and RabbitMQ stays stopped")
    parser.add_argument("--window", type=float, default=8.0,
                        help="seconds the payment provider and the order-product link misbehave")
    parser.add_argument("--minutes", type=int, default=30, help="the soak's length")
    parser.add_argument("--max-rate", type=float, default=0.0,
                        help="skip measuring: the maximum requests/s to take 70%% of (soak)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    command = faults_command if args.command == "faults" else soak_command
    return asyncio.run(command(args))


if __name__ == "__main__":
    sys.exit(main())
