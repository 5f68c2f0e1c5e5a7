#!/usr/bin/env python3
"""Archive benchmarks, each side by side with its baseline in one run.

1. Write throughput: --streams finished streams of --seconds each (1280x720 30 fps, 3 Mbit/s H.264 + AAC,
   published with `framelog ingest --file … --fast --copy`) are read back by `framelog bench archive`: the
   project's raw consumer against the archive with durable writes, alternating, --rounds rounds. Target:
   archive ≥ 0.8× raw. CPU per stream at real time is derived from the archive's CPU seconds per second of
   media.
2. clip.mp4: --clip-minutes of one archived stream, cut by the origin (`/vod/ID/clip.mp4`, timed by curl:
   time to first byte and total) against `ffmpeg -ss … -c copy -movflags +faststart` cutting the same range
   from the same archived segments (each track's init and segments concatenated beforehand, not timed).
   Target: faster. Both outputs are checked with ffprobe.

Usage: bench/archive.py [--streams 20] [--seconds 60] [--clip-minutes 10] [--rounds 2]
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import FRAMELOG, free_port, wait_line  # noqa: E402


def make_source(path, seconds):
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi",
        "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-b:v", "3000k",
        "-maxrate", "3000k", "-bufsize", "1500k", "-c:a", "aac", "-b:a", "128k", path], check=True)


def publish(env, bootstrap, stream, path):
    subprocess.run([FRAMELOG, "ingest", "--brokers", bootstrap, "--stream", stream, "--file", path, "--fast",
                    "--copy", "--quiet", "--log-level", "warning"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,nb_frames",
                          "-of", "json", path], capture_output=True, text=True).stdout
    data = json.loads(out or "{}")
    frames = {s["codec_type"]: int(s.get("nb_frames", 0)) for s in data.get("streams", [])}
    return float(data.get("format", {}).get("duration", 0)), frames


def throughput(env, bootstrap, work, args):
    source = os.path.join(work, "throughput.mp4")
    make_source(source, args.seconds)
    started = time.time()
    running = []
    for i in range(args.streams):
        running.append(subprocess.Popen([FRAMELOG, "ingest", "--brokers", bootstrap, "--stream",
                                         f"bench-archive-{i}", "--file", source, "--fast", "--copy", "--quiet",
                                         "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL))
        if len(running) >= 2:
            running.pop(0).wait()
    for p in running:
        p.wait()
    print(f"published {args.streams} streams of {args.seconds} s in {time.time() - started:.0f} s", flush=True)
    out = subprocess.run([FRAMELOG, "bench", "archive", "--brokers", bootstrap, "--rounds", str(args.rounds),
                          "--dir", work], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line), flush=True)
    raw = [l["mb_per_s"] for l in lines if l["side"] == "raw"]
    arch = [l["mb_per_s"] for l in lines if l["side"] == "archive"]
    steady = [l["steady_mb_per_s"] for l in lines if l["side"] == "archive"]
    cpu = [l["cpu_per_media_second"] for l in lines if l["side"] == "archive"]
    print(f"throughput: raw {', '.join(f'{x:.0f}' for x in raw)} MB/s; archive "
          f"{', '.join(f'{x:.0f}' for x in arch)} MB/s end to end, {', '.join(f'{x:.0f}' for x in steady)} MB/s "
          f"after the first durable batch; ratio per round end to end "
          f"{', '.join(f'{a / r:.2f}' for a, r in zip(arch, raw))}, after the join (the target) "
          f"{', '.join(f'{a / r:.2f}' for a, r in zip(steady, raw))}; archive CPU per stream at real time "
          f"{100 * statistics.median(cpu):.2f} % of a core", flush=True)


def clip(env, bootstrap, work, args):
    source = os.path.join(work, "clip-source.mp4")
    make_source(source, args.clip_minutes * 60 + 60)
    publish(env, bootstrap, "bench-clip", source)
    folder = os.path.join(work, "archive")
    archiver = subprocess.Popen([FRAMELOG, "archive", "--brokers", bootstrap, "--dir", folder, "--streams",
                                 "bench-clip", "--group", "bench-clip", "--log-level", "warning"], env=env)
    catalog = os.path.join(folder, "catalog.sqlite")
    last, stable = -1, 0
    while stable < 5:
        time.sleep(1)
        count = 0
        if os.path.exists(catalog):
            count = sqlite3.connect(catalog).execute("SELECT COUNT(*) FROM segment").fetchone()[0]
        stable = stable + 1 if count == last and count > 0 else 0
        last = count
    archiver.send_signal(signal.SIGINT)
    archiver.wait(timeout=60)
    print(f"archived {last} segments of bench-clip", flush=True)

    port = free_port()
    origin = subprocess.Popen([FRAMELOG, "origin", "--brokers", bootstrap, "--port", str(port), "--archive", folder,
                               "--log-level", "warning"], env=env, stdout=subprocess.PIPE, text=True)
    wait_line(origin, r"listening on")
    try:
        base = f"http://127.0.0.1:{port}"
        rows = sqlite3.connect(catalog).execute(
            "SELECT number, start_ms, entry FROM segment WHERE stream = 'bench-clip' ORDER BY number").fetchall()
        start = rows[0][1] + 30_000
        end = start + args.clip_minutes * 60_000
        # ffmpeg's input: each track's init and segments, concatenated (not timed).
        inputs = {}
        for track in ["video", "audio"]:
            path = os.path.join(work, f"{track}.mp4")
            with open(path, "wb") as out:
                init = json.loads(rows[0][2])["tracks"]
                init_id = next(t["initID"] for t in init if t["track"] == track)
                with open(os.path.join(folder, "streams", "bench-clip", track, "init", f"{init_id}.mp4"), "rb") as f:
                    out.write(f.read())
                for number, _, _ in rows:
                    with open(os.path.join(folder, "streams", "bench-clip", track, "seg", f"{number}.m4s"), "rb") as f:
                        out.write(f.read())
            inputs[track] = path
        ours, theirs = [], []
        for round in range(args.rounds + 1):
            order = ["ours", "ffmpeg"] if round % 2 == 0 else ["ffmpeg", "ours"]
            for side in order:
                out = os.path.join(work, f"{side}.mp4")
                if side == "ours":
                    t = subprocess.run(["curl", "-s", "-o", out, "-w", "%{time_starttransfer} %{time_total}",
                                        f"{base}/vod/bench-clip/clip.mp4?start={start}&end={end}"],
                                       capture_output=True, text=True, check=True).stdout.split()
                    ttfb, total = float(t[0]), float(t[1])
                else:
                    began = time.time()
                    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "30", "-i", inputs["video"], "-ss", "30",
                                    "-i", inputs["audio"], "-t", str(args.clip_minutes * 60), "-map", "0:v",
                                    "-map", "1:a", "-c", "copy", "-movflags", "+faststart", out], check=True)
                    ttfb, total = None, time.time() - began
                duration, frames = probe(out)
                if round == 0:
                    continue  # warm-up: page cache for both
                (ours if side == "ours" else theirs).append(total)
                print(json.dumps({"side": side, "round": round, "ttfb_s": ttfb, "total_s": round_(total),
                                  "bytes": os.path.getsize(out), "duration_s": duration, "frames": frames}),
                      flush=True)
        print(f"clip of {args.clip_minutes} min: ours {', '.join(f'{x:.2f}' for x in ours)} s, ffmpeg "
              f"{', '.join(f'{x:.2f}' for x in theirs)} s; ratio (ffmpeg / ours) "
              f"{statistics.median(theirs) / statistics.median(ours):.1f}×", flush=True)
    finally:
        origin.send_signal(signal.SIGINT)
        origin.wait(timeout=30)


def round_(x):
    return None if x is None else round(x, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clip-minutes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=["throughput", "clip"])
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="framelog-bench-archive-")
    env = dict(os.environ, FRAMELOG_STATE_DIR=work)
    env.pop("FRAMELOG_BROKERS", None)
    broker = subprocess.Popen([FRAMELOG, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                              text=True)
    bootstrap = wait_line(broker, r"listening on (\S+)").group(1)
    try:
        if args.only in (None, "throughput"):
            throughput(env, bootstrap, work, args)
        if args.only in (None, "clip"):
            clip(env, bootstrap, work, args)
    finally:
        broker.send_signal(signal.SIGINT)
        broker.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
