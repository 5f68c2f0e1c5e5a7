"""Density: how many 720p30 streams one `framelog analyze` keeps up with, with and without moderation.

Usage: .venv/bin/python bench/analyze_density.py [--counts 4,8,12] [--seconds 60] [--moderation on,off]

Makes one source file with ffmpeg (testsrc2 and a clock, 1280x720 at 30 fps, x264 veryfast 3 Mbit/s, a
keyframe every 2 s, AAC), then for each count N and each moderation setting runs a fresh stack of separate
processes (release build): the local broker, N ingests of that file in a loop at its native rate (`--file
--loop --copy`: remuxed, so that the sources cost next to nothing and the CPU goes to the analysis), and
one `framelog analyze` (thumbnails every 2 s; `--moderation on` or `off`). After a warm-up, one
confluent-kafka consumer follows every source topic and the thumbnails topic from their ends for
`--seconds`, noting when each video chunk and each thumbnail arrives.

N streams are kept up with when, for every stream:
  - its thumbnails cover the window: ≥ 95 % of one per 2 s of its media (the window's last second aside);
  - each thumbnail's delay (its arrival minus the arrival of the source chunk holding its capture time) has
    p95 under 1 s and did not grow (the median of the window's last third at most 250 ms above the first
    third's);
and, with moderation, no `ml-unavailable` event was published. The thumbnail is made by the same ffmpeg
that runs the detectors, after them in its graph, so a thumbnail in time means the analysis is in time.
The broker, the ingests and the consumer share the 2 cores with the analyzer: the machine's CPU use over
the window is printed too.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import FRAMELOG, busy_jiffies, make_looped_source, percentile, stop_all, wait_line  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--counts", default="4,8,12", help="numbers of streams to try, comma-separated")
parser.add_argument("--moderation", default="off,on", help="moderation settings to try, comma-separated")
parser.add_argument("--seconds", type=int, default=60, help="measured window per run")
parser.add_argument("--warmup", type=int, default=20, help="seconds after the streams start, before measuring")
args = parser.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def follow(bootstrap, topics, seconds):
    """Source topic → [(capture ms, arrival)] of its video chunks; stream → [(capture ms, arrival)] of its
    thumbnails; the events seen."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-analyze-density", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 10, "fetch.min.bytes": 1})
    c.assign([TopicPartition(t, 0, OFFSET_END) for t in topics])
    chunks, thumbs, events = {}, {}, []
    end = time.time() + seconds
    while time.time() < end:
        m = c.poll(0.05)
        if m is None or m.error():
            continue
        now = time.time()
        h = {k: v.decode() for k, v in (m.headers() or [])}
        if m.topic() == "framelog.thumbs":
            thumbs.setdefault(m.key().decode(), []).append((int(h["fl-capture-ms"]), now))
        elif m.topic() == "framelog.events":
            events.append(json.loads(m.value()))
        elif h.get("fl-kind") == "chunk" and h.get("fl-track") == "video":
            chunks.setdefault(m.topic(), []).append((int(h["fl-capture-ms"]), now))
    c.close()
    return chunks, thumbs, events


def run(count, moderation, source_file, workdir):
    env = dict(os.environ, FRAMELOG_STATE_DIR=os.path.join(workdir, f"state{count}{moderation}"))
    env.pop("FRAMELOG_BROKERS", None)
    broker = subprocess.Popen([FRAMELOG, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                              text=True)
    bootstrap = wait_line(broker, r"listening on (\S+)").group(1)
    streams = [f"dens{count}x{i:02d}" for i in range(count)]
    log_path = os.path.join(workdir, f"analyze{count}{moderation}.log")
    log = open(log_path, "w")
    analyze = subprocess.Popen([FRAMELOG, "analyze", "--brokers", bootstrap, "--group", f"bench-{count}",
                                "--moderation", moderation, "--model-python",
                                os.path.join(root, ".venv", "bin", "python")],
                               env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=root)
    ingests = [subprocess.Popen([FRAMELOG, "ingest", "--brokers", bootstrap, "--stream", s, "--file", source_file,
                                 "--loop", "--copy", "--quiet", "--log-level", "warning"], env=env,
                                stdout=subprocess.DEVNULL) for s in streams]
    try:
        time.sleep(args.warmup)
        busy0, total0 = busy_jiffies()
        topics = [f"framelog.stream.{s}" for s in streams] + ["framelog.thumbs", "framelog.events"]
        chunks, thumbs, events = follow(bootstrap, topics, args.seconds)
        busy1, total1 = busy_jiffies()
    finally:
        stop_all(ingests)
        time.sleep(2)
        stop_all([analyze])
        stop_all([broker])
        log.close()
    outages = [e for e in events if e.get("kind") == "ml-unavailable"]
    result = {"streams": count, "moderation": moderation, "seconds": args.seconds,
              "cpu_percent_of_machine": round(100 * (busy1 - busy0) / max(1, total1 - total0)),
              "ml_unavailable": len(outages), "per_stream": {}}
    ok_all = not outages
    for s in streams:
        source = sorted(chunks.get(f"framelog.stream.{s}", []))
        mine = sorted(thumbs.get(s, []))
        delays = []
        for capture, arrived in mine:
            holding = [a for c, a in source if c <= capture]
            if holding:
                delays.append(1000 * (arrived - holding[-1]))
        span_ms = (source[-1][0] - source[0][0] - 1000) if len(source) > 1 else 0
        covered = sum(1 for c, _ in mine if source and source[0][0] <= c <= source[-1][0] - 1000)
        coverage = covered / max(1, span_ms / 2000)
        third = max(1, len(delays) // 3)
        growth = (percentile(delays[-third:], 50) - percentile(delays[:third], 50)) if delays else None
        p95 = percentile(delays, 95) if delays else None
        ok = bool(delays) and coverage >= 0.95 and p95 < 1000 and growth <= 250
        ok_all = ok_all and ok
        result["per_stream"][s] = {"thumbnails": len(mine), "coverage": round(coverage, 3),
                                   "p50_ms": round(percentile(delays, 50)) if delays else None,
                                   "p95_ms": round(p95) if p95 is not None else None,
                                   "growth_ms": round(growth) if growth is not None else None, "ok": ok}
    result["kept_up"] = ok_all
    return result


with tempfile.TemporaryDirectory() as workdir:
    source_file = os.path.join(workdir, "source.mp4")
    make_looped_source(source_file)
    for moderation in args.moderation.split(","):
        for count in [int(c) for c in args.counts.split(",")]:
            r = run(count, moderation, source_file, workdir)
            print(json.dumps(r), flush=True)
            p95s = [v["p95_ms"] for v in r["per_stream"].values() if v["p95_ms"] is not None]
            covs = [v["coverage"] for v in r["per_stream"].values()]
            print(f"{count} streams, moderation {moderation}: {'kept up' if r['kept_up'] else 'NOT kept up'}, "
                  f"machine CPU {r['cpu_percent_of_machine']} %, thumbnail delay p95 worst "
                  f"{max(p95s) if p95s else None} ms, coverage min {min(covs) if covs else None}, "
                  f"ml-unavailable {r['ml_unavailable']}", flush=True)
