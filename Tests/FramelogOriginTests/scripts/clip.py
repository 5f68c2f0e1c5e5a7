"""Opens a progressive MP4 in headless Chromium's <video>, seeks in it, and reports what happened.

Usage: clip.py URL SEEK_SECONDS   (prints JSON: duration, the time and readyState after the seek, any media
error, and the Range headers of Chromium's requests for the URL)
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from playwright.async_api import async_playwright

PAGE = """<!doctype html><video muted preload="auto"></video>"""

SEEK = """async ([url, to]) => {
  const v = document.querySelector('video');
  const wait = (name) => new Promise((resolve, reject) => {
    v.addEventListener(name, resolve, {once: true});
    v.addEventListener('error', () => reject(new Error(v.error ? v.error.message || String(v.error.code) : 'error')),
                       {once: true});
    setTimeout(() => reject(new Error('timed out waiting for ' + name)), 15000);
  });
  try {
    v.src = url;
    await wait('loadedmetadata');
    const duration = v.duration;
    v.currentTime = to;
    await wait('seeked');
    if (v.readyState < 2) await wait('canplay');
    await v.play();
    await new Promise((r) => setTimeout(r, 1000));
    return {duration, time: v.currentTime, readyState: v.readyState, width: v.videoWidth, error: null};
  } catch (e) {
    return {error: String(e), duration: v.duration, time: v.currentTime, readyState: v.readyState};
  }
}"""


async def main(url, seek):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        ranges = []
        page.on("request", lambda r: ranges.append(r.headers.get("range")) if r.url == url else None)
        origin = url.split("/vod/")[0]
        await page.route(origin + "/clip-page", lambda route: route.fulfill(content_type="text/html", body=PAGE))
        await page.goto(origin + "/clip-page")
        result = await page.evaluate(SEEK, [url, seek])
        result["ranges"] = ranges
        print(json.dumps(result))
        await browser.close()


asyncio.run(main(sys.argv[1], float(sys.argv[2])))
