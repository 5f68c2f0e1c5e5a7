"""Seeks back 30 s in a live stream in headless Chromium with the player's own buttons, then returns to live.
First it hovers over the seek bar a quarter of the way in: the thumbnail preview of that moment shows, from
the thumbnail track once the player has it.

Usage: dvr.py WATCH_URL   (prints JSON: samples of {t, position, mode, latency, time, error} while live, after
"−30 s" and after "live", whether the seek bar is shown, and the preview: while hovering, and after leaving)
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


PREVIEW = """() => {
  const p = document.getElementById('preview'), img = p.querySelector('img'), tile = p.querySelector('.tile');
  const f = window.framelog.preview || {};
  // From the thumbnail track (a tile: the box of its image the cue names), or else at.jpg (the img).
  const track = f.source === 'track';
  const box = tile.getBoundingClientRect();
  return {shown: !p.hidden && (track ? !tile.hidden && box.width === 160 && box.height > 0
                                     : img.complete && img.naturalWidth > 0),
          source: f.source || null, width: track ? f.w : img.naturalWidth, src: track ? f.url : img.src,
          when: p.querySelector('.when').textContent, t: f.t || null,
          dvrStartMs: window.framelog.dvrStartMs, now: Date.now()};
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
        box = await page.locator("#seek").bounding_box()
        await page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
        hovering = None
        for i in range(20):
            await asyncio.sleep(0.25)
            # A pointer that rests still moves a pixel now and then: the preview follows it.
            await page.mouse.move(box["x"] + box["width"] * 0.25 + i % 2, box["y"] + box["height"] / 2)
            hovering = await page.evaluate(PREVIEW)
            if hovering["shown"] and hovering["source"] == "track":
                break
        await page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] - 200)
        await asyncio.sleep(0.3)
        left = await page.evaluate(PREVIEW)
        await page.click("#back30")
        past = await samples(page, 10)
        await page.click("#live")
        back = await samples(page, 10)
        print(json.dumps({"live": live, "past": past, "back": back, "preview": [hovering, left]}))
        await browser.close()


asyncio.run(main(sys.argv[1]))
