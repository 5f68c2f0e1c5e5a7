#!/usr/bin/env python3
"""Glass-to-glass latency read off the screen: two Chromium viewers, the feed and LL-HLS, side by side in one run.

Three sources (`--source`):
  - demo: `framelog demo` (embedded broker, 720p30 test-pattern ingest, transcode, archive, analyze, origin).
    The test pattern burns in the wall clock of each frame's making (ffmpeg's RTCTIME as the frame passes
    its filter); `fl-capture-ms` follows it to within the encoding time. (Before 2026-12-04 evening it
    burned in ffmpeg's spawn time + pts, 0.3-0.4 s ahead of the making, and overstated every reading.)
  - rtmp: broker, origin and `framelog ingest --rtmp-listen` (re-encoding; `--copy` to pass it through), fed
    by a small generator here: each frame is drawn by Pillow with the wall clock of its own creation,
    640x360 at 30 fps, piped into ffmpeg (x264 zerolatency, a keyframe every 2 s) and pushed over RTMP.
    This takes ingest's capture-time anchor out of the loop: the encoder and the RTMP hop count too.
  - pattern: broker, origin and `framelog ingest --test-pattern --size 640x360` (no ladder, no other
    services): Framelog's own path from the frame's making to the screen, with nothing upstream of it.
Two tabs of headless Chromium (Debian's /usr/bin/chromium through playwright) play /watch/ID (the feed) and
/watch/ID?transport=hls (LL-HLS). After `--warmup`, the script takes turns screenshotting the clock's corner
of each tab's video for `--seconds`, noting the wall clock just before and after each screenshot, and the
player's own figures (latencyMs, target, stalls). Afterwards, so that OCR does not load the machine while it
measures, tesseract reads each picture: latency = mid-point of the screenshot's wall-clock span - the clock
read. Readings tesseract could not parse, or more than 10 s off, are counted and left out. The player's own
latency is reported beside, never in place of the reading.

Usage: bench/glass.py [--source demo|rtmp|pattern] [--copy] [--seconds 120] [--warmup 20] [--target MS]
                      [--framelog .build/release/framelog]
Without --target each player chooses its own (adaptive); with it, ?target=MS. The target range seen and the
player's last reason for it are reported.
Needs tesseract (`scripts/setup.sh --bench-tools`) and Pillow (in the venv, with the moderation model).
"""
import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from playwright.async_api import async_playwright

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import FRAMELOG, clock_clip, demo, free_port, percentile, read_clock, stop_all, wait_line  # noqa: E402

