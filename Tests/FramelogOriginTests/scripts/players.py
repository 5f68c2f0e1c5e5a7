"""Plays a stream in headless Chromium with a third-party player and reports what it saw.

Usage: players.py hlsjs|dashjs BASE_URL STREAM_ID SECONDS   (prints JSON)

hls.js 1.5.7 (lowLatencyMode, the multivariant playlist with its audio group) or dash.js 5.1.1 (the MPD),
extracted by scripts/setup.sh into .venv/players/. Both are served to the page by playwright under the
origin's own address (/__players/…), so nothing is added to the product. Uses Debian's /usr/bin/chromium.
"""
import asyncio
import json
import pathlib
import sys

from playwright.async_api import async_playwright

ROOT = pathlib.Path(__file__).resolve().parents[3]
PLAYERS = ROOT / ".venv" / "players"

HLS_PAGE = """<!doctype html><html><body><video muted autoplay playsinline></video>
<script src="/__players/hls.min.js"></script>
<script>
const video = document.querySelector('video');
const result = window.result = {errors: [], fatal: null, levels: null, audioTracks: null, version: Hls.version,
                                latency: null};
const hls = new Hls({lowLatencyMode: true});
hls.on(Hls.Events.ERROR, (_, d) => { result.errors.push(d.details); if (d.fatal) result.fatal = d.details; });
hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => { result.levels = d.levels.length; });
hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, d) => { result.audioTracks = d.audioTracks.length; });
setInterval(() => { result.latency = hls.latency; }, 250);
hls.loadSource('SOURCE');
hls.attachMedia(video);
video.play().catch(() => {});
</script></body></html>"""

DASH_PAGE = """<!doctype html><html><body><video muted autoplay playsinline></video>
<script type="module">
import * as dashjs from '/__players/dash.mjs';
const video = document.querySelector('video');
const result = window.result = {errors: [], fatal: null, version: null, latency: null, tracks: []};
const player = dashjs.MediaPlayer().create();
result.version = player.getVersion();
player.on(dashjs.MediaPlayer.events.ERROR, e => {
  const text = (e.error && (e.error.message || e.error.code)) || String(e.error);
  result.errors.push(String(text));
  result.fatal = String(text);
});
// Warnings reach the console, where a failed clock synchronisation ("Failed to synchronize client and
// server time") would show; the same failure also fires ERROR (TIME_SYNC_FAILED).
player.updateSettings({debug: {logLevel: dashjs.Debug.LOG_LEVEL_WARNING}});
player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
  result.tracks = ['video', 'audio'].filter(t => player.getTracksFor(t).length);
});
player.initialize(video, 'SOURCE', true);
setInterval(() => { try { result.latency = player.getCurrentLiveLatency(); } catch (e) {} }, 250);
</script></body></html>"""

STATE = """() => {
  const v = document.querySelector('video');
  const q = v.getVideoPlaybackQuality();
  return Object.assign({}, window.result || {}, {time: v.currentTime, frames: q.totalVideoFrames,
    audioBytes: v.webkitAudioDecodedByteCount || 0, videoBytes: v.webkitVideoDecodedByteCount || 0,
    width: v.videoWidth, mediaError: v.error && v.error.message});
}"""


async def main(kind, base, stream, seconds):
    page_html, source = {
        "hlsjs": (HLS_PAGE, f"/hls/{stream}/index.m3u8"),
        "dashjs": (DASH_PAGE, f"/dash/{stream}/manifest.mpd"),
    }[kind]
    files = {"/__players/hls.min.js": PLAYERS / "hls.min.js", "/__players/dash.mjs": PLAYERS / "dash.mjs"}
    console = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

        async def serve(route):
            path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
            if path == "/__players/page.html":
                await route.fulfill(body=page_html.replace("SOURCE", source), content_type="text/html")
            else:
                await route.fulfill(body=files[path].read_bytes(), content_type="text/javascript")

        await page.route(f"{base}/__players/**", serve)
        await page.goto(f"{base}/__players/page.html")
        await asyncio.sleep(4)
        start = await page.evaluate(STATE)
        await asyncio.sleep(seconds)
        end = await page.evaluate(STATE)
        await browser.close()
    print(json.dumps({"start": start, "end": end,
                      "console": [c for c in console if "error" in c.lower() or "synchroni" in c.lower()][:20], "all": console[:40]}))


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
