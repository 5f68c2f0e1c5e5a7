"""Added latency of the ladder: from a source part's record to its rendition's, p50/p95 per rung.

Usage: .venv/bin/python bench/transcode_latency.py [--seconds 120] [--size 1280x720] [--ladder ...]

Runs the release build as separate processes: the local broker, a test-pattern ingest (720p30 by default)
and `framelog transcode` with the default ladder (480p and 360p of a 720p source). Once every rung's topic
exists, one confluent-kafka consumer follows the source topic and the rendition topics from their ends for
`--seconds`, noting when the record completing each video part (segment number, part index) arrives; the
added latency of a part is its rendition's arrival minus its source's: what a consumer of both (an origin)
sees. (The records' Kafka timestamps cannot tell: a rendition's carry its source's.) Independent of the
transcoder's own figures, printed beside them (its last status line). Target: p95 < 500 ms.
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
from stack import FRAMELOG, follow_parts, percentile, wait_line  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=int, default=120)
parser.add_argument("--size", default="1280x720")
parser.add_argument("--ladder", default="720p:2800k,480p:1200k,360p:600k")
args = parser.parse_args()


with tempfile.TemporaryDirectory() as workdir:
    env = dict(os.environ, FRAMELOG_STATE_DIR=workdir)
    env.pop("FRAMELOG_BROKERS", None)
    stream = f"tl{int(time.time())}"
    broker = subprocess.Popen([FRAMELOG, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                              text=True)
    bootstrap = wait_line(broker, r"listening on (\S+)").group(1)
    ingest = subprocess.Popen([FRAMELOG, "ingest", "--brokers", bootstrap, "--stream", stream, "--test-pattern",
                               "--size", args.size, "--quiet", "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL)
    transcode = subprocess.Popen([FRAMELOG, "transcode", "--brokers", bootstrap, "--ladder", args.ladder,
                                  "--group", f"bench-{stream}"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    source_topic = f"framelog.stream.{stream}"
    deadline = time.time() + 60
    while time.time() < deadline:
        topics = sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(source_topic))
        if len(topics) >= 3:
            break
        time.sleep(0.5)
    time.sleep(5)  # the encoder past its start
    arrivals = follow_parts(bootstrap, topics, args.seconds, "bench-transcode-latency")
    ingest.send_signal(signal.SIGINT)
    ingest.wait(timeout=60)
    time.sleep(3)
    transcode.send_signal(signal.SIGINT)
    _, log = transcode.communicate(timeout=60)
    source = arrivals.pop(source_topic)
    summary = {"seconds": args.seconds, "size": args.size, "source_parts": len(source), "rungs": {}}
    for topic, rung_parts in arrivals.items():
        added = [1000 * (t - source[k]) for k, t in rung_parts.items() if k in source]
        if added:
            summary["rungs"][topic.rsplit("_", 1)[1]] = {
                "parts": len(added), "p50_ms": round(percentile(added, 50)), "p95_ms": round(percentile(added, 95)),
                "max_ms": round(max(added))}
    summary["transcoder_says"] = re.findall(r"\] (\S+: .*)", log)[-1:]
    summary["shed"] = [line for line in log.splitlines() if "shedding" in line]
    broker.send_signal(signal.SIGINT)
    broker.wait(timeout=30)
    print(json.dumps(summary, indent=1))
