"""Our web player on a ladder in Chromium: it steps down a rung when the link is throttled, and back up when
the throttle is lifted, with no stall and no jump; the quality menu picks a rung.

Usage: abr.py BASE_URL STREAM_ID TRANSPORT   (TRANSPORT: feed or hls; the stream has a source and renditions)

The throttle: for LL-HLS, the DevTools protocol (Network.emulateNetworkConditions). Chromium applies that to
requests as they start, never to a response already streaming, and the feed is one long response; so for
the feed a shaping proxy here (one token bucket for every connection, like a slow link) stands between
Chromium and the origin.

1. /watch/ID plays; after a warm-up the player lists the ladder (source + renditions) and shows the source.
2. The download is capped at 85 % of what the source needs (its bandwidth, plus what the transport reads
   besides media: playlists, framing, as the player measures it). Within 12 s the picture is smaller than
   the source's and the player says it is on a lower rung; it stays there.
3. The throttle is lifted: within 25 s the picture is back at the source's size.
4. From the warm-up to the end: the playhead never stops (sampled every 250 ms, here), no `waiting` of
   100 ms or more (3 frames), no latency jump, frames keep coming (≥ 20 fps).
5. The quality menu: picking the lowest rung shows its size within 5 s, `auto` is accepted.

Prints JSON (the timeline every 250 ms, the switches, what failed), also to $ABR_JSON.TRANSPORT.json when
ABR_JSON is set; exit 1 on a problem.
"""
import asyncio
import json
import os
import pathlib
import sys
import time

from playwright.async_api import async_playwright

base, stream, transport = sys.argv[1], sys.argv[2], sys.argv[3]
problems = []

STATE = """() => {
  const v = document.querySelector('video'), f = window.framelog;
  return {now: Date.now(), time: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, height: v.videoHeight, rung: f.rung,
          rungs: f.rungs.map(r => [r.id, r.height, r.bandwidth]), latency: f.latencyMs && Math.round(f.latencyMs),
          stalls: f.stalls, jumps: f.jumps, estimate: f.estimateBps, target: f.target, error: f.error,
          switches: f.switches, stallsMs: f.stallsMs, reconnects: f.reconnects, overhead: f.overheadBps, audio: f.audioBps, arrival: f.arrivalMs && Math.round(f.arrivalMs),
          ahead: v.buffered.length ? Math.round(1000 * (v.buffered.end(v.buffered.length - 1) - v.currentTime)) : null};
}"""


