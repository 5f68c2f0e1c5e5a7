#!/usr/bin/env python3
"""Kafka settings on Framelog's own records: what each value of one setting saves and costs, side by side in
one run. By default the setting is batch compression (`--producer compression.codec=none,gzip,snappy,lz4,zstd`).

For each value (the order rotates every round): a fresh broker (`framelog broker`, Tansu in memory) and one
`framelog ingest`, with `--kafka-property NAME=VALUE` for a producer setting; a consumer setting (`--consumer`)
goes to the measuring consumer instead. (Ingest compresses its control topics with zstd by default; a codec
passed through as a property replaces that for every topic, so a compression run compares both kinds.) Two
sources (`--source`):
  - `file` (default): 60 s of 720p30 H.264 at 3 Mbit/s with AAC (made once, like the density benchmarks'),
    looped with `--copy`, so every run publishes the same CMAF and the encoder's CPU is not in the figures.
    A file's capture clock is anchored at the encoder's start, which moves by tens of ms from run to run:
    its latency figures compare runs only through p95 - p50.
  - `pattern`: ingest's own 720p30 test pattern, encoded live. Its capture clock is anchored by arrival (the
    moment ingest reads a frame), so capture -> consumer is ingest + producer + broker + consumer: use it for
    latency.
After `--warmup` seconds, for `--seconds`, it measures:
  - stored bytes: after the run it reads the topics' record batches back from the broker with raw Fetch
    requests (the protocol, not a client library) and sums the batches the window's records are in, next to
    the records' own bytes (value + key + headers, as the consumer saw them). Media: framelog.stream.<id>;
    control: framelog.index (one JSON record per segment);
  - CPU seconds per second of the producer (the ingest process alone, not its ffmpeg), the broker's process
    tree, and the consumer (this process, a confluent-kafka consumer on the same librdkafka 2.16), from
    /proc and getrusage;
  - how long after capture each video record reaches the consumer (p50, p95).
Every figure is compared with the first value's in the same round.

Usage: bench/kafka_settings.py [--seconds 60] [--warmup 8] [--rounds 2] [--source file|pattern]
                               [--producer NAME=V1,V2,… | --consumer NAME=V1,V2,…]
  e.g. --producer linger.ms=0,1,5,20   --producer socket.nagle.disable=false,true   --consumer fetch.wait.max.ms=1,5,20
"""
import argparse
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import FRAMELOG, cpu_seconds, fresh_broker, make_looped_source, percentile, poll_for, stop_all  # noqa: E402

CODEC_IDS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
DEFAULT = "compression.codec=none,gzip,snappy,lz4,zstd"
KINDS = ("media", "index")


