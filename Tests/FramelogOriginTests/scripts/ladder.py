"""Checks a transcoded stream's ladder as a client sees it at an origin, then plays it with hls.js and dash.js.

Usage: ladder.py BASE_URL STREAM_ID RUNGS   (RUNGS: how many renditions, besides the source, to expect)

1. PyPI m3u8 parses the multivariant playlist: the source, then RUNGS renditions tallest first, each with
   BANDWIDTH, AVERAGE-BANDWIDTH ≤ BANDWIDTH, CODECS (its video + the shared audio), RESOLUTION, FRAME-RATE
   and the one audio group. Each variant's declared BANDWIDTH is within 10 % of the peak segment bitrate
   measured here: its video segments in the window, by size and EXTINF, plus the audio's peak.
2. Every variant's LL-HLS playlist parses, reports every other variant (EXT-X-RENDITION-REPORT), and for
   every segment number two variants both list, the PROGRAM-DATE-TIME and the first sample's decode time
   (tfdt, read from the segment) are the same.
3. The DASH manifest has one video AdaptationSet (segmentAlignment, startWithSAP) whose Representations
   are the source then every rendition, tallest first; each one's init loads, and the same segment number
   has the same tfdt in every Representation.
4. hls.js 1.5.7 (from .venv/players, served by playwright under the origin's address) loads the
   multivariant, sees RUNGS + 1 levels, plays, is switched (smoothly, as its ABR does) to the lowest level
   and keeps playing with the picture at that level's size; no stall after the switch, no fatal error.
5. dash.js 5 plays the manifest, is switched to its smallest Representation and keeps playing at that size.

Prints a JSON summary; exit 1 on a problem.
"""
import asyncio
import json
import pathlib
import struct
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import m3u8
from playwright.async_api import async_playwright

base, stream, rungs = sys.argv[1], sys.argv[2], int(sys.argv[3])
problems = []
PLAYERS = pathlib.Path(__file__).resolve().parents[3] / ".venv" / "players"


def get(url, binary=False):
    with urllib.request.urlopen(url, timeout=10) as r:
        data = r.read()
    return data if binary else data.decode()


def check(condition, message):
    if not condition:
        problems.append(message)


def tfdt(segment):
    at = segment.find(b"tfdt")
    version = segment[at + 4]
    return struct.unpack(">Q" if version == 1 else ">I", segment[at + 8:at + (16 if version == 1 else 12)])[0]


def peak_bitrate(playlist_url):
    """Highest complete segment bitrate of a media playlist, bits per second."""
    pl = m3u8.loads(get(playlist_url))
    peak = 0
    for s in pl.segments:
        if s.uri and s.duration and s.duration > 0.5:
            size = len(get(urllib.parse.urljoin(playlist_url, s.uri), binary=True))
            peak = max(peak, size * 8 / s.duration)
    return peak


multivariant_url = f"{base}/hls/{stream}/index.m3u8"
mv = m3u8.loads(get(multivariant_url))
variants = mv.playlists
summary = {"variants": [(v.uri, v.stream_info.bandwidth, v.stream_info.resolution) for v in variants]}
check(len(variants) == rungs + 1, f"expected {rungs + 1} variants, got {len(variants)}")
check(variants and variants[0].uri == "video/live.m3u8", "the source is not the first variant")
heights = [v.stream_info.resolution[1] for v in variants if v.stream_info.resolution]
check(heights == sorted(heights, reverse=True) and len(heights) == len(variants), f"heights {heights}")
audio = [m for m in mv.media if m.type == "AUDIO"]
check(len(audio) == 1 and audio[0].uri == "audio/live.m3u8", "one shared audio group")
audio_peak = peak_bitrate(urllib.parse.urljoin(multivariant_url, audio[0].uri)) if audio else 0
for v in variants:
    info = v.stream_info
    check(info.audio == "audio" and "mp4a." in (info.codecs or "") and "avc1." in (info.codecs or ""),
          f"{v.uri}: AUDIO/CODECS {info.audio} {info.codecs}")
    check(info.average_bandwidth and info.average_bandwidth <= info.bandwidth, f"{v.uri}: AVERAGE-BANDWIDTH")
    check(info.frame_rate, f"{v.uri}: no FRAME-RATE")
    measured = peak_bitrate(urllib.parse.urljoin(multivariant_url, v.uri)) + audio_peak
    summary.setdefault("measured", []).append(round(measured))
    check(abs(info.bandwidth - measured) <= 0.1 * measured,
          f"{v.uri}: BANDWIDTH {info.bandwidth} vs measured peak {measured:.0f}")

