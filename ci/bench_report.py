"""BENCHMARKS.md from the figures ci/bench.py measured (its JSON), for people to read."""

MIB = 1024 * 1024


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "n/a"


def met(ok):
    return "yes" if ok else "**no**"


def render(r):
    sets = r["sets"]
    base, cur = sets.get("baseline"), sets["current"]
    lines = []
    add = lines.append
    m = r["machine"]
    add("# Benchmarks")
    add("")
    add("Written by `ci/bench` (figures, never assertions); the JSON beside it is `docs/benchmarks.json`.")
    add("What was tried for each target, what each attempt measured and what is left: "
        "[docs/performance.md](docs/performance.md).")
    add("")
    add(f"- run: {r['date']}, commit `{r['commit']}`{' (with uncommitted changes)' if r['work_tree_changed'] else ''}"
        f"{', smoke-sized' if r['smoke'] else ''}")
    add(f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_mib']:,} MiB, Linux {m['kernel']}; load average "
        f"{m['load_before'][0]:.2f} before, {m.get('load_after', [0])[0]:.2f} after (a shared machine: other "
        "builds ran beside it, so compare columns of one run, not runs)")
    add(f"- load: wrk, {r['scale']['connections']} connections, 2 threads, {r['scale']['seconds']} s a row; "
        f"loadgen {r['scale']['users']} users for {r['scale']['seconds']} s; search on "
        f"{r['scale']['products']:,} products")
    if base:
        add(f"- **before** = `{base['label']}`, **after** = `{cur['label']}`; each on its own `ci/dev up --detach` "
            "stack (the gateway's rate limits raised, since all load comes from one address), one after the other")
    add("")

    cols = [("before", base), ("after", cur)] if base else [("now", cur)]

    # Targets.
    add("## Targets")
    add("")
    add("| target | " + " | ".join(n for n, _ in cols) + " | goal | met |")
    add("|---|" + "---|" * len(cols) + "---|---|")

    def target(name, values, goal, ok):
        add(f"| {name} | " + " | ".join(values) + f" | {goal} | {met(ok)} |")

    def proxy_ratio(s, row, key):
        p = s.get("proxy", {})
        if row not in p or "nginx" not in p:
            return None
        return p[row][key] / p["nginx"][key] if p["nginx"][key] else None

    g = [proxy_ratio(s, "gateway", "rps") for _, s in cols]
    target("gateway throughput ÷ nginx's (JWT, token cache on)", [fmt(v, 2) for v in g], "≥ 1.00",
           (g[-1] or 0) >= 1.0)
    gp = [proxy_ratio(s, "gateway", "p99_ms") for _, s in cols]
    target("gateway p99 ÷ nginx's", [fmt(v, 2) for v in gp], "≤ 1.00", (gp[-1] or 9) <= 1.0)
    go = [proxy_ratio(s, "gateway, token cache off", "rps") for _, s in cols]
    target("gateway throughput ÷ nginx's, token cache off", [fmt(v, 2) for v in go], "(reported)", True)
    worst = [max((v["p99_ms"] for v in s.get("search", {}).values()), default=None) for _, s in cols]
    target(f"search: worst p99 of every shape, {r['scale']['products']:,} products (ms)",
           [fmt(v, 1) for v in worst], "≤ 25", (worst[-1] or 1e9) <= 25)
    if base:
        shares = [cur["search"][k]["rps"] / base["search"][k]["rps"] for k in cur.get("search", {})
                  if base.get("search", {}).get(k, {}).get("rps")]
        low = min(shares) if shares else None
        target("search throughput, after ÷ before (the least-improved shape)", ["1.00", fmt(low, 2)], "≥ 10",
               (low or 0) >= 10)
    seleve = [", ".join(s.get("search_seleve_finds", [])[:2]) or "nothing" for _, s in cols]
    target("`q=seleve` finds", seleve, "Sleeve…", "sleeve" in seleve[-1].lower())
    cached = [s.get("detail", {}).get("cached", {}).get("rps") for _, s in cols]
    if base:
        target("cached product detail on the ci/dev stack, after ÷ before", ["1.00", ratio(cached[1], cached[0])],
               "≥ 3×", bool(cached[0]) and cached[1] / cached[0] >= 3)
    bare = [s.get("detail", {}).get("bare axum handler", {}).get("rps") for _, s in cols]
    target("cached product detail ÷ bare axum handler (same run)",
           [ratio(c, b) for c, b in zip(cached, bare)], "(reported)", True)
    co = [s.get("checkout", {}).get("per_second") for _, s in cols]
    if base:
        target("checkouts/s end to end, after ÷ before", ["1.00", ratio(co[1], co[0])], "≥ 3× (500/s)",
               bool(co[0]) and co[1] / co[0] >= 3)
    target("checkouts/s", [fmt(v, 1) for v in co], "500", (co[-1] or 0) >= 500)
    lost = [f"{s['checkout']['lost']} / {s['checkout']['duplicated']}" for _, s in cols if "checkout" in s]
    target("checkouts lost / duplicated", lost, "0 / 0", lost[-1] == "0 / 0")
    idle = [max(s["rss_idle_kib"].values()) / 1024 for _, s in cols]
    target("RSS idle, the largest service (MiB)", [fmt(v, 1) for v in idle], "≤ 20", idle[-1] <= 20)
    peak = [max(s.get("rss_peak_kib", {0: 0}).values()) / 1024 for _, s in cols]
    target("RSS peak under this report's load, the largest (MiB)", [fmt(v, 1) for v in peak], "≤ 64",
           peak[-1] <= 64)
    ready = [max(s.get("exec_ready_ms", {0: 0}).values()) for _, s in cols]
    target("exec → ready, the slowest service (ms)", [fmt(v, 1) for v in ready], "≤ 150", ready[-1] <= 150)
    fe = cur.get("frontend", {})
    if "wasm_js_gzip" in fe:
        # One storefront is built (frontend/dist, the current one): a baseline column has no figure.
        unmeasured = ["n/a"] * (len(cols) - 1)
        target("storefront wasm + JS, gzip (KiB)", unmeasured + [fmt(fe["wasm_js_gzip"] / 1024, 1)], "≤ 200",
               fe["wasm_js_gzip"] <= 200 * 1024)
        target("first catalog render, headless Chromium (ms)", unmeasured + [fmt(fe["first_catalog_render_ms"], 0)],
               "≤ 300", (fe["first_catalog_render_ms"] or 1e9) <= 300)
    add("")

    def wrk_table(title, key, rows, against=None):
        add(f"## {title}")
        add("")
        head = "| | " + " | ".join(f"{n} req/s | {n} p50 ms | {n} p99 ms" for n, _ in cols)
        if base:
            head += " | req/s after ÷ before"
        if against:
            head += f" | req/s ÷ {against} (after)"
        add(head + " |")
        add("|---|" + "---|---|---|" * len(cols) + ("---|" if base else "") + ("---|" if against else ""))
        for row in rows:
            cells = []
            for _, s in cols:
                v = s.get(key, {}).get(row) if key else r.get("local_limit", {}).get(row)
                cells += [fmt(v["rps"]), fmt(v["p50_ms"], 2), fmt(v["p99_ms"], 2)] if v else ["n/a"] * 3
            line = f"| {row} | " + " | ".join(cells)
            if base:
                a, b = base.get(key, {}).get(row), cur.get(key, {}).get(row)
                line += f" | {ratio(b['rps'], a['rps']) if a and b else 'n/a'}"
            if against:
                v, w = cur.get(key, {}).get(row), cur.get(key, {}).get(against)
                line += f" | {ratio(v['rps'], w['rps']) if v and w else 'n/a'}"
            add(line + " |")
        add("")

    add("## Local limit")
    add("")
    add("| | req/s | p50 ms | p99 ms |")
    add("|---|---|---|---|")
    for row, v in r.get("local_limit", {}).items():
        add(f"| {row} | {fmt(v['rps'])} | {fmt(v['p50_ms'], 2)} | {fmt(v['p99_ms'], 2)} |")
    add("")
    wrk_table("Product detail through the proxies (nginx: worker_processes auto, upstream keep-alive, a JSON "
              "access line per request, as the gateway writes)", "proxy",
              ["direct", "nginx", "gateway", "gateway, token cache off"], against="nginx")
    wrk_table("Product detail on the ci/dev stack (default log level), direct to the product service",
              "detail", ["bare axum handler", "cached", "cached, Redis only", "uncached"],
              against="bare axum handler")
    wrk_table(f"Search per query shape, {r['scale']['products']:,} products (product service, direct)", "search",
              list(cur.get("search", {})))
    if "search_uncached" in cur:
        wrk_table("The same searches with the page cache off (every request runs its query: the first request "
                  "after a write)", "search_uncached", list(cur["search_uncached"]))

    add("## Checkout end to end (loadgen `--mix checkout` through the gateway; product service and RabbitMQ in "
        "the loop)")
    add("")
    add("| | " + " | ".join(n for n, _ in cols) + " |")
    add("|---|" + "---|" * len(cols))
    for key, name in [("per_second", "orders/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                      ("answered_201", "answered 201"), ("refused", "refused"), ("orders_written", "orders written"),
                      ("reservations_committed", "reservations committed (after the events)"),
                      ("outbox_drained", "seconds until every event was published and applied"),
                      ("lost", "lost (201 without an order)"), ("duplicated", "duplicated (orders beyond the 201s)")]:
        add(f"| {name} | " + " | ".join(fmt(s.get("checkout", {}).get(key), 2) for _, s in cols) + " |")
    for program in cur.get("checkout", {}).get("cpu_ms_per_order", {}):
        add(f"| {program} CPU ms per order | " + " | ".join(
            fmt(s.get("checkout", {}).get("cpu_ms_per_order", {}).get(program), 2) for _, s in cols) + " |")
    add("")

    add("## The loadgen shopper mix through the gateway (browse 10, product 8, search 5, view cart 3, add 2, "
        "checkout 1, login 1)")
    add("")
    tasks = sorted(cur.get("mix", {}).get("tasks", {}))
    add("| task | " + " | ".join(f"{n} per s | {n} p50 ms | {n} p95 ms | {n} p99 ms | {n} failed" for n, _ in cols)
        + " |")
    add("|---|" + "---|---|---|---|---|" * len(cols))
    for task in tasks + ["all requests"]:
        cells = []
        for _, s in cols:
            mix = s.get("mix", {})
            v = mix.get("total") if task == "all requests" else mix.get("tasks", {}).get(task)
            cells += ([fmt(v["per_second"]), fmt(v["p50_ms"], 2), fmt(v["p95_ms"], 2), fmt(v["p99_ms"], 2),
                       fmt(v["failed"])] if v else ["n/a"] * 5)
        add(f"| {task} | " + " | ".join(cells) + " |")
    for name, s in cols:
        for error, n in s.get("mix", {}).get("errors", {}).items():
            add(f"\n{name}: {n}× {error}")
    add("")

    add("## Footprint per service")
    add("")
    add("| service | " + " | ".join(f"{n} RSS idle MiB | {n} RSS peak MiB | {n} CPU s per 1,000 mix requests | "
                                     f"{n} exec → ready ms" for n, _ in cols) + " |")
    add("|---|" + "---|---|---|---|" * len(cols))
    for svc in cur["rss_idle_kib"]:
        cells = []
        for _, s in cols:
            cells += [fmt(s["rss_idle_kib"].get(svc, 0) / 1024, 1),
                      fmt(s.get("rss_peak_kib", {}).get(svc, 0) / 1024, 1),
                      fmt(s.get("cpu_s_per_1000_requests", {}).get(svc), 3),
                      fmt(s.get("exec_ready_ms", {}).get(svc), 1)]
        add(f"| {svc} | " + " | ".join(cells) + " |")
    add("")

    add("## Images and storefront")
    add("")
    if r.get("images"):
        add("| image (ci/images, OCI archive) | MiB |")
        add("|---|---|")
        for name, size in r["images"].items():
            add(f"| {name} | {size / MIB:.1f} |")
    else:
        add("No images under target/images (run `ci/images` first).")
    add("")
    if "wasm_js_gzip" in fe:
        add(f"Storefront wasm + JS: {fe['wasm_js_raw'] / 1024:,.1f} KiB raw, {fe['wasm_js_gzip'] / 1024:,.1f} KiB "
            f"gzip, {fe['wasm_js_brotli'] / 1024:,.1f} KiB brotli; headless Chromium, cold cache, median: app "
            f"first render {fmt(fe['app_first_render_ms'], 0)} ms, first catalog render "
            f"{fmt(fe['first_catalog_render_ms'], 0)} ms.")
    else:
        add(f"Storefront: {fe.get('note', 'not measured in a smoke run')}.")
    add("")

    explain = cur.get("explain", {})
    if explain:
        add("## EXPLAIN (ANALYZE, BUFFERS) of each search shape (after)")
        add("")
        if "note" in explain:
            add(explain["note"])
        for name, plans in explain.items():
            if name == "note":
                continue
            add(f"<details><summary>{name}</summary>")
            add("")
            add("```")
            for plan in plans:
                add(plan)
                add("")
            add("```")
            add("</details>")
            add("")
    return "\n".join(lines).rstrip() + "\n"
