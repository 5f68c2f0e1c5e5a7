"""Plays a stream in headless Chromium and reports what the viewer saw.

Usage: browser.py URL SECONDS WARMUP   (prints JSON: frames advanced, latency samples after warm-up)
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from playwright.async_api import async_playwright

STATE = """() => {
  const v = document.querySelector('video');
  const q = v.getVideoPlaybackQuality();
  const f = window.framelog || {};
  return {time: v.currentTime, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, latency: f.latencyMs,
          mode: f.mode, error: f.error || (v.error && v.error.message) || null, jumps: f.jumps, stalls: f.stalls,
          width: v.videoWidth, now: Date.now(), tracks: f.tracks || null,
          buffered: f.buffered ? f.buffered() : null, avSkewMs: f.avSkewMs ? f.avSkewMs() : null,
          audioBytes: v.webkitAudioDecodedByteCount || 0};
}"""


async def main(url, seconds, warmup):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          # No GPU here: without this flag Chromium emulates one in software
                                          # (SwiftShader) and cannot composite 720p30 in real time on 2 cores.
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(url)
        await asyncio.sleep(warmup)
        start = await page.evaluate(STATE)
        latencies = []
        for _ in range(int(seconds * 4)):
            await asyncio.sleep(0.25)
            s = await page.evaluate(STATE)
            if s["latency"] is not None:
                latencies.append(s["latency"])
        end = await page.evaluate(STATE)
        await browser.close()
        print(json.dumps({"start": start, "end": end, "latencies": latencies}))


asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
