#!/usr/bin/env python3
"""What per-frame chunks cost Kafka, side by side with one record per part, in one run.

For each mode (`--chunks part`, then `--chunks frame`, alternating for `--rounds`): a fresh broker
(`framelog broker`, Tansu in memory) and one 720p30 test-pattern ingest. After `--warmup` seconds, for
`--seconds`, it measures:
  - records and bytes per second on the stream topic, read by an independent consumer (confluent-kafka);
  - how long after capture each video record reaches Kafka (consumer arrival - fl-capture-ms), and how long
    after capture a whole part is in Kafka (arrival of its fl-last chunk - the part's first capture time);
  - CPU seconds per second of the ingest process alone (not its ffmpeg: the encoder's work is the same in
    both modes), and of the broker's whole process tree, from /proc.

Usage: bench/chunk_cost.py [--seconds 60] [--warmup 8] [--rounds 2] [--framelog .build/release/framelog]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import FRAMELOG, cpu_seconds, fresh_broker, percentile, poll_for, stop_all  # noqa: E402


def measure(framelog, mode, seconds, warmup):
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    with tempfile.TemporaryDirectory() as state:
        env, broker, bootstrap = fresh_broker(framelog, state)
        ingest = subprocess.Popen([framelog, "ingest", "--brokers", bootstrap, "--stream", "cost", "--test-pattern",
                                   "--chunks", mode, "--quiet", "--log-level", "warning"], env=env,
                                  stdout=subprocess.DEVNULL)
        try:
            time.sleep(warmup)
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-cost", "enable.auto.commit": False,
                          "fetch.wait.max.ms": 10, "fetch.min.bytes": 1})
            c.assign([TopicPartition("framelog.stream.cost", 0, OFFSET_END)])
            records = size = 0
            video_delay, part_delay, part_start = [], [], {}
            cpu0 = (cpu_seconds(ingest.pid, False), cpu_seconds(broker.pid, True))
            start = time.time()
            for m, now in poll_for(c, seconds):
                h = {k: v.decode() for k, v in (m.headers() or [])}
                records += 1
                size += len(m.value() or b"")
                if h.get("fl-kind") != "chunk" or h.get("fl-track") != "video":
                    continue
                capture = int(h["fl-capture-ms"])
                key = (h["fl-segment"], h["fl-part"])
                video_delay.append(now - capture)
                part_start.setdefault(key, capture)
                if h.get("fl-last") == "1":
                    part_delay.append(now - part_start[key])
            elapsed = time.time() - start
            cpu1 = (cpu_seconds(ingest.pid, False), cpu_seconds(broker.pid, True))
            c.close()
        finally:
            stop_all([ingest, broker])
    return {
        "mode": mode, "records/s": records / elapsed, "kB/s": size / elapsed / 1000,
        "ingest cpu": (cpu1[0] - cpu0[0]) / elapsed, "broker cpu": (cpu1[1] - cpu0[1]) / elapsed,
        "record p50": percentile(video_delay, 50), "record p95": percentile(video_delay, 95),
        "part p50": percentile(part_delay, 50), "part p95": percentile(part_delay, 95), "parts": len(part_delay),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--framelog", default=FRAMELOG)
    a = ap.parse_args()
    rows = []
    for r in range(a.rounds):
        for mode in ["part", "frame"]:
            row = measure(a.framelog, mode, a.seconds, a.warmup)
            rows.append(row)
            print(f"round {r + 1} {mode:5}: {row['records/s']:5.1f} records/s {row['kB/s']:6.1f} kB/s  "
                  f"ingest {row['ingest cpu'] * 100:4.1f} % CPU  broker {row['broker cpu'] * 100:4.1f} % CPU  "
                  f"capture→Kafka: record p50 {row['record p50']:.0f} / p95 {row['record p95']:.0f} ms, "
                  f"whole part p50 {row['part p50']:.0f} / p95 {row['part p95']:.0f} ms ({row['parts']} parts)",
                  flush=True)
    for r in range(a.rounds):
        part, frame = rows[2 * r], rows[2 * r + 1]
        print(f"round {r + 1}: frame/part records {frame['records/s'] / part['records/s']:.1f}x, "
              f"broker CPU {frame['broker cpu'] / max(part['broker cpu'], 1e-9):.2f}x, "
              f"ingest CPU {frame['ingest cpu'] / max(part['ingest cpu'], 1e-9):.2f}x, "
              f"first frame of a part in Kafka {part['record p50'] - frame['record p50']:+.0f} ms sooner (p50)")


if __name__ == "__main__":
    main()