class RawLog:
    """Reads a partition's record batches as stored, with Fetch v4 requests on a plain socket: each batch's
    first offset, last offset, size in bytes (the 12-byte offset/length prefix included) and codec."""

    def __init__(self, bootstrap):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def _read(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return bytes(out)

    def _fetch(self, topic, offset):
        self.correlation += 1
        client = b"bench-rawlog"
        t = topic.encode()
        body = struct.pack(">hhih", 1, 4, self.correlation, len(client)) + client
        body += struct.pack(">iiiib", -1, 100, 1, 16 << 20, 0)
        body += struct.pack(">ih", 1, len(t)) + t + struct.pack(">iiqi", 1, 0, offset, 16 << 20)
        self.sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", self._read(4))[0]
        data = self._read(size)
        pos = 4 + 4  # correlation id, throttle time
        (topics,) = struct.unpack_from(">i", data, pos)
        pos += 4
        assert topics == 1, topics
        (name_len,) = struct.unpack_from(">h", data, pos)
        pos += 2 + name_len + 4  # name, partition count (1)
        _, error, high = struct.unpack_from(">ihq", data, pos)
        pos += 4 + 2 + 8 + 8  # partition, error, high watermark, last stable offset
        if error:
            raise RuntimeError(f"fetch {topic}@{offset}: error {error}")
        (aborted,) = struct.unpack_from(">i", data, pos)
        pos += 4 + max(aborted, 0) * 16
        (records_len,) = struct.unpack_from(">i", data, pos)
        pos += 4
        return data[pos:pos + max(records_len, 0)], high

    def batches(self, topic):
        """Every batch of partition 0 of `topic`, as (first offset, last offset, bytes, codec)."""
        out, offset = [], 0
        while True:
            records, high = self._fetch(topic, offset)
            start, pos = offset, 0
            while pos + 61 <= len(records):
                base, length = struct.unpack_from(">qi", records, pos)
                if pos + 12 + length > len(records):
                    break  # a partial batch at the end of the response
                attributes, last_delta = struct.unpack_from(">hi", records, pos + 21)
                out.append((base, base + last_delta, 12 + length, CODEC_IDS.get(attributes & 7, "?")))
                offset = base + last_delta + 1
                pos += 12 + length
            if offset >= high or offset == start:  # the end, or a response with no whole batch
                return out


def record_bytes(m):
    return len(m.value() or b"") + len(m.key() or b"") + sum(len(k) + len(v or b"") for k, v in m.headers() or [])


def measure(framelog, source, side, name, value, seconds, warmup):
    """One run; `source` is a file to loop with --copy, or None for ingest's own 720p test pattern."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    stream = "settings"
    producer_property = ["--kafka-property", f"{name}={value}"] if side == "producer" else []
    consumer_properties = {name: value} if side == "consumer" else {}
    inputs = ["--file", source, "--loop", "--copy"] if source else ["--test-pattern", "--size", "1280x720"]
    topics = {"media": f"framelog.stream.{stream}", "index": "framelog.index"}
    with tempfile.TemporaryDirectory() as state:
        env, broker, bootstrap = fresh_broker(framelog, state)
        ingest = subprocess.Popen([framelog, "ingest", "--brokers", bootstrap, "--stream", stream, *inputs,
                                   *producer_property, "--quiet",
                                   "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
        try:
            time.sleep(warmup)
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-settings", "enable.auto.commit": False,
                          "fetch.wait.max.ms": 5, "fetch.min.bytes": 1, **consumer_properties})
            c.assign([TopicPartition(t, 0, OFFSET_END) for t in topics.values()])
            kinds = {t: k for k, t in topics.items()}
            span = {k: [None, None] for k in topics}
            payload = {k: 0 for k in topics}
            count = {k: 0 for k in topics}
            largest = 0
            delay = []
            cpu0 = (cpu_seconds(ingest.pid, False), cpu_seconds(broker.pid, True))
            self0 = resource.getrusage(resource.RUSAGE_SELF)
            start = time.time()
            for m, now in poll_for(c, seconds):
                kind = kinds[m.topic()]
                first_last = span[kind]
                first_last[0] = m.offset() if first_last[0] is None else first_last[0]
                first_last[1] = m.offset()
                size = record_bytes(m)
                payload[kind] += size
                largest = max(largest, size)
                count[kind] += 1
                if kind == "media":
                    h = dict(m.headers() or [])
                    if h.get("fl-kind") == b"chunk" and h.get("fl-track") == b"video":
                        delay.append(now - int(h["fl-capture-ms"]))
            elapsed = time.time() - start
            self1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu1 = (cpu_seconds(ingest.pid, False), cpu_seconds(broker.pid, True))
            c.close()
            stored, codecs, batches = {}, {}, {}
            log = RawLog(bootstrap)
            try:
                for kind, topic in topics.items():
                    lo, hi = span[kind]
                    inside = [b for b in log.batches(topic) if lo is not None and b[1] >= lo and b[0] <= hi]
                    stored[kind] = sum(b[2] for b in inside)
                    codecs[kind] = sorted({b[3] for b in inside})
                    batches[kind] = len(inside)
            finally:
                log.close()
        finally:
            stop_all([ingest, broker])
    consumer = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime) / elapsed
    return {
        "value": value, "seconds": elapsed, "payload": payload, "stored": stored, "records": count,
        "batches": batches, "codecs seen": codecs, "largest": largest,
        "producer cpu": (cpu1[0] - cpu0[0]) / elapsed, "broker cpu": (cpu1[1] - cpu0[1]) / elapsed,
        "consumer cpu": consumer, "p50": percentile(delay, 50), "p95": percentile(delay, 95),
    }


def stored_ratio(row, kind):
    """Bytes stored per byte of the records themselves."""
    return row["stored"][kind] / max(row["payload"][kind], 1)


def describe(row):
    parts = []
    for kind in KINDS:
        parts.append(f"{kind} {row['stored'][kind] / row['seconds'] / 1000:7.1f} kB/s stored = "
                     f"{stored_ratio(row, kind):.3f} of its "
                     f"{row['records'][kind]} records' bytes in {row['batches'][kind]} batches "
                     f"({','.join(row['codecs seen'][kind])})")
    return (f"{row['value']:>6}: " + "; ".join(parts) + f"; CPU producer {row['producer cpu'] * 100:4.1f} % "
            f"broker {row['broker cpu'] * 100:4.1f} % consumer {row['consumer cpu'] * 100:4.1f} %; "
            f"capture→consumer p50 {row['p50']:.0f} / p95 {row['p95']:.0f} ms; largest record {row['largest']} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    side = ap.add_mutually_exclusive_group()
    side.add_argument("--producer", metavar="NAME=V1,V2,…", help="a producer (ingest) setting and its values")
    side.add_argument("--consumer", metavar="NAME=V1,V2,…", help="a setting of the measuring consumer and its values")
    ap.add_argument("--source", choices=["file", "pattern"], default="file")
    ap.add_argument("--framelog", default=FRAMELOG)
    a = ap.parse_args()
    side, spec = ("consumer", a.consumer) if a.consumer else ("producer", a.producer or DEFAULT)
    name, _, listed = spec.partition("=")
    values = [v for v in listed.split(",") if v]
    if not name or len(values) < 2:
        sys.exit(f"expected NAME=V1,V2,… with at least two values, got {spec!r}")
    print(f"{side} setting {name}: {', '.join(values)}; {a.rounds} rounds of {a.seconds:.0f} s, source {a.source}",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "source.mp4") if a.source == "file" else None
        if source:
            make_looped_source(source)
        rows = []
        for r in range(a.rounds):
            order = values[r % len(values):] + values[:r % len(values)]
            for value in order:
                row = measure(a.framelog, source, side, name, value, a.seconds, a.warmup)
                row["round"] = r + 1
                rows.append(row)
                print(f"round {r + 1} {describe(row)}", flush=True)
    print(f"\nPer round, against {name}={values[0]} in the same round (stored bytes per record byte; CPU in points "
          "of a core's %):")
    for r in range(1, a.rounds + 1):
        base = next(x for x in rows if x["round"] == r and x["value"] == values[0])
        for row in (x for x in rows if x["round"] == r):
            line = f"round {r} {row['value']:>6}:"
            for kind in KINDS:
                line += f" {kind} saves {100 * (1 - stored_ratio(row, kind) / stored_ratio(base, kind)):5.1f} %;"
            line += (f" producer {100 * (row['producer cpu'] - base['producer cpu']):+5.1f}, "
                     f"broker {100 * (row['broker cpu'] - base['broker cpu']):+5.1f}, "
                     f"consumer {100 * (row['consumer cpu'] - base['consumer cpu']):+5.1f} points; "
                     f"latency p50 {row['p50'] - base['p50']:+.0f} / p95 {row['p95'] - base['p95']:+.0f} ms")
            print(line)


if __name__ == "__main__":
    main()