# The variants' LL-HLS playlists: rendition reports, and segments aligned in time and in media.
lists = {}
for v in variants:
    url = urllib.parse.urljoin(multivariant_url, v.uri)
    pl = m3u8.loads(get(url))
    lists[v.uri] = (url, pl)
    reported = {urllib.parse.urljoin(url, r.uri) for r in pl.rendition_reports}
    others = {urllib.parse.urljoin(multivariant_url, o.uri) for o in variants if o.uri != v.uri}
    check(others <= reported, f"{v.uri}: reports {sorted(reported)}, missing {sorted(others - reported)}")
first_url, first = lists[variants[0].uri]
source_segments = {first.media_sequence + i: s for i, s in enumerate(first.segments) if s.uri}
compared = 0
for uri, (url, pl) in list(lists.items())[1:]:
    for i, s in enumerate(pl.segments):
        number = pl.media_sequence + i
        mine = source_segments.get(number)
        if not s.uri or mine is None:
            continue
        compared += 1
        check(s.program_date_time == mine.program_date_time or s.program_date_time is None,
              f"{uri} segment {number}: date {s.program_date_time} vs {mine.program_date_time}")
        a = tfdt(get(urllib.parse.urljoin(url, s.uri), binary=True))
        b = tfdt(get(urllib.parse.urljoin(first_url, mine.uri), binary=True))
        check(a == b, f"{uri} segment {number}: tfdt {a} vs the source's {b}")
summary["segments_compared"] = compared
check(compared >= 2 * rungs, f"only {compared} segments compared")

# DASH: one video AdaptationSet whose Representations are the source then every rung, aligned.
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
mpd_url = f"{base}/dash/{stream}/manifest.mpd"
mpd = ET.fromstring(get(mpd_url))
video_sets = [a for a in mpd.iterfind(".//d:AdaptationSet", NS) if a.get("contentType") == "video"]
check(len(video_sets) == 1, f"{len(video_sets)} video AdaptationSets")
if video_sets:
    vs = video_sets[0]
    check(vs.get("segmentAlignment") == "true" and vs.get("startWithSAP") == "1",
          "segmentAlignment/startWithSAP missing")
    reps = vs.findall("d:Representation", NS)
    dash_heights = [int(r.get("height") or 0) for r in reps]
    summary["dash"] = [(r.get("id"), r.get("bandwidth"), r.get("height")) for r in reps]
    check(len(reps) == rungs + 1 and dash_heights == sorted(dash_heights, reverse=True),
          f"DASH representations {summary['dash']}")
    newest = []
    for r in reps:
        template = r.find("d:SegmentTemplate", NS)
        newest.append(int(template.get("startNumber")) + len(template.findall("d:SegmentTimeline/d:S", NS)) - 1)
        init = get(urllib.parse.urljoin(mpd_url, template.get("initialization")), binary=True)
        check(len(init) > 0, f"DASH {r.get('id')}: empty init")
    # The newest segment every Representation lists.
    common = min(newest) if newest else None
    firsts = {}
    for r in reps:
        template = r.find("d:SegmentTemplate", NS)
        url = urllib.parse.urljoin(mpd_url, template.get("media").replace("$Number$", str(common)))
        firsts[r.get("id")] = tfdt(get(url, binary=True))
    check(len(set(firsts.values())) == 1, f"DASH segment {common}: tfdt per representation {firsts}")

PAGE = """<!doctype html><html><body><video muted autoplay playsinline></video>
<script src="/__players/hls.min.js"></script>
<script>
const video = document.querySelector('video');
const result = window.result = {errors: [], fatal: null, levels: [], switched: null};
const hls = window.hls = new Hls({lowLatencyMode: true});
hls.on(Hls.Events.ERROR, (_, d) => { result.errors.push(d.details); if (d.fatal) result.fatal = d.details; });
hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => { result.levels = d.levels.map(l => [l.width, l.height]); });
hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { result.switched = d.level; });
hls.loadSource('SOURCE');
hls.attachMedia(video);
video.play().catch(() => {});
</script></body></html>"""

STATE = """() => {
  const v = document.querySelector('video');
  return Object.assign({}, window.result, {frames: v.getVideoPlaybackQuality().totalVideoFrames,
    width: v.videoWidth, height: v.videoHeight, time: v.currentTime, mediaError: v.error && v.error.message});
}"""


