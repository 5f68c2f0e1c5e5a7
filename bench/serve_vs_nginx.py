#!/usr/bin/env python3
"""Serving benchmark: the origin against nginx serving the same CMAF objects from disk, both under wrk.

1. Starts the embedded broker, a 720p30 3 Mbit/s test-pattern ingest for --fill seconds, then stops the ingest
   (so no encoder competes for the 2 cores) and keeps an origin serving the stream's window from memory.
2. Downloads every part and segment the origin lists into a folder with the same paths, and starts nginx
   (Debian's, sendfile on, access log off, one worker per core) on it.
3. Runs wrk (2 threads, --connections) against the same list of objects on each server, alternating which
   goes first, --rounds each, and reports the medians of requests/s and MB/s, and their ratio.

Usage: bench/serve_vs_nginx.py [--fill 30] [--seconds 15] [--connections 64] [--rounds 3]
Needs nginx and wrk (`apt-get install nginx-light wrk`).
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from stack import Stack, free_port


LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url, script, seconds, connections):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    rate = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(rate.group(1)) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[rate.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, mb, int(errors.group(1)) if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fill", type=float, default=30)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ["nginx", "wrk"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: apt-get install nginx-light wrk")
    work = tempfile.mkdtemp(prefix="framelog-serve-")
    os.chmod(work, 0o755)  # nginx's workers run unprivileged and must read the objects
    procs = []
    stack = None
    try:
        stack = Stack(work)
        time.sleep(args.fill)
        stack.stop_ingest()  # no encoder competing for the cores while serving is measured
        time.sleep(1)
        origin = stack.origin
        base = stack.base
        track = "hls/bench/video"  # the video track's media playlist; its URIs are relative to it
        playlist = urllib.request.urlopen(f"{base}/{track}/live.m3u8").read().decode()
        parts = re.findall(r'URI="(part/[^"]+)"', playlist)
        segments = [l for l in playlist.splitlines() if l.startswith("seg/")]
        docroot = os.path.join(work, "www")
        sizes = {}
        for path in parts + segments:
            body = urllib.request.urlopen(f"{base}/{track}/{path}").read()
            target = os.path.join(docroot, track, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(body)
            sizes[path] = len(body)
        nginx_port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx.err; daemon off;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000; open_file_cache max=1000;
  types {{ video/iso.segment m4s; }}
  client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
  uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
  server {{ listen 127.0.0.1:{nginx_port}; root {docroot}; }} }}
""")
        os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
        procs.append(nginx)
        time.sleep(1)
        results = {}
        for kind, paths in [("parts", parts), ("segments", segments)]:
            listing = os.path.join(work, f"{kind}.txt")
            with open(listing, "w") as f:
                f.write("\n".join(f"/{track}/{p}" for p in paths) + "\n")
            script = os.path.join(work, f"{kind}.lua")
            with open(script, "w") as f:
                f.write(LUA % listing)
            rounds = {"framelog": [], "nginx": []}
            for r in range(args.rounds):
                order = [("framelog", base), ("nginx", f"http://127.0.0.1:{nginx_port}")]
                if r % 2:
                    order.reverse()
                for name, url in order:
                    rounds[name].append(wrk(url, script, args.seconds, args.connections))
            failed = {name: sum(x[2] for x in v) for name, v in rounds.items()}
            if any(failed.values()):
                sys.exit(f"non-2xx responses while serving {kind}: {failed} (check {work}/nginx.err)")
            avg = statistics.mean(sizes[p] for p in paths)
            results[kind] = {name: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                                    sum(x[2] for x in v)) for name, v in rounds.items()}
            results[kind]["objects"] = (len(paths), avg)
        origin_rss = stack.origin_memory()["VmHWM"]
    finally:
        for p in procs:
            p.send_signal(signal.SIGQUIT)
            p.wait(timeout=30)
        if stack:
            stack.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| wrk -t2 -c{args.connections}, {args.seconds} s × {args.rounds} rounds, medians | framelog origin | nginx (disk) | ratio |")
    print("|---|---:|---:|---:|")
    for kind in ["parts", "segments"]:
        r = results[kind]
        n, avg = r["objects"]
        f, g = r["framelog"], r["nginx"]
        print(f"| {kind} ({n} objects, avg {avg / 1000:.0f} KB): requests/s | {f[0]:.0f} | {g[0]:.0f} | {f[0] / g[0]:.2f}× |")
        print(f"| {kind}: MB/s | {f[1]:.0f} | {g[1]:.0f} | {f[1] / g[1]:.2f}× |")
        if f[2] or g[2]:
            print(f"| {kind}: non-2xx responses | {f[2]} | {g[2]} | |")
    print(f"\norigin peak RSS: {origin_rss} MB")


if __name__ == "__main__":
    main()