class Shaper:
    """A TCP proxy to `port` whose downstream (origin to browser) shares one link of `rate` bits/s (None:
    unlimited), sent in 1460-byte packets."""

    def __init__(self, port):
        self.port, self.rate, self.free_at, self.lock = port, None, 0.0, asyncio.Lock()

    async def start(self):
        self.server = await asyncio.start_server(self.connection, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def connection(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self.pipe(reader, up_writer, False), self.pipe(up_reader, writer, True),
                             return_exceptions=True)

    async def pipe(self, reader, writer, shaped):
        try:
            while data := await reader.read(1460 if shaped else 65536):
                if shaped and self.rate:
                    async with self.lock:
                        rate = self.rate  # it may have been lifted while this waited for the lock
                        if rate:
                            now = asyncio.get_running_loop().time()
                            self.free_at = max(now, self.free_at) + len(data) * 8 / rate
                            await asyncio.sleep(self.free_at - now)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def main():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")

        shaper = Shaper(int(base.rsplit(":", 1)[1]))
        origin = f"http://127.0.0.1:{await shaper.start()}" if transport == "feed" else base

        async def throttle(bits_per_second):
            """Caps the download at `bits_per_second` (None: no cap)."""
            if transport == "feed":
                shaper.rate = bits_per_second
            else:
                # 1 Gbit/s limits nothing here; emulation stays on (requests made without it are never throttled).
                await cdp.send("Network.emulateNetworkConditions", {
                    "offline": False, "latency": 0, "uploadThroughput": -1,
                    "downloadThroughput": (bits_per_second or 1_000_000_000) / 8})

        await throttle(None)
        query = "?transport=hls" if transport == "hls" else ""
        await page.goto(f"{origin}/watch/{stream}{query}")
        timeline = []
        t0 = time.monotonic()

        async def sample():
            s = await page.evaluate(STATE)
            s["t"] = round(time.monotonic() - t0, 2)
            timeline.append({k: s[k] for k in ("t", "time", "frames", "height", "rung", "latency", "stalls", "jumps",
                                               "estimate", "arrival", "ahead", "error", "reconnects")})
            return s

        async def wait_for(condition, seconds):
            """Samples every 250 ms until `condition(state)` holds; the state, or None after `seconds`."""
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                s = await sample()
                if condition(s):
                    return s
                await asyncio.sleep(0.25)
            return None

        async def hold(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await sample()
                await asyncio.sleep(0.25)


        start = await wait_for(lambda s: len(s["rungs"]) == 3 and s["height"] == 180 and s["rung"] == stream, 15)
        summary = {"transport": transport}
        if start is None:
            problems.append("the player did not start on the source with a ladder of 3")
            return summary, timeline
        await hold(3)
        start = await sample()
        if start["height"] != 180 or start["rung"] != stream:
            problems.append(f"left the source before the throttle: {start}")
        # What each rung needs, as the player counts it: its video (the source's figure counts its audio
        # too), the shared audio, and what the transport reads besides media (playlists, framing).
        need = [r[2] + (0 if r[0] == stream else start["audio"]) + start["overhead"] for r in start["rungs"]]
        limit = int(0.85 * need[0])
        if limit < 1.2 * need[-1]:
            problems.append(f"no throttle below the source leaves room for the lowest rung: needs {need}")
        summary["needs"] = need
        summary.update(rungs=start["rungs"], limit=limit)
        await throttle(limit)
        throttled = await sample()
        down = await wait_for(lambda s: s["height"] < 180 and s["rung"] != stream, 12)
        if down is None:
            problems.append(f"no step down within 12 s under {limit} bit/s")
        else:
            summary["down_after_s"] = round(down["t"] - throttled["t"], 2)
            await hold(5)
            s = await sample()
            if s["height"] >= 180:
                problems.append(f"back on the source while still throttled: {s}")
        await throttle(None)
        lifted = await sample()
        up = await wait_for(lambda s: s["height"] == 180, 25)
        if up is None:
            problems.append("not back on the source within 25 s of lifting the throttle")
        else:
            summary["up_after_s"] = round(up["t"] - lifted["t"], 2)
        end = await sample()
        elapsed = end["t"] - start["t"]
        summary["fps"] = round((end["frames"] - start["frames"]) / elapsed, 1)
        # Stalls, measured here: the playhead all but stopped between two samples (it moves at 0.9-1.1x).
        after = [x for x in timeline if x["t"] >= start["t"]]
        stopped = [b["t"] for a, b in zip(after, after[1:])
                   if b["t"] - a["t"] >= 0.2 and b["time"] - a["time"] < 0.3 * (b["t"] - a["t"])]
        summary["stopped_at"] = stopped
        if stopped:
            problems.append(f"the picture stopped at {stopped} s")
        # And as the player saw them: `waiting` until `playing`. Under ~3 frames is a hiccup nobody sees.
        waits = [ms for at, ms in end["stallsMs"] if at >= start["now"]]
        summary["waits_ms"] = waits
        if any(ms >= 100 for ms in waits) or end["stalls"] - start["stalls"] > len(waits) + 1:
            problems.append(f"stalls the player saw (waiting, ms): {waits}, {end['stalls'] - start['stalls']} in all")
        if end["jumps"] != start["jumps"]:
            problems.append(f"{end['jumps'] - start['jumps']} latency jump(s)")
        if summary["fps"] < 20:
            problems.append(f"{summary['fps']} frames per second")
        if end["error"]:
            problems.append(f"player error {end['error']}")
        latencies = [x["latency"] for x in timeline if x["t"] >= start["t"] and x["latency"] is not None]
        summary["latency_ms"] = {"min": min(latencies), "max": max(latencies), "target": end["target"]}
        summary["switches"] = end["switches"]

        # The quality menu: the lowest rung, then auto.
        lowest = min(start["rungs"], key=lambda r: r[1])
        await page.select_option("#quality", lowest[0])
        if await wait_for(lambda s: s["height"] == lowest[1], 5) is None:
            problems.append(f"picking {lowest[0]} in the menu did not show it within 5 s")
        await page.select_option("#quality", "auto")
        summary["overlay"] = await page.inner_text("#overlay")
        await browser.close()
        if transport == "feed":
            shaper.server.close()
        return summary, timeline


summary, timeline = asyncio.run(main())
summary["problems"] = problems
summary["timeline"] = timeline
print(json.dumps(summary))
if os.environ.get("ABR_JSON"):
    pathlib.Path(os.environ["ABR_JSON"] + f".{transport}.json").write_text(json.dumps(summary))
sys.exit(1 if problems else 0)
