#!/usr/bin/env python3
"""Blocking-reload load test: N concurrent LL-HLS clients on one origin, each holding a blocking playlist
request for the next part (`_HLS_msn` / `_HLS_part` from the preload hint) on a keep-alive connection.

Measured: for every response, now - the origin's arrival time of the newest record (the `Framelog-Arrival-Ms`
header, same machine clock): how long after a part reached the origin the held clients got their playlist.
The clients run in --processes Python processes on the same 2 cores as the origin, the ingest and the
broker, so the figures are an upper bound. Also reported: the origin's RSS with all clients connected.

Usage: bench/blocking_clients.py [--clients 2000] [--seconds 60] [--processes 4]
"""
import argparse
import asyncio
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from stack import Stack

HINT = re.compile(rb'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/(\d+)\.(\d+)\.m4s"')


async def client(port, stream, seconds, delays, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    query = ""
    end = time.time() + seconds
    while time.time() < end:
        writer.write(f"GET /hls/{stream}/video/live.m3u8{query} HTTP/1.1\r\nHost: origin\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        now = time.time() * 1000
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        body = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(head.split(b"\r\n")[0].decode())
            query = ""
            continue
        arrival = re.search(rb"(?i)framelog-arrival-ms: (\d+)", head)
        if query and arrival:
            delays.append(now - int(arrival.group(1)))
        hint = HINT.search(body, max(0, body.rfind(b"#EXT-X-PRELOAD-HINT")))
        query = f"?_HLS_msn={hint.group(1).decode()}&_HLS_part={hint.group(2).decode()}" if hint else ""
    writer.close()


def worker(port, stream, clients, seconds, queue):
    delays, errors = [], []

    async def run():
        await asyncio.gather(*(client(port, stream, seconds, delays, errors) for _ in range(clients)),
                             return_exceptions=True)
    asyncio.run(run())
    queue.put((delays, errors))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="framelog-blocking-")
    stack = Stack(work, stream="demo")
    try:
        port = stack.port
        time.sleep(8)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/hls/demo/video/live.m3u8").read()
        queue = multiprocessing.Queue()
        per = args.clients // args.processes
        workers = [multiprocessing.Process(target=worker, args=(port, "demo", per, args.seconds, queue))
                   for _ in range(args.processes)]
        for w in workers:
            w.start()
        time.sleep(min(20, args.seconds / 2))
        rss_loaded = stack.origin_memory()["VmRSS"]
        connections = int(subprocess.run(["sh", "-c", f"ss -Htn state established '( sport = :{port} )' | wc -l"],
                                         capture_output=True, text=True).stdout.strip() or 0)
        delays, errors = [], []
        for _ in workers:
            d, e = queue.get()
            delays += d
            errors += e
        for w in workers:
            w.join()
        rss_peak = stack.origin_memory()["VmHWM"]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        stack.close()
    # The origin's own view: arrival of the releasing record → its playlist written to the held connection.
    buckets = sorted((float(le), float(count)) for le, count in re.findall(
        r'framelog_origin_held_release_seconds_bucket\{le="([\d.e+-]+)"\} (\d+)', metrics))
    total = buckets[-1][1] if buckets else 0
    def bucket(p):
        """The bucket bound holding quantile p, and a linear interpolation inside it (as Prometheus's
        histogram_quantile does)."""
        previous = (0.0, 0.0)
        for le, count in buckets:
            if total and count >= p * total:
                lo, below = previous
                inside = (p * total - below) / (count - below) if count > below else 1
                return f"≈ {(lo + (le - lo) * inside) * 1000:.0f} ms (≤ {le * 1000:g})"
            previous = (le, count)
        return "-"
    delays.sort()
    pick = lambda p: delays[min(len(delays) - 1, int(len(delays) * p))]
    print(f"| {args.clients} blocking-reload clients, {args.seconds:g} s | value |")
    print("|---|---:|")
    print(f"| connections established at the origin | {connections} |")
    print(f"| responses measured | {len(delays)} |")
    print(f"| client side: part arrival → response read, p50 | {pick(0.5):.1f} ms |")
    print(f"| client side: p99 | {pick(0.99):.1f} ms |")
    print(f"| client side: max | {delays[-1]:.1f} ms |")
    print(f"| origin side: arrival → response written, p50 / p99 (histogram, {int(total)} held requests) | {bucket(0.5)} / {bucket(0.99)} |")
    print(f"| errors | {len(errors)} {sorted(set(errors))[:3]} |")
    print(f"| origin RSS with the clients connected / peak | {rss_loaded} MB / {rss_peak} MB |")


if __name__ == "__main__":
    main()
