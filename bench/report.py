"""The benchmark's figures as a table and the targets they meet, written into
docs/performance.md between its markers."""

import datetime
import os
import platform
import re

from bench.secrets import describe as describe_secrets
from bench.validation import describe as describe_validation
from bench.workers import render_workers
from bench.wrk import WrkResult
from infra.settings import PROJECT_ROOT

FIGURES = PROJECT_ROOT / "docs" / "performance.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


def render(bench) -> str:
    lines, facts = bench.lines, bench.facts
    ceiling = lines[0].result.requests_per_second
    by_label = {line.label: line.result for line in lines}
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    out = [
        f"Measured {datetime.date.today().isoformat()} on this machine ({machine}); wrk, 2 threads and 32 "
        "connections unless the line says otherwise; one run.",
        "",
        "| load | requests/s | p50 ms | p99 ms | non-2xx | x ceiling |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for line in lines:
        r = line.result
        out.append(
            f"| {line.label} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.non_2xx + r.socket_errors} | {r.requests_per_second / ceiling:.2f} |"
        )
    feeds, watch, many, bulk = facts["feed_waits"], facts["watch_1000"], facts["watch_10000"], facts["bulk_load"]

    def wake(w: dict) -> str:
        if not w["answered"]:
            return f"none of {w['count']:,} answered"
        return (
            f"{w['answered']:,} of {w['count']:,} answered; p50 {w['p50'] * 1000:.0f} ms, p99 {w['p99'] * 1000:.0f} ms"
        )

    out += [
        "",
        "Held requests, answered after one change (times from the change's response):",
        "",
        f"- 1,000 feed waits on the instance that took the write: {wake(feeds['one'])}",
        f"- 1,000 feed waits on a second instance: {wake(feeds['two'])}",
        f"- 1,000 watches of one configuration: {wake(watch['wakes'])}",
        f"- 10,000 watches held by one instance: RSS grew {many['rss_growth']:.0f} MB; after one change to each "
        f"of the 10 configurations watched: {wake(many['wakes'])}",
        "",
        "Cost at depth (median of 200 requests, each page read from the database):",
        "",
        "| page | small | large | ratio |",
        "|---|---:|---:|---:|",
        f"| history, 100 newest versions: 100 vs 10,000 versions | {facts['history_100']:.2f} ms | "
        f"{facts['history_10k']:.2f} ms | {facts['history_10k'] / facts['history_100']:.2f} |",
        f"| feed, 100 changes after revision 1: 100 vs {facts['changes_total']:,} changes | "
        f"{facts['feed_100']:.2f} ms | {facts['feed_100k']:.2f} ms | {facts['feed_100k'] / facts['feed_100']:.2f} |",
    ]
    pages, limited = facts["list_pages"], facts["feed_limited"]
    validation = facts["validation"]
    out += [
        f"| applications, `limit=100` after a random id: 1k vs 100k applications | {pages[0][1]:.2f} ms | "
        f"{pages[-1][1]:.2f} ms | {pages[-1][1] / pages[0][1]:.2f} |",
        f"| feed from memory, 100 changes (in-process, page and JSON): unlimited vs limited to 1,000 applications "
        f"| {limited['unlimited_us']:.0f} µs | {limited['limited_us']:.0f} µs | {limited['ratio']:.2f} |",
        "",
        f"Bulk load at start: {bulk['names']:,} names and {bulk['views']:,} views ({bulk['mb']:.0f} MB held) "
        f"read in {bulk['seconds']:.1f} s; service RSS then {bulk['rss']:.0f} MB. Service RSS after the steady "
        f"loads: {facts['rss_after_loads']:.0f} MB.",
        "",
        f"Schemas: {describe_validation(validation)}.",
        "",
        f"Secret values: {describe_secrets(facts['secrets'])}.",
    ]

    def ratio(label: str) -> float:
        return by_label[label].requests_per_second / ceiling

    def ok(r: WrkResult) -> bool:
        return r.non_2xx + r.socket_errors == 0

    def auth_ratio(key: str) -> float:
        with_auth = by_label[f"{key}, with a token, AUTH=tokens"].requests_per_second
        return with_auth / by_label[f"{key}, with a token, AUTH=off"].requests_per_second

    auth_b, auth_e = auth_ratio("(b) GET /configurations/{id}"), auth_ratio("(e) GET /config/{app}/{name}")
    staged = "(k) GET /config/{app}/{name}, staged in a rollout"
    client_ids = (
        by_label[f"{staged}, with X-Client-Id"].requests_per_second
        / by_label[f"{staged}, without X-Client-Id"].requests_per_second
    )
    checks = [
        *(
            (
                f"{key} >= 0.75 x ceiling, p99 < 25 ms, no errors",
                ratio(key) >= 0.75 and by_label[key].p99_ms < 25 and ok(by_label[key]),
            )
            for key in ("(a) GET /applications/{id}", "(b) GET /configurations/{id}", "(e) GET /config/{app}/{name}")
        ),
        *(
            (f"{key} >= 0.75 x ceiling, no errors", ratio(key) >= 0.75 and ok(by_label[key]))
            for key in (
                "(f) GET /configurations/{id}, first 8 s after start",
                "(g) GET /config/{app}/{name}, first 8 s after start",
                "(j) GET /configurations/{id}, first 8 s after creating 10,000 through the API",
            )
        ),
        (
            "(c) >= 1,500 writes/s, no errors",
            by_label["(c) POST /configurations"].requests_per_second >= 1500
            and ok(by_label["(c) POST /configurations"]),
        ),
        (f"(h) writes with reads >= 0.5 x writes alone (here {facts['mixed_ratio']:.2f})", facts["mixed_ratio"] >= 0.5),
        (
            f"reads with AUTH=tokens within 10% of without (here {auth_b:.2f} and {auth_e:.2f})",
            min(auth_b, auth_e) >= 0.9,
        ),
        (
            f"reads with X-Client-Id within 10% of without (here {client_ids:.2f})",
            client_ids >= 0.9 and ok(by_label[f"{staged}, with X-Client-Id"]),
        ),
        (
            "1,000 feed waits answered within 1 s (p99), on both instances",
            all(w["errors"] == 0 and w["p99"] < 1 for w in feeds.values()),
        ),
        ("1,000 watches answered within 1 s (p99)", watch["wakes"]["errors"] == 0 and watch["wakes"]["p99"] < 1),
        ("10,000 watches held with RSS growth < 150 MB", many["rss_growth"] < 150 and many["wakes"]["errors"] == 0),
        ("history page at 10,000 versions within 1.5 x at 100", facts["history_10k"] <= 1.5 * facts["history_100"]),
        ("feed page at 100,000 changes within 1.5 x at 100", facts["feed_100k"] <= 1.5 * facts["feed_100"]),
        ("list page at 100k within 1.5 x at 1k", pages[-1][1] <= 1.5 * pages[0][1]),
        ("feed page for a token limited to 1,000 applications within 2 x an unlimited one's", limited["ratio"] <= 2),
        ("bulk load of 100,000 configurations < 10 s", bulk["seconds"] < 10),
        (
            f"a write under a 100-property schema within 1.10 x one without (here {validation['ratio']:.2f})",
            validation["ratio"] <= 1.10,
        ),
        (
            f"/config reads of a configuration with secrets within 10% of one without (here "
            f"{facts['secrets']['ratio']:.2f})",
            facts["secrets"]["ratio"] >= 0.9,
        ),
    ]
    worker_lines, worker_checks = render_workers(facts["workers"])
    out += ["", *worker_lines]
    checks += worker_checks
    out += ["", "Targets:", "", *(f"- {'met' if passed else 'MISSED'}: {name}" for name, passed in checks)]
    return "\n".join(out)


def write_figures(table: str) -> None:
    text = FIGURES.read_text() if FIGURES.exists() else ""
    block = f"{MARK_START}\n{table}\n{MARK_END}"
    if MARK_START in text:
        text = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block, text, flags=re.S)
    else:
        text += f"\n{block}\n"
    FIGURES.write_text(text)
