"""CPU of the analyzer on one stream against a bare decode of it (the floor), and the model's cost.

Usage: .venv/bin/python bench/analyze.py [--seconds 60] [--rounds 3] [--size 1280x720]

Makes the source with ffmpeg (testsrc2 with a moving clock and a 440 Hz tone, 1280x720 at 30 fps by
default, x264 veryfast 3 Mbit/s, a keyframe every 2 s, AAC 128 kbit/s), split into its two tracks as
fragmented MP4 (one fragment per 200 ms part: what ingest publishes and the analyzer reads), then runs
`framelog bench analyze` (release build) on them: per round, the bare decode and the analyzer's own ffmpeg
command lines one after the other (alternating which goes first), then the model worker scoring that
round's thumbnails. Prints the JSON lines and a summary per round: the analysis-to-decode CPU ratio, the
model's CPU per media second, and what those give as streams per 2 cores (an estimate from CPU alone:
bench/analyze_density.py measures it).
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
parser.add_argument("--size", default="1280x720", help="the source's WIDTHxHEIGHT")
args = parser.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
framelog = os.path.join(root, ".build", "release", "framelog")
if not os.path.exists(framelog):
    sys.exit("build it first: swift build -c release --product framelog")

fragmented = ["-f", "mp4", "-movflags", "cmaf+empty_moov+default_base_moof+frag_keyframe",
              "-frag_duration", "200000"]
with tempfile.TemporaryDirectory() as folder:
    video, audio = os.path.join(folder, "video.mp4"), os.path.join(folder, "audio.mp4")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={args.size}:rate=30:duration={args.seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={args.seconds}",
        "-vf", "drawtext=text='%{pts\\:hms}':x=40:y=40:fontsize=64:fontcolor=white:box=1",
        "-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M",
        "-bufsize", "1500k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        *fragmented, video,
        "-map", "1:a", "-c:a", "aac", "-b:a", "128k", *fragmented, audio], check=True)
    run = subprocess.run([framelog, "bench", "analyze", "--video", video, "--audio", audio,
                          "--seconds", str(args.seconds), "--rounds", str(args.rounds),
                          "--model-python", os.path.join(root, ".venv", "bin", "python")],
                         check=True, capture_output=True, text=True, cwd=root)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line))
    for round in range(args.rounds):
        sides = {l["side"]: l for l in lines if l["round"] == round}
        d, a, m = sides["decode"], sides["analysis"], sides["model"]
        with_model = a["cpu_per_media_second"] + m["cpu_per_media_second"]
        print(f"round {round}: decode {d['cpu_per_media_second']:.3f}, analysis {a['cpu_per_media_second']:.3f} "
              f"CPU s per media s ({a['cpu_seconds'] / d['cpu_seconds']:.2f}x the decode); "
              f"model {m['cpu_per_media_second']:.4f} ({m['pictures']} pictures, "
              f"{m['model_ms_p50']:.1f} ms p50 / {m['model_ms_p95']:.1f} ms p95 model, "
              f"{m['round_trip_ms_p50']:.1f} / {m['round_trip_ms_p95']:.1f} ms round trip); "
              f"CPU alone allows {2 / a['cpu_per_media_second']:.1f} streams per 2 cores, "
              f"{2 / with_model:.1f} with moderation")
