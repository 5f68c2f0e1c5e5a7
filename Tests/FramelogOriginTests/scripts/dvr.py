"""Seeks back 30 s in a live stream in headless Chromium with the player's own buttons, then returns to live.

Usage: dvr.py WATCH_URL   (prints JSON: samples of {t, position, mode, latency, time, error} while live, after
"−30 s" and after "live", and whether the seek bar is shown)
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from playwright.async_api import async_playwright

STATE = """() => {
  const v = document.querySelector('video'), f = window.framelog || {};
  return {position: f.position, mode: f.mode, latency: f.latencyMs, time: v.currentTime, error: f.error || null,
          rate: v.playbackRate, seekBar: !document.getElementById('dvr').hidden,
          seekValue: Number(document.getElementById('seek').value), where: document.getElementById('where').textContent};
}"""


async def samples(page, seconds):
    out = []
    for _ in range(int(seconds * 2)):
        await asyncio.sleep(0.5)
        out.append(await page.evaluate(STATE))
    return out


async def main(url):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(url)
        live = await samples(page, 8)
        await page.click("#back30")
        past = await samples(page, 10)
        await page.click("#live")
        back = await samples(page, 10)
        print(json.dumps({"live": live, "past": past, "back": back}))
        await browser.close()


asyncio.run(main(sys.argv[1]))