DASH_PAGE = """<!doctype html><html><body><video muted autoplay playsinline></video>
<script type="module">
import * as dashjs from '/__players/dash.mjs';
const result = window.result = {errors: [], fatal: null};
const player = window.player = dashjs.MediaPlayer().create();
// Start on the tallest (initialBitrate in kbit/s), and switch only when told.
player.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: false}, initialBitrate: {video: 100000}}}});
player.on(dashjs.MediaPlayer.events.ERROR, e => {
  result.fatal = String((e.error && (e.error.message || e.error.code)) || e.error);
});
player.initialize(document.querySelector('video'), 'SOURCE', true);
</script></body></html>"""


async def play_and_switch(page_html, source, player_file, switch):
    """Plays `source` in `page_html` (served with `player_file` under the origin's address, by playwright).
    After 5 s runs the `switch` script, which returns what it saw before switching; 7 s later, STATE."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"])
        page = await browser.new_page()

        async def serve(route):
            if route.request.url.endswith("/page.html"):
                await route.fulfill(body=page_html.replace("SOURCE", source), content_type="text/html")
            else:
                await route.fulfill(body=(PLAYERS / player_file).read_bytes(), content_type="text/javascript")

        await page.route(f"{base}/__players/**", serve)
        await page.goto(f"{base}/__players/page.html")
        await asyncio.sleep(5)
        before = await page.evaluate(switch)
        await asyncio.sleep(7)
        after = await page.evaluate(STATE)
        await browser.close()
    return before, after


# hls.js orders levels by bandwidth, lowest first: switch to the smallest picture. `nextLevel` is the
# smooth switch ABR makes, at the next fragment; `currentLevel` would flush the buffer and stall on purpose.
HLS_SWITCH = """() => {
  const state = (""" + STATE + """)();
  state.target = hls.levels.reduce((best, l, i) => l.height < hls.levels[best].height ? i : best, 0);
  hls.nextLevel = state.target;
  state.errorsBefore = state.errors.length;
  return state;
}"""

# dash.js 5: the Representations it sees, then a switch to the smallest.
DASH_SWITCH = """() => {
  const heights = player.getRepresentationsByType('video').map(r => r.height);
  const target = heights.indexOf(Math.min(...heights));
  const v = document.querySelector('video');
  const state = {heights, target, frames: v.getVideoPlaybackQuality().totalVideoFrames, height: v.videoHeight};
  player.setRepresentationForTypeByIndex('video', target, true);
  return state;
}"""


before, after = asyncio.run(play_and_switch(PAGE, f"/hls/{stream}/index.m3u8", "hls.min.js", HLS_SWITCH))
summary["hlsjs"] = {"before": before, "after": after}
check(len(before["levels"]) == rungs + 1, f"hls.js sees levels {before['levels']}")
check(after["fatal"] is None and after["mediaError"] is None, f"hls.js: {after['fatal']} {after['mediaError']}")
lowest = min(before["levels"], key=lambda size: size[1]) if before["levels"] else None
check(before["switched"] != before["target"], f"hls.js started on level {before['switched']}, the lowest")
check(after["switched"] == before["target"], f"hls.js switched to level {after['switched']}, not {before['target']}")
check(lowest is not None and [after["width"], after["height"]] == lowest,
      f"picture {after['width']}x{after['height']} after the switch, lowest level {lowest}")
check(after["frames"] - before["frames"] >= 120, f"frames advanced {after['frames'] - before['frames']} in 7 s")
check("bufferStalledError" not in after["errors"][before["errorsBefore"]:], "hls.js stalled after the switch")

dash_before, dash_after = asyncio.run(
    play_and_switch(DASH_PAGE, f"/dash/{stream}/manifest.mpd", "dash.mjs", DASH_SWITCH))
summary["dashjs"] = {"before": dash_before, "after": dash_after}
check(len(dash_before["heights"]) == rungs + 1, f"dash.js sees representations of heights {dash_before['heights']}")
check(dash_after["fatal"] is None and dash_after["mediaError"] is None,
      f"dash.js: {dash_after['fatal']} {dash_after['mediaError']}")
check(dash_before["height"] == max(dash_before["heights"] or [0]),
      f"dash.js started at height {dash_before['height']}, not the tallest of {dash_before['heights']}")
check(dash_after["height"] == min(dash_before["heights"] or [0]),
      f"dash.js picture {dash_after['width']}x{dash_after['height']} after the switch")
check(dash_after["frames"] - dash_before["frames"] >= 120,
      f"dash.js frames advanced {dash_after['frames'] - dash_before['frames']} in 7 s")
summary["problems"] = problems
print(json.dumps(summary))
sys.exit(1 if problems else 0)
