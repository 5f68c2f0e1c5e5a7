"""Opens the stream list in headless Chromium and reports what a viewer sees for one stream.

Usage: streamlist.py BASE STREAM   (prints JSON: the thumbnail's drawn size, the alert badges; exit 1 if no
thumbnail is drawn or no badge shows within 15 s)
Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from playwright.async_api import async_playwright

STATE = """(id) => {
  const row = [...document.querySelectorAll('#streams tbody tr')].find(tr => tr.querySelector(`a[href="/watch/${id}"]`));
  if (!row) return null;
  const img = row.querySelector('img.thumb');
  return {thumbWidth: img ? img.naturalWidth : 0, thumbHeight: img ? img.naturalHeight : 0,
          alerts: [...row.querySelectorAll('.alert')].map(b => b.textContent)};
}"""


async def main(base, stream):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--disable-gpu"])
        page = await browser.new_page()
        await page.goto(base + "/")
        state = None
        for _ in range(60):
            await asyncio.sleep(0.25)
            state = await page.evaluate(STATE, stream)
            if state and state["thumbWidth"] > 0 and state["alerts"]:
                break
        await page.screenshot(path="/tmp/framelog-streamlist.png")
        await browser.close()
        print(json.dumps(state))
        sys.exit(0 if state and state["thumbWidth"] > 0 and state["alerts"] else 1)


asyncio.run(main(sys.argv[1], sys.argv[2]))
