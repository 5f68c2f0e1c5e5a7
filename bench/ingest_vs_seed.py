#!/usr/bin/env python3
"""Ingest benchmark: `framelog ingest` against the seed's producer, same source, same broker, one run.

Source for both: a 1280x720 30 fps test pattern with a tone, x264 veryfast/zerolatency at 3 Mbit/s, keyframe
every 2 s, encoded by ffmpeg in real time (-re).

- framelog: `framelog ingest --test-pattern` (CMAF parts of 200 ms, one record each).
- seed: the seed design: kafka-python reads ffmpeg's MPEG-TS stdout in 1 KiB chunks with a 10 ms sleep and
  sends each chunk to a topic of its own.

Each runs for --seconds of capture, one after the other (never both at once: two 720p encodes would share
the 2 cores). Reported: Mbit/s delivered to Kafka, seconds of video delivered per minute of capture, CPU of
the producer process and of its ffmpeg, and for framelog the delay from a part leaving ffmpeg to its ack.

Usage: bench/ingest_vs_seed.py [--seconds 60] [--framelog .build/release/framelog]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")

SOURCE = [
    "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
    "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
    "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
    "-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
    "-b:v", "3000000", "-maxrate", "3000000", "-bufsize", "1500000", "-c:a", "aac", "-b:a", "128000",
]


def cpu_seconds(pid):
    """User + system CPU seconds of a live process (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def children(pid, name):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and comm == name:
            out.append(int(entry))
    return out


def start_broker(framelog, state_dir):
    env = dict(os.environ, FRAMELOG_STATE_DIR=state_dir)
    proc = subprocess.Popen([framelog, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        sys.exit(f"broker did not start: {line}")
    return proc, m.group(1)


def read_topic(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    records = []
    idle_since = time.time()
    while time.time() - idle_since < 2.0:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        idle_since = time.time()
        records.append(m)
    c.close()
    return records


def run_framelog(framelog, bootstrap, seconds):
    stream = f"bench-{int(time.time())}"
    proc = subprocess.Popen(
        [framelog, "ingest", "--brokers", bootstrap, "--stream", stream, "--test-pattern", "--size", "1280x720",
         "--bitrate", "3M", "--fps", "30", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Capture starts when ffmpeg starts.
    deadline = time.time() + 20
    encoder = []
    while not encoder and time.time() < deadline:
        encoder = children(proc.pid, "ffmpeg")
        time.sleep(0.01)
    started = time.time()
    time.sleep(seconds)
    cpu_self, cpu_ffmpeg = cpu_seconds(proc.pid), sum(cpu_seconds(p) for p in encoder)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    m = re.search(r"ack p50 ([\d.]+) ms p99 ([\d.]+) ms", out)
    records = read_topic(bootstrap, f"framelog.stream.{stream}")
    parts = [r for r in records if dict(r.headers() or []).get("fl-kind") == b"part"]
    in_window = [r for r in parts if int(dict(r.headers())["fl-capture-ms"]) < (started + seconds) * 1000]
    video_seconds = sum(float(dict(r.headers())["fl-duration-ms"]) for r in in_window) / 1000
    delivered = sum(len(r.value()) for r in in_window)
    return {
        "mbps": delivered * 8 / 1e6 / seconds,
        "video_seconds_per_minute": video_seconds * 60 / seconds,
        "cpu_producer_pct": 100 * cpu_self / seconds,
        "cpu_ffmpeg_pct": 100 * cpu_ffmpeg / seconds,
        "ack_p50_ms": float(m.group(1)) if m else None,
        "ack_p99_ms": float(m.group(2)) if m else None,
        "parts": len(parts),
        "behind_live_s": seconds - video_seconds,
        "summary": out.strip(),
    }


SEED = r"""
import subprocess, sys, time
from kafka import KafkaProducer
bootstrap, topic, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
source = sys.argv[4:]
producer = KafkaProducer(bootstrap_servers=bootstrap)
ffmpeg = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"] + source + ["-f", "mpegts", "pipe:1"],
                          stdout=subprocess.PIPE)
print(ffmpeg.pid, flush=True)
start = time.time()
sent = 0
while time.time() - start < seconds:
    chunk = ffmpeg.stdout.read(1024)
    if not chunk:
        break
    producer.send(topic, chunk)
    sent += len(chunk)
    time.sleep(0.01)
ffmpeg.kill()
producer.flush()
print(sent, flush=True)
"""


def run_seed(bootstrap, seconds, workdir):
    topic = f"seed-{int(time.time())}"
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1)])[topic].result(10)
    proc = subprocess.Popen([sys.executable, "-c", SEED, bootstrap, topic, str(seconds)] + SOURCE,
                            stdout=subprocess.PIPE, text=True)
    ffmpeg_pid = int(proc.stdout.readline())
    time.sleep(seconds - 0.2)
    cpu_self, cpu_ffmpeg = cpu_seconds(proc.pid), cpu_seconds(ffmpeg_pid)
    sent = int(proc.stdout.readline())
    proc.wait(timeout=60)
    records = read_topic(bootstrap, topic)
    data = b"".join(r.value() for r in records)
    ts = os.path.join(workdir, "seed.ts")
    with open(ts, "wb") as f:
        f.write(data)
    # Seconds of video in what reached Kafka: the span of the video packets ffprobe can read from it.
    probe = subprocess.run(["ffprobe", "-v", "quiet", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                            "-of", "csv=p=0", ts], capture_output=True, text=True)
    times = [float(t.strip(",")) for t in probe.stdout.split() if t.strip(",") not in ("", "N/A")]
    video_seconds = (max(times) - min(times) + 1 / 30) if times else 0.0
    return {
        "mbps": len(data) * 8 / 1e6 / seconds,
        "video_seconds_per_minute": video_seconds * 60 / seconds,
        "cpu_producer_pct": 100 * cpu_self / seconds,
        "cpu_ffmpeg_pct": 100 * cpu_ffmpeg / seconds,
        "sent_bytes": sent,
        "delivered_bytes": len(data),
        "behind_live_s": seconds - video_seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--framelog", default=os.path.join(ROOT, ".build/release/framelog"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        broker, bootstrap = start_broker(args.framelog, workdir)
        try:
            ours = run_framelog(args.framelog, bootstrap, args.seconds)
            seed = run_seed(bootstrap, args.seconds, workdir)
        finally:
            broker.send_signal(signal.SIGINT)
            broker.wait(timeout=20)
    print(json.dumps({"seconds": args.seconds, "framelog": ours, "seed": seed}, indent=2))
    print()
    print(f"| {args.seconds:.0f} s of 720p30 3 Mbit/s capture | framelog ingest | seed (kafka-python, 1 KiB + 10 ms) | ratio |")
    print("|---|---|---|---|")
    print(f"| Mbit/s delivered to Kafka | {ours['mbps']:.2f} | {seed['mbps']:.2f} | {ours['mbps'] / max(seed['mbps'], 1e-9):.1f}x |")
    print(f"| seconds of video delivered per minute of capture | {ours['video_seconds_per_minute']:.1f} | "
          f"{seed['video_seconds_per_minute']:.1f} | {ours['video_seconds_per_minute'] / max(seed['video_seconds_per_minute'], 1e-9):.1f}x |")
    print(f"| capture not yet in Kafka when capture stops, s | {ours['behind_live_s']:.1f} | {seed['behind_live_s']:.1f} | |")
    print(f"| producer CPU, % of a core | {ours['cpu_producer_pct']:.1f} | {seed['cpu_producer_pct']:.1f} | |")
    print(f"| ffmpeg CPU, % of a core | {ours['cpu_ffmpeg_pct']:.1f} | {seed['cpu_ffmpeg_pct']:.1f} | |")
    print(f"| part leaves ffmpeg → Kafka ack, p50 / p99 ms | {ours['ack_p50_ms']} / {ours['ack_p99_ms']} | n/a | |")


if __name__ == "__main__":
    main()
