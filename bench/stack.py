"""Starts Framelog as separate processes for benchmarks: broker, origin, test-pattern ingest (release build);
the demo; and a consumer noting when each video part reaches Kafka."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMELOG = os.path.join(ROOT, ".build/release/framelog")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_line(proc, pattern, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    sys.exit(f"no line matching {pattern}")


class Stack:
    """broker + origin + ingest of stream `stream`; `stop_ingest()` leaves the origin serving its window."""

    def __init__(self, workdir, stream="bench", window="120s", size="1280x720"):
        self.env = dict(os.environ, FRAMELOG_STATE_DIR=workdir)
        self.env.pop("FRAMELOG_BROKERS", None)
        self.stream = stream
        self.broker = subprocess.Popen([FRAMELOG, "broker", "--log-level", "warning"], env=self.env,
                                       stdout=subprocess.PIPE, text=True)
        self.bootstrap = wait_line(self.broker, r"listening on (\S+)").group(1)
        self.port = free_port()
        self.origin = subprocess.Popen([FRAMELOG, "origin", "--brokers", self.bootstrap, "--port", str(self.port),
                                        "--window", window, "--log-level", "warning"], env=self.env,
                                       stdout=subprocess.PIPE, text=True)
        wait_line(self.origin, r"listening on")
        self.ingest = subprocess.Popen([FRAMELOG, "ingest", "--brokers", self.bootstrap, "--stream", stream,
                                        "--test-pattern", "--size", size, "--quiet", "--log-level", "warning"],
                                       env=self.env, stdout=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop_ingest(self):
        if self.ingest.poll() is None:
            self.ingest.send_signal(signal.SIGINT)
            self.ingest.wait(timeout=60)

    def origin_memory(self):
        status = open(f"/proc/{self.origin.pid}/status").read()
        return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) // 1024 for key in ["VmRSS", "VmHWM"]}

    def close(self):
        self.stop_ingest()
        for proc in [self.origin, self.broker]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in [self.origin, self.broker]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def demo(framelog=FRAMELOG, settle=6):
    """`framelog demo` on a free port with a scratch state folder; yields its base URL once a few segments
    are in the window (`settle` seconds); Ctrl-C stops it at the end."""
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, FRAMELOG_STATE_DIR=state)
        env.pop("FRAMELOG_BROKERS", None)
        proc = subprocess.Popen([framelog, "demo", "--port", "0", "--log-level", "warning"], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            base = wait_line(proc, r"Watch:\s+(http://\S+)/watch/").group(1)
            time.sleep(settle)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)


def follow_parts(bootstrap, topics, seconds, group="bench-follow"):
    """topic → {(segment, part): arrival time} of the video chunks completing parts, read from the topics'
    ends for `seconds` by one confluent-kafka consumer."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "fetch.wait.max.ms": 10, "fetch.min.bytes": 1})
    c.assign([TopicPartition(t, 0, OFFSET_END) for t in topics])
    out = {t: {} for t in topics}
    end = time.time() + seconds
    while time.time() < end:
        m = c.poll(0.05)
        if m is None or m.error():
            continue
        now = time.time()
        h = {k: v.decode() for k, v in (m.headers() or [])}
        if h.get("fl-kind") == "chunk" and h.get("fl-track") == "video" and h.get("fl-last") == "1":
            out[m.topic()][(int(h["fl-segment"]), int(h["fl-part"]))] = now
    c.close()
    return out


CLOCK = re.compile(r"(\d\d):(\d\d):(\d\d)[.,:](\d\d\d)")


def read_clock(png, folder, n):
    """The UTC milliseconds of the day tesseract reads in one screenshot of a burned-in clock
    (HH:MM:SS.mmm), or None. Needs tesseract (`scripts/setup.sh --bench-tools`)."""
    path = os.path.join(folder, f"shot{n}.png")
    with open(path, "wb") as f:
        f.write(png)
    out = subprocess.run(["tesseract", path, "-", "--psm", "7", "-c", "tessedit_char_whitelist=0123456789:. UTC"],
                         capture_output=True, text=True).stdout
    m = CLOCK.search(out.replace(" ", ""))
    if not m:
        return None
    h, mi, s, ms = (int(g) for g in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def clock_clip(box):
    """The screenshot clip of a video element's box (x, y, width, height) that holds the burned-in clock:
    the bottom left, a fourteenth of the picture high (ingest's drawtext; bench/glass.py's generator)."""
    return {"x": box["x"], "y": box["y"] + box["height"] * 0.84, "width": box["width"] * 0.62,
            "height": box["height"] * 0.16}


def percentile(values, p):
    """The p-th percentile (0-100) of values, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def make_looped_source(path, size="1280x720"):
    """60 s of test pattern with a clock and a 440 Hz tone, 30 fps, x264 veryfast 3 Mbit/s, a keyframe every
    2 s, AAC: what the density benchmarks ingest in a loop."""
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration=60",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60",
        "-vf", "drawtext=text='%{pts\\:hms}':x=40:y=40:fontsize=64:fontcolor=white:box=1",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1500k",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", path], check=True)


def fresh_broker(framelog, state):
    """A `framelog broker` of its own, recording its address under the folder `state`: (env for the
    processes that use it, its process, its bootstrap address)."""
    env = dict(os.environ, FRAMELOG_STATE_DIR=state)
    env.pop("FRAMELOG_BROKERS", None)
    broker = subprocess.Popen([framelog, "broker", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                              text=True)
    return env, broker, wait_line(broker, r"listening on (\S+)").group(1)


def poll_for(consumer, seconds):
    """Yields (message, arrival in ms since the epoch) for each record a confluent-kafka consumer gets in the
    next `seconds`, errors skipped."""
    end = time.time() + seconds
    while time.time() < end:
        m = consumer.poll(0.05)
        if m is not None and not m.error():
            yield m, time.time() * 1000


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, tree):
    """utime + stime of `pid` (and, with `tree`, every descendant), in seconds."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    wanted, total, grew = {pid}, 0, True
    while tree and grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in wanted and p not in wanted:
                wanted.add(p)
                grew = True
    for p in wanted:
        total += stats.get(p, (0, 0))[1]
    return total / TICKS


def busy_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def stop_all(procs):
    """Ctrl-C to each, then waits; kills one that has not stopped in 60 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
