#!/usr/bin/env python3
"""Glass-to-glass latency per rung, read off the screen: the lowest rung of the ladder against the source.

Runs `framelog demo` (embedded broker, 720p30 test-pattern ingest, `framelog transcode` with the default
ladder, origin) and opens /watch/demo in headless Chromium (Debian's /usr/bin/chromium through playwright).
The test pattern burns the wall clock of each frame's capture into the picture (UTC, ms). In turns, for
`--rounds` rounds, the quality menu pins the source, then the lowest rung; after a settling time the
script screenshots the clock's corner of the video every ~300 ms for `--seconds`, noting the wall clock
before and after each screenshot. Afterwards (so that OCR does not load the machine while measuring),
tesseract reads each picture; latency = mid-point of the screenshot's wall-clock span - the clock read.
Readings tesseract could not parse, or more than 10 s off, are counted and left out. The player's own
latency figure at the same moments is printed beside, as a cross-check, never in place of the reading.

Usage: bench/rung_latency.py [--rounds 2] [--seconds 30] [--target MS] [--framelog .build/release/framelog]
Without --target the player picks its ladder target (its own default); with it, ?target=MS.
Needs tesseract (`scripts/setup.sh --bench-tools`).
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

from playwright.async_api import async_playwright

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import clock_clip, demo, read_clock  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else None


async def sample(page, seconds):
    """[(wall ms before, wall ms after, png, player's latencyMs, video height)] for `seconds`."""
    box = await page.evaluate("""() => { const r = document.querySelector('video').getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height}; }""")
    clip = clock_clip(box)
    shots = []
    end = time.time() + seconds
    while time.time() < end:
        before = time.time() * 1000
        png = await page.screenshot(clip=clip)
        after = time.time() * 1000
        state = await page.evaluate("() => [window.framelog.latencyMs, document.querySelector('video').videoHeight]")
        shots.append((before, after, png, state[0], state[1]))
        await asyncio.sleep(0.3)
    return shots


async def measure(base, args):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        query = f"?target={args.target}" if args.target else ""
        await page.goto(f"{base}/watch/demo{query}")
        deadline = time.time() + 90
        rungs = []
        while time.time() < deadline:
            rungs = await page.evaluate("() => (window.framelog.rungs || []).map(r => [r.id, r.height])")
            if len(rungs) >= 3:
                break
            await asyncio.sleep(1)
        if len(rungs) < 2:
            sys.exit(f"the player found no ladder: {rungs}")
        by_height = sorted(rungs, key=lambda r: r[1])
        picks = [("source", by_height[-1]), ("lowest", by_height[0])]
        shots = {name: [] for name, _ in picks}
        targets = {}
        for _ in range(args.rounds):
            for name, (rung, height) in picks:
                await page.evaluate(f"() => window.framelog.setQuality({json.dumps(rung)})")
                settle = time.time() + 30
                while time.time() < settle:
                    if await page.evaluate("() => document.querySelector('video').videoHeight") == height:
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(args.settle)
                targets[name] = await page.evaluate("() => window.framelog.target")
                shots[name] += [(s, height) for s in await sample(page, args.seconds)]
        stats = await page.evaluate("() => ({stalls: window.framelog.stalls, switches: window.framelog.switches.length})")
        await browser.close()
    return {"rungs": rungs, "picks": {name: rung for name, rung in picks}, "targets": targets,
            "player": stats}, shots


def summarize(shots, folder):
    latencies, player, unread, other_rung, spans = [], [], 0, 0, []
    for n, ((before, after, png, own, height), want) in enumerate(shots):
        if height != want:
            other_rung += 1
            continue
        clock = read_clock(png, folder, n)
        mid = (before + after) / 2
        wall = mid % 86_400_000
        if clock is None or abs(wall - clock) > 10_000:
            unread += 1
            continue
        latencies.append(wall - clock)
        spans.append(after - before)
        if own is not None:
            player.append(own)
    return {"samples": len(latencies), "unread": unread, "other_rung": other_rung,
            "p50_ms": round(pct(latencies, 0.5)) if latencies else None,
            "p95_ms": round(pct(latencies, 0.95)) if latencies else None,
            "min_ms": round(min(latencies)) if latencies else None,
            "max_ms": round(max(latencies)) if latencies else None,
            "screenshot_span_p50_ms": round(pct(spans, 0.5)) if spans else None,
            "player_says_p50_ms": round(pct(player, 0.5)) if player else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30, help="sampling per rung per round")
    parser.add_argument("--settle", type=float, default=10, help="seconds after a switch before sampling")
    parser.add_argument("--target", type=int, default=0, help="the player's latency target (0: its default)")
    parser.add_argument("--framelog", default=os.path.join(ROOT, ".build/release/framelog"))
    args = parser.parse_args()
    if subprocess.run(["which", "tesseract"], capture_output=True).returncode != 0:
        sys.exit("tesseract is missing: scripts/setup.sh --bench-tools")
    with demo(args.framelog) as base:
        info, shots = asyncio.run(measure(base, args))
    with tempfile.TemporaryDirectory() as folder:
        result = info | {name: summarize(s, folder) for name, s in shots.items()}
    print(json.dumps(result, indent=2))
    for name in ["source", "lowest"]:
        r = result[name]
        print(f"{name} ({result['picks'][name]}): glass-to-glass p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms over "
              f"{r['samples']} readings ({r['unread']} unread); the player says p50 {r['player_says_p50_ms']} ms")


if __name__ == "__main__":
    main()
