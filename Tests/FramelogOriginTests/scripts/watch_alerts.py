"""Opens a stream's watch page in headless Chromium: the badge of an open alert shows; once the alert's end
event is published to Kafka, it goes.

Usage: watch_alerts.py BASE STREAM BOOTSTRAP TOPIC END_EVENT_JSON
Prints JSON: the badges seen before and after; exit 1 if the badge did not show within 15 s or did not go
within 15 s of the end. Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser).
"""
import asyncio
import json
import sys

from confluent_kafka import Producer
from playwright.async_api import async_playwright

BADGES = "() => [...document.querySelectorAll('#alerts .alert')].filter(b => b.offsetWidth > 0).map(b => b.textContent)"


async def wait_for(page, want, seconds=15):
    badges = None
    for _ in range(seconds * 4):
        badges = await page.evaluate(BADGES)
        if want(badges):
            return True, badges
        await asyncio.sleep(0.25)
    return False, badges


async def main(base, stream, bootstrap, topic, end_event):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(f"{base}/watch/{stream}")
        shown, before = await wait_for(page, lambda b: "black" in b)
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, key=stream.encode(), value=end_event.encode())
        producer.flush(10)
        gone, after = await wait_for(page, lambda b: "black" not in b)
        state = await page.evaluate("() => window.framelog.alerts")
        await browser.close()
        print(json.dumps({"before": before, "after": after, "stats": state}))
        sys.exit(0 if shown and gone else 1)


asyncio.run(main(*sys.argv[1:6]))
