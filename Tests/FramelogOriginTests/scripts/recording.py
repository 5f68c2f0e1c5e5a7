"""Plays a recording through MSE in headless Chromium and seeks in it with the seek bar, as a viewer drags it.

Usage: recording.py WATCH_URL MS [MS ...]   (MS: capture times to seek to, ms since the epoch, in order)
Prints JSON: the recording's extent and, per seek, the capture time on screen once it landed (null if it did
not within 8 s), how long that took, whether playback then advanced, the seek bar's label and any error.
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from playwright.async_api import async_playwright

STATE = """() => {
  const v = document.querySelector('video'), f = window.framelog || {};
  return {onScreen: f.captureAt ? f.captureAt(v.currentTime) : null, time: v.currentTime, mode: f.mode,
          position: f.position, recording: f.recording, error: f.error || (v.error && v.error.message) || null,
          seekBar: !document.getElementById('dvr').hidden, where: document.getElementById('where').textContent,
          paused: v.paused};
}"""

# The slider as a viewer moves it: a value out of 1000 over the recording, then `change`.
DRAG = """ms => {
  const r = window.framelog.recording, seek = document.getElementById('seek');
  seek.value = String(Math.round(1000 * (ms - r.startMs) / (r.endMs - r.startMs)));
  seek.dispatchEvent(new Event('input'));
  seek.dispatchEvent(new Event('change'));
  return Number(seek.value);
}"""


async def main(url, targets):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(url)
        start = None
        for _ in range(40):
            await asyncio.sleep(0.25)
            start = await page.evaluate(STATE)
            if start["onScreen"] is not None:
                break
        await asyncio.sleep(1)
        seeks = []
        for target in targets:
            value = await page.evaluate(DRAG, target)
            landed, took = None, None
            for i in range(80):
                await asyncio.sleep(0.1)
                s = await page.evaluate(STATE)
                if s["onScreen"] is not None and abs(s["onScreen"] - target) < 1500:
                    landed, took = s, round((i + 1) * 0.1, 1)
                    break
            await asyncio.sleep(1.5)
            after = await page.evaluate(STATE)
            seeks.append({"target": target, "slider": value, "landed": landed["onScreen"] if landed else None,
                          "seconds": took, "advanced": (after["time"] - landed["time"]) if landed else None,
                          "where": after["where"], "error": after["error"]})
        await browser.close()
        print(json.dumps({"start": start, "seeks": seeks}))


asyncio.run(main(sys.argv[1], [int(x) for x in sys.argv[2:]]))
