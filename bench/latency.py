#!/usr/bin/env python3
"""Latency benchmark in Chromium: capture-to-screen latency of the web player over its two transports,
side by side in one run, and drift over a long run.

Runs `framelog demo` (embedded broker, 720p30 3 Mbit/s test-pattern ingest, origin), then opens two tabs in
headless Chromium (Debian's /usr/bin/chromium through playwright):
  - feed:   /watch/demo             the low-latency chunked feed (init, then each part as it reaches the origin)
  - ll-hls: /watch/demo?transport=hls   the same player fed by LL-HLS: blocking playlist reload + parts
Each samples the player's latency (now - capture wall-clock of the frame on screen, the capture time being
what ingest stamps: ffmpeg's start + pts, also burned into the picture) every 250 ms after a warm-up.

Usage: bench/latency.py [--minutes 2] [--target 400] [--drift-minutes 0] [--framelog .build/release/framelog]
With --drift-minutes N the feed tab keeps running N minutes and the drift (median latency of the last
minute minus that of the first) is reported.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

from playwright.async_api import async_playwright

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import demo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = """() => { const v = document.querySelector('video'); const q = v.getVideoPlaybackQuality(); const f = window.framelog;
  return {latency: f.latencyMs, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, stalls: f.stalls, jumps: f.jumps,
          reconnects: f.reconnects, error: f.error}; }"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else None


def summary(samples):
    lat = [s["latency"] for s in samples if s["latency"] is not None]
    return {"samples": len(lat), "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "max_ms": max(lat) if lat else None,
            "min_ms": min(lat) if lat else None}


async def measure(base, minutes, target, drift_minutes):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          # No GPU here: without this flag Chromium emulates one in software
                                          # (SwiftShader) and cannot composite 720p30 in real time on 2 cores.
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        pages = {}
        for name, query in [("feed", ""), ("ll-hls", "&transport=hls")]:
            page = await browser.new_page()
            await page.goto(f"{base}/watch/demo?target={target}{query}")
            pages[name] = page
        await asyncio.sleep(10)  # warm-up: start, first jump, rate settles
        samples = {name: [] for name in pages}
        first = {name: await page.evaluate(STATE) for name, page in pages.items()}
        end = time.time() + minutes * 60
        while time.time() < end:
            await asyncio.sleep(0.25)
            for name, page in pages.items():
                samples[name].append(await page.evaluate(STATE))
        result = {}
        # Two viewers with the same target show the same frame when their latencies agree.
        gaps = [abs(a["latency"] - b["latency"]) for a, b in zip(samples["feed"], samples["ll-hls"])
                if a["latency"] is not None and b["latency"] is not None]
        result["viewer_sync"] = {"p50_ms": pct(gaps, 0.5), "p95_ms": pct(gaps, 0.95), "max_ms": max(gaps) if gaps else None}
        for name in pages:
            last = samples[name][-1]
            result[name] = summary(samples[name]) | {
                "frames": last["frames"] - first[name]["frames"], "dropped": last["dropped"] - first[name]["dropped"],
                "stalls": last["stalls"] - first[name]["stalls"], "jumps": last["jumps"] - first[name]["jumps"],
                "reconnects": last["reconnects"], "error": last["error"]}
        if drift_minutes > 0:
            await pages["ll-hls"].close()
            drift = [(0.0, s["latency"]) for s in samples["feed"] if s["latency"] is not None]
            start = time.time() - minutes * 60
            end = start + drift_minutes * 60
            while time.time() < end:
                await asyncio.sleep(0.25)
                s = await pages["feed"].evaluate(STATE)
                if s["latency"] is not None:
                    drift.append((time.time() - start, s["latency"]))
            head = [l for t, l in drift if t <= 60] or [l for _, l in drift[:240]]
            tail = [l for t, l in drift if t >= drift_minutes * 60 - 60]
            result["drift"] = {"minutes": drift_minutes, "first_minute_p50_ms": statistics.median(head),
                               "last_minute_p50_ms": statistics.median(tail),
                               "drift_ms": statistics.median(tail) - statistics.median(head),
                               "p95_ms": pct([l for _, l in drift], 0.95)}
        await browser.close()
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--target", type=int, default=400)
    parser.add_argument("--drift-minutes", type=float, default=0)
    parser.add_argument("--framelog", default=os.path.join(ROOT, ".build/release/framelog"))
    args = parser.parse_args()
    with demo(args.framelog) as base:
        result = asyncio.run(measure(base, args.minutes, args.target, args.drift_minutes))
    print(json.dumps(result, indent=2))
    print()
    print(f"| {args.minutes:g} min, target {args.target} ms | p50 | p95 | max | frames | dropped | stalls | jumps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ["feed", "ll-hls"]:
        r = result[name]
        print(f"| {name} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms | {r['frames']} | "
              f"{r['dropped']} | {r['stalls']} | {r['jumps']} |")
    v = result["viewer_sync"]
    print(f"\nsame frame on both viewers: |latency difference| p50 {v['p50_ms']:.0f} ms, p95 {v['p95_ms']:.0f} ms, "
          f"max {v['max_ms']:.0f} ms")
    if "drift" in result:
        d = result["drift"]
        print(f"\ndrift over {d['minutes']:g} min (feed): first-minute p50 {d['first_minute_p50_ms']:.0f} ms, "
              f"last-minute p50 {d['last_minute_p50_ms']:.0f} ms, drift {d['drift_ms']:+.0f} ms, p95 {d['p95_ms']:.0f} ms")


if __name__ == "__main__":
    main()
