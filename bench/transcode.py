"""CPU of the transcoder's one-ffmpeg ladder against one ffmpeg per rung, on the same source.

Usage: .venv/bin/python bench/transcode.py [--seconds 60] [--rounds 3] [--size 1280x720] [--bitrate 3M]
       [--ladder 720p:2800k,480p:1200k,360p:600k]

Makes the source with ffmpeg (testsrc2 and a moving clock, 1280x720 at 30 fps by default, x264 veryfast
3 Mbit/s, a keyframe every 2 s, one fragment per 200 ms part: what ingest publishes). With the default
ladder a 720p source gets two encoded rungs (480p, 360p: 720p is the source itself); `--size 1920x1080
--bitrate 6M` gets all three. keeps its video track as the
transcoder receives it, then runs `framelog bench transcode` (release build) on it: both sides per round,
alternating which goes first. Prints the JSON lines and the ratio per round (target ≤ 0.75).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=int, default=60)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--ladder", default="720p:2800k,480p:1200k,360p:600k")
parser.add_argument("--preset", default="veryfast")
parser.add_argument("--size", default="1280x720", help="the source's WIDTHxHEIGHT")
parser.add_argument("--bitrate", default="3M", help="the source's bitrate (x264 -b:v)")
args = parser.parse_args()

def half(rate):
    """Half a bitrate in ffmpeg's notation ("3M" -> "1500k"): the source's VBV buffer."""
    units = {"k": 1e3, "K": 1e3, "M": 1e6}
    value = float(rate[:-1]) * units[rate[-1]] if rate[-1] in units else float(rate)
    return f"{int(value / 2000)}k"


root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
framelog = os.path.join(root, ".build", "release", "framelog")
if not os.path.exists(framelog):
    sys.exit("build it first: swift build -c release --product framelog")

with tempfile.TemporaryDirectory() as folder:
    source = os.path.join(folder, "source.mp4")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
        "-i", f"testsrc2=size={args.size}:rate=30:duration={args.seconds}",
        "-vf", "drawtext=text='%{pts\\:hms}':x=40:y=40:fontsize=64:fontcolor=white:box=1",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", args.bitrate, "-maxrate", args.bitrate,
        "-bufsize", half(args.bitrate),
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-f", "mp4", "-movflags", "cmaf+empty_moov+default_base_moof+frag_keyframe", "-frag_duration", "200000",
        source], check=True)
    run = subprocess.run([framelog, "bench", "transcode", "--file", source, "--ladder", args.ladder,
                          "--preset", args.preset, "--rounds", str(args.rounds)],
                         check=True, capture_output=True, text=True)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line))
    for round in range(args.rounds):
        sides = {l["side"]: l for l in lines if l["round"] == round}
        ratio = sides["ladder"]["cpu_seconds"] / sides["per-rung"]["cpu_seconds"]
        print(f"round {round}: ladder {sides['ladder']['cpu_per_media_second']:.3f} CPU s per media s, "
              f"one per rung {sides['per-rung']['cpu_per_media_second']:.3f} "
              f"({sides['per-rung']['processes']} processes): {ratio:.2f}x")
