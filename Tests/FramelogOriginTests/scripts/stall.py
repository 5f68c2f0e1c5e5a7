"""Stalls a playing viewer on purpose and measures how soon it is back at its target latency.

Usage: stall.py WATCH_URL ENCODER_PID PAUSE_SECONDS
Plays WATCH_URL in headless Chromium for 8 s, then stops the encoder (SIGSTOP) for PAUSE_SECONDS and lets
it go on (SIGCONT): nothing arrives meanwhile, the viewer stalls, and then the held-back media comes at once.
Prints JSON: the target, the latency before, the peak after, the seconds from SIGCONT until the latency is
back within 150 ms of the target (null if not within 10 s), stalls and jumps, and any error.
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import os
import signal
import sys
import time

from playwright.async_api import async_playwright

STATE = """() => { const f = window.framelog, v = document.querySelector('video');
  return {latency: f.latencyMs, target: f.target, stalls: f.stalls, jumps: f.jumps, time: v.currentTime,
          error: f.error || (v.error && v.error.message) || null}; }"""


async def main(url, pid, pause):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(url)
        await asyncio.sleep(8)
        before = await page.evaluate(STATE)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(pause)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        peak, back, last = None, None, before
        while time.monotonic() - resumed < 10:
            await asyncio.sleep(0.1)
            last = await page.evaluate(STATE)
            latency = last["latency"]
            if latency is None:
                continue
            peak = latency if peak is None else max(peak, latency)
            # Back: after the stall showed (the peak), within 150 ms of the target again.
            if peak > last["target"] + 500 and latency < last["target"] + 150:
                back = round(time.monotonic() - resumed, 2)
                break
        await browser.close()
        print(json.dumps({"target": last["target"], "before": before["latency"], "peak": peak, "back_s": back,
                          "stalls": last["stalls"] - before["stalls"], "jumps": last["jumps"] - before["jumps"],
                          "error": last["error"]}))


asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
