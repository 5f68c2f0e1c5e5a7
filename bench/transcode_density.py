"""Density: how many 720p30 sources one `framelog transcode` keeps at real time with the default ladder.

Usage: .venv/bin/python bench/transcode_density.py [--counts 1,2,3,4,5,6] [--seconds 60] [--size 1280x720]

Makes one source file with ffmpeg (testsrc2 and a clock, 30 fps, x264 veryfast 3 Mbit/s, a keyframe every
2 s, AAC), then for each count N runs a fresh stack of separate processes (release build): the local broker,
N ingests of that file in a loop at its native rate (`--file --loop --copy`: remuxed, so that the sources
cost next to nothing and the CPU goes to the ladder), and one `framelog transcode` with the default ladder
and its default shedding. Once every rung's topic exists and a warm-up has passed, one confluent-kafka
consumer follows every source and rendition topic from its end for `--seconds`, noting when the record
completing each video part arrives.

N sources are sustained when, for every stream and rung:
  - the rung made ≥ 98 % of the parts its source made in the window (none missing, none shed; the source
    parts of the window's last second do not count, their renditions may not be out yet);
  - its added latency (rendition part's arrival minus its source part's) did not grow: the median of the
    window's last third is at most 250 ms above that of its first third;
  - its added latency p95 is under 1 s;
and the transcoder shed nothing. Independent of the transcoder's own figures, which are printed beside (its
last status line per stream). The broker, the ingests and this consumer share the 2 cores with it: the
machine's CPU use over the window is printed too.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import (  # noqa: E402
    FRAMELOG, busy_jiffies, follow_parts, make_looped_source, percentile, stop_all, wait_line)

parser = argparse.ArgumentParser()
parser.add_argument("--counts", default="1,2,3,4,5,6", help="numbers of sources to try, comma-separated")
parser.add_argument("--seconds", type=int, default=60, help="measured window per count")
parser.add_argument("--warmup", type=int, default=15, help="seconds after every rung exists, before measuring")
parser.add_argument("--size", default="1280x720")
parser.add_argument("--ladder", default="720p:2800k,480p:1200k,360p:600k")
args = parser.parse_args()


def median(values):
    return percentile(values, 50) if values else None


def run(count, source_file, workdir):
    env = dict(os.environ, FRAMELOG_STATE_DIR=os.path.join(workdir, f"state{count}"))
    env.pop("FRAMELOG_BROKERS", None)
    broker = subprocess.Popen([FRAMELOG, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                              text=True)
    bootstrap = wait_line(broker, r"listening on (\S+)").group(1)
    # Ids of equal width, so that no id is a prefix of another's topic.
    streams = [f"density{count}x{i:02d}" for i in range(count)]
    log_path = os.path.join(workdir, f"transcode{count}.log")
    log = open(log_path, "w")
    transcode = subprocess.Popen([FRAMELOG, "transcode", "--brokers", bootstrap, "--ladder", args.ladder,
                                  "--group", f"bench-density-{count}"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=log)
    ingests = [subprocess.Popen([FRAMELOG, "ingest", "--brokers", bootstrap, "--stream", s, "--file", source_file,
                                 "--loop", "--copy", "--quiet", "--log-level", "warning"], env=env,
                                stdout=subprocess.DEVNULL) for s in streams]
    try:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
        deadline = time.time() + 120
        topics = []
        while time.time() < deadline:
            topics = sorted(t for t in admin.list_topics(timeout=10).topics
                            if any(t.startswith(f"framelog.stream.{s}") for s in streams))
            if len(topics) >= 3 * count:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"{count} sources: only these topics after 120 s: {topics}")
        time.sleep(args.warmup)
        busy0, total0 = busy_jiffies()
        arrivals = follow_parts(bootstrap, topics, args.seconds, "bench-transcode-density")
        busy1, total1 = busy_jiffies()
        log.flush()
        measured_log = os.path.getsize(log_path)  # its status lines up to here are the window's
    finally:
        stop_all(ingests)
        time.sleep(3)
        stop_all([transcode])
        stop_all([broker])
        log.close()
    text = open(log_path).read()
    shed = [line for line in text.splitlines() if "shedding" in line]
    statuses = {}
    for line in text[:measured_log].splitlines():
        m = re.search(r"\] (density\S+): (.*)", line)
        if m:
            statuses[m.group(1)] = m.group(2)
    result = {"sources": count, "seconds": args.seconds,
              "cpu_percent_of_machine": round(100 * (busy1 - busy0) / max(1, total1 - total0)),
              "shed": len(shed), "streams": {}}
    sustained = not shed
    for s in streams:
        source_topic = f"framelog.stream.{s}"
        source = arrivals.get(source_topic, {})
        rungs = {}
        for topic, parts in arrivals.items():
            if not topic.startswith(source_topic + "_"):
                continue
            keys = sorted(k for k in parts if k in source)
            added = [1000 * (parts[k] - source[k]) for k in keys]
            third = max(1, len(added) // 3)
            # Of the source parts that came at least 1 s before the window closed: a rendition part comes
            # ~250 ms after its source's, so the window's last ones cannot be there yet.
            cutoff = max(source.values(), default=0) - 1.0
            due = [k for k in source if source[k] <= cutoff]
            coverage = sum(1 for k in due if k in parts) / max(1, len(due))
            growth = (median(added[-third:]) - median(added[:third])) if added else None
            p95 = percentile(added, 95) if added else None
            ok = bool(added) and coverage >= 0.98 and growth <= 250 and p95 < 1000
            sustained = sustained and ok
            rungs[topic.rsplit("_", 1)[1]] = {
                "coverage": round(coverage, 3), "p50_ms": round(median(added)) if added else None,
                "p95_ms": round(p95) if p95 is not None else None,
                "growth_ms": round(growth) if growth is not None else None, "ok": ok}
        if len(rungs) < 2:
            sustained = False
        result["streams"][s] = {"source_parts": len(source), "rungs": rungs,
                                "transcoder_says": statuses.get(s)}
    result["sustained"] = sustained
    return result


with tempfile.TemporaryDirectory() as workdir:
    source_file = os.path.join(workdir, "source.mp4")
    make_looped_source(source_file, args.size)
    results = []
    for count in [int(c) for c in args.counts.split(",")]:
        result = run(count, source_file, workdir)
        results.append(result)
        print(json.dumps(result), flush=True)
        print(f"{count} sources: {'sustained' if result['sustained'] else 'NOT sustained'}, "
              f"machine CPU {result['cpu_percent_of_machine']} %, shed {result['shed']}", flush=True)
    best = max([r["sources"] for r in results if r["sustained"]], default=0)
    print(f"most sources sustained at real time: {best}")
