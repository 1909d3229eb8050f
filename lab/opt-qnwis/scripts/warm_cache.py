#!/usr/bin/env python3
"""Warm the QNWIS query cache (runbook "Performance Tuning / Cache Optimization").

    cd /opt/qnwis && venv/bin/python scripts/warm_cache.py [--base-url URL] [--max-questions N]

The lab's stand-in for the service's own warm-up script: it asks the API the questions analysts
ask, so each answer is computed once and cached in Redis (the app writes
qnwis:cache:query:<query_id> on a miss); later identical questions are cache hits. Questions are
asked a few at a time until answers stop bringing new queries (every question the app knows is
cached) or --max-questions is reached.

Where the API is, first found wins: --base-url; $QNWIS_API_URL; on a lab host, QNWIS_LISTEN from
the host's qnwis unit ($QNWIS_LAB_HOST_DIR/units/qnwis.unit, i.e. the app of this very host);
http://127.0.0.1:8000. The bearer token is $QNWIS_API_TOKEN (the lab's app takes any bearer).

Output: progress on stderr; one JSON summary line on stdout (what the bot reads).
Exit codes: 0 every question answered; 1 some questions failed; 2 nothing could be warmed (the
app is down or in maintenance mode) or bad usage.
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

SECTORS = [
    "Construction",
    "Wholesale and retail trade",
    "Manufacturing",
    "Accommodation and food services",
    "Transportation and storage",
    "Financial and insurance activities",
    "Public administration and defence",
    "Education",
    "Human health and social work",
    "Mining and quarrying",
    "Information and communication",
    "Activities of households as employers",
]
NATIONALITIES = [
    "Indian", "Nepali", "Bangladeshi", "Filipino", "Egyptian",
    "Pakistani", "Sri Lankan", "Qatari", "Other Arab", "Other",
]
QUARTERS = [f"{y}-Q{q}" for y in range(2025, 2018, -1) for q in (4, 3, 2, 1)]
USER_ID = "warm_cache"


def simple_questions():
    for quarter in QUARTERS:
        for sector in SECTORS:
            yield f"How many workers were employed in {sector} in {quarter}?"


def medium_questions():
    for year in range(2025, 2018, -1):
        yield f"Employment and average salary by sector and nationality in {year}"
        for days in range(30, 390, 30):
            yield f"Active work permits expiring within {days} days by nationality and occupation ({year})"
        for sector in SECTORS:
            yield f"Employment breakdown by nationality for {sector} in {year}"


def complex_questions():
    for quarter in QUARTERS:
        for gender in ("male", "female"):
            for nationality in NATIONALITIES:
                yield f"Year-over-year employment growth of {gender} {nationality} workers by sector since {quarter}"


def lab_base_url():
    host_dir = os.environ.get("QNWIS_LAB_HOST_DIR")
    if not host_dir:
        return None
    try:
        with open(os.path.join(host_dir, "units", "qnwis.unit"), encoding="utf-8") as f:
            m = re.search(r"QNWIS_LISTEN=([0-9A-Za-z.\[\]:-]+:\d+)", f.read())
    except OSError:
        return None
    return f"http://{m.group(1)}" if m else None


def base_url(arg):
    url = arg or os.environ.get("QNWIS_API_URL") or lab_base_url() or "http://127.0.0.1:8000"
    if not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", url):
        raise SystemExit(f"warm_cache: not an http(s) URL: {url!r}")
    return url.rstrip("/")


class Refused(Exception):
    """The app answered that nobody may query now (maintenance mode)."""


def ask(url, token, question, timeout):
    body = json.dumps({"question": question, "user_id": USER_ID}).encode()
    req = urllib.request.Request(
        f"{url}/api/v1/query",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            answer = json.load(res)
    except urllib.error.HTTPError as e:
        try:
            detail = json.load(e)
        except ValueError:
            detail = {}
        if e.code == 503 and detail.get("maintenance"):
            raise Refused(detail.get("detail") or "maintenance mode") from None
        return {"ok": False, "error": f"HTTP {e.code}: {detail.get('detail', e.reason)}"}
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"ok": False, "error": str(getattr(e, "reason", e))}
    return {"ok": True, "query_id": answer.get("query_id"), "cache": answer.get("cache")}


def main():
    p = argparse.ArgumentParser(description="Warm the QNWIS query cache through the API.")
    p.add_argument("--base-url", help="the app's URL (default: see the module docstring)")
    p.add_argument("--max-questions", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--patience", type=int, default=25,
                   help="stop asking a kind of question after this many answers in a row brought no new query")
    p.add_argument("--max-errors", type=int, default=10)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per question")
    a = p.parse_args()
    if not (1 <= a.max_questions <= 10000 and 1 <= a.concurrency <= 32 and a.patience >= 1):
        p.error("--max-questions 1..10000, --concurrency 1..32, --patience >= 1")
    url = base_url(a.base_url)
    token = os.environ.get("QNWIS_API_TOKEN") or "warm-cache"

    started = time.monotonic()
    kinds = {"simple": simple_questions(), "medium": medium_questions(), "complex": complex_questions()}
    stale = {k: 0 for k in kinds}  # answers in a row with no new query, per kind
    seen = set()
    stats = {"questions": 0, "cached_now": 0, "already_cached": 0, "errors": 0}
    last_error = None
    print(f"warm_cache: warming {url}", file=sys.stderr)

    def next_wave():
        wave = []
        while len(wave) < a.concurrency and stats["questions"] + len(wave) < a.max_questions:
            live = [k for k in kinds if stale[k] < a.patience]
            if not live:
                break
            added = False
            for k in live:
                if len(wave) >= a.concurrency:
                    break
                q = next(kinds[k], None)
                if q is None:
                    stale[k] = a.patience
                    continue
                wave.append((k, q))
                added = True
            if not added:
                break
        return wave

    refused = None
    with ThreadPoolExecutor(max_workers=a.concurrency) as pool:
        while True:
            wave = next_wave()
            if not wave:
                break
            try:
                answers = list(pool.map(lambda kq: ask(url, token, kq[1], a.timeout), wave))
            except Refused as e:
                refused = str(e)
                break
            for (kind, _), r in zip(wave, answers):
                stats["questions"] += 1
                if not r["ok"]:
                    stats["errors"] += 1
                    last_error = r["error"]
                    continue
                stats["cached_now" if r["cache"] == "miss" else "already_cached"] += 1
                if r["query_id"] in seen:
                    stale[kind] += 1
                else:
                    seen.add(r["query_id"])
                    stale[kind] = 0
            if stats["errors"] > a.max_errors:
                break
            if stats["questions"] % 40 < a.concurrency:
                print(f"warm_cache: {stats['questions']} questions, {len(seen)} queries cached", file=sys.stderr)

    answered = stats["cached_now"] + stats["already_cached"]
    summary = {
        "base_url": url,
        **stats,
        "answered": answered,
        "distinct_queries": len(seen),
        "duration_ms": round((time.monotonic() - started) * 1000),
    }
    if refused is not None:
        summary["refused"] = refused
    if last_error is not None:
        summary["last_error"] = last_error
    print(json.dumps(summary, sort_keys=True))
    if refused is not None:
        print(f"warm_cache: the app refuses queries: {refused}", file=sys.stderr)
        return 2
    if answered == 0:
        print(f"warm_cache: no question was answered (last error: {last_error})", file=sys.stderr)
        return 2
    if stats["errors"] > 0:
        print(f"warm_cache: {stats['errors']} questions failed (last: {last_error})", file=sys.stderr)
        return 1
    print(f"warm_cache: done, {len(seen)} queries cached in {summary['duration_ms']} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