TABS = [("feed", ""), ("ll-hls", "transport=hls")]
STATE = """() => { const f = window.framelog, v = document.querySelector('video');
  return {latency: f.latencyMs, target: f.target, reason: f.targetReason, stalls: f.stalls,
          height: v.videoHeight}; }"""
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def generate(url, stop, size=(640, 360), fps=30):
    """Frames drawn with the wall clock (UTC, ms) of their creation, in ingest's place and size, piped into
    ffmpeg and pushed to `url` until `stop` is set. Retries the push while nothing listens yet."""
    from PIL import Image, ImageDraw, ImageFont
    w, h = size
    font_size = max(12, h // 14)
    font = ImageFont.truetype(FONT, font_size)
    while not stop.is_set():
        ffmpeg = subprocess.Popen([
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
            "-tune", "zerolatency", "-g", str(2 * fps), "-pix_fmt", "yuv420p", "-b:v", "1500k", "-f", "flv", url],
            stdin=subprocess.PIPE)
        start, n = time.time(), 0
        try:
            while not stop.is_set():
                due = start + n / fps
                time.sleep(max(0.0, due - time.time()))
                now = time.time()
                image = Image.new("RGB", size, (40, 60, 90))
                draw = ImageDraw.Draw(image)
                # Something that moves, so the encoder has work like a camera's.
                x = int(n * 4) % w
                draw.rectangle([x, h // 4, x + 60, h // 2], fill=(220, 200, 40))
                text = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d} UTC"
                left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
                pad = font_size // 4
                tx, ty = font_size // 2, h - (bottom - top) - font_size // 2
                draw.rectangle([tx - pad, ty - pad, tx + right + pad, ty + bottom + pad], fill=(0, 0, 0))
                draw.text((tx, ty - top), text, font=font, fill=(255, 255, 255))
                ffmpeg.stdin.write(image.tobytes())
                n += 1
        except (BrokenPipeError, OSError):
            time.sleep(0.5)  # ingest not listening yet (or gone): push again
        finally:
            with contextlib.suppress(OSError):
                ffmpeg.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                ffmpeg.wait(timeout=10)
            if ffmpeg.poll() is None:
                ffmpeg.kill()


@contextlib.contextmanager
def rtmp_stack(framelog, copy, pattern=False):
    """broker + origin + `ingest --rtmp-listen` + the generator (or, with `pattern`, `ingest --test-pattern`);
    yields (base URL, stream id)."""
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, FRAMELOG_STATE_DIR=state)
        env.pop("FRAMELOG_BROKERS", None)
        broker = subprocess.Popen([framelog, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                                  text=True)
        procs = [broker]
        stop = threading.Event()
        generator = None
        try:
            bootstrap = wait_line(broker, r"listening on (\S+)").group(1)
            port, rtmp_port = free_port(), free_port()
            origin = subprocess.Popen([framelog, "origin", "--brokers", bootstrap, "--port", str(port),
                                       "--log-level", "warning"], env=env, stdout=subprocess.PIPE, text=True)
            procs.insert(0, origin)
            wait_line(origin, r"listening on")
            url = f"rtmp://127.0.0.1:{rtmp_port}/live/glass"
            source = ["--test-pattern", "--size", "640x360"] if pattern else ["--rtmp-listen", url]
            ingest = subprocess.Popen([framelog, "ingest", "--brokers", bootstrap, "--stream", "glass", *source,
                                       "--quiet", "--log-level", "warning"] + (["--copy"] if copy else []),
                                      env=env, stdout=subprocess.DEVNULL)
            procs.insert(0, ingest)
            time.sleep(2)
            if not pattern:
                generator = threading.Thread(target=generate, args=(url, stop), daemon=True)
                generator.start()
            time.sleep(6)
            yield f"http://127.0.0.1:{port}", "glass"
        finally:
            stop.set()
            if generator:
                generator.join(timeout=15)
            stop_all(procs)


async def measure(base, stream, args):
    """{tab: [(wall ms before, wall ms after, png, player state)]}, and each tab's state before sampling."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        pages = {}
        for name, query in TABS:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            parts = [q for q in [query, f"target={args.target}" if args.target else ""] if q]
            await page.goto(f"{base}/watch/{stream}" + ("?" + "&".join(parts) if parts else ""))
            pages[name] = page
        await asyncio.sleep(args.warmup)
        first = {name: await page.evaluate(STATE) for name, page in pages.items()}
        clips = {}
        for name, page in pages.items():
            box = await page.evaluate("""() => { const r = document.querySelector('video').getBoundingClientRect();
                return {x: r.x, y: r.y, width: r.width, height: r.height}; }""")
            clips[name] = clock_clip(box)
        shots = {name: [] for name in pages}
        end = time.time() + args.seconds
        while time.time() < end:
            for name, page in pages.items():
                before = time.time() * 1000
                png = await page.screenshot(clip=clips[name])
                after = time.time() * 1000
                shots[name].append((before, after, png, await page.evaluate(STATE)))
            await asyncio.sleep(0.2)
        await browser.close()
    return shots, first


def summarize(shots, first, folder, tab):
    latencies, player, spans, unread = [], [], [], 0
    for n, (before, after, png, state) in enumerate(shots):
        clock = read_clock(png, folder, f"{tab}{n}")
        wall = (before + after) / 2 % 86_400_000
        if clock is None or abs(wall - clock) > 10_000:
            unread += 1
            continue
        latencies.append(wall - clock)
        spans.append(after - before)
        if state["latency"] is not None:
            player.append(state["latency"])
    last = shots[-1][3] if shots else first
    t = [shot[3]["target"] for shot in shots if shot[3].get("target") is not None]

    def q(values, p):
        return round(percentile(values, p)) if values else None

    return {"samples": len(latencies), "unread": unread, "p50_ms": q(latencies, 50), "p95_ms": q(latencies, 95),
            "max_ms": q(latencies, 100), "screenshot_span_p50_ms": q(spans, 50),
            "player_says_p50_ms": q(player, 50), "player_says_p95_ms": q(player, 95),
            "target_ms": last["target"], "target_range_ms": [min(t), max(t)] if t else None,
            "target_reason": last.get("reason"), "stalls": (last["stalls"] or 0) - (first["stalls"] or 0)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["demo", "rtmp", "pattern"], default="demo")
    parser.add_argument("--copy", action="store_true", help="rtmp: ingest passes the generator's video through")
    parser.add_argument("--seconds", type=float, default=120, help="sampling time")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of playing before sampling")
    parser.add_argument("--target", type=int, default=0, help="the players' latency target (0: their default)")
    parser.add_argument("--framelog", default=FRAMELOG)
    args = parser.parse_args()
    if subprocess.run(["which", "tesseract"], capture_output=True).returncode != 0:
        sys.exit("tesseract is missing: scripts/setup.sh --bench-tools")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.source == "demo":
        stack = demo(args.framelog)
    else:
        stack = rtmp_stack(args.framelog, args.copy, pattern=args.source == "pattern")
    with stack as started:
        base, stream = (started, "demo") if args.source == "demo" else started
        shots, first = asyncio.run(measure(base, stream, args))
    with tempfile.TemporaryDirectory() as folder:
        result = {"source": args.source + (" --copy" if args.copy else ""), "seconds": args.seconds,
                  "target": args.target or "default"}
        result |= {tab: summarize(shots[tab], first[tab], folder, tab) for tab, _ in TABS}
    print(json.dumps(result, indent=2))
    print(f"| source | viewer | OCR p50 | OCR p95 | OCR max | player says p50 / p95 | target | stalls | readings |")
    for tab, _ in TABS:
        r = result[tab]
        print(f"| {result['source']} | {tab} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | "
              f"{r['player_says_p50_ms']} / {r['player_says_p95_ms']} | {r['target_ms']} | {r['stalls']} | "
              f"{r['samples']} ({r['unread']} unread) |")


if __name__ == "__main__":
    main()
