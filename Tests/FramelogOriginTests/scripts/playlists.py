"""Fetches a stream's playlists from an origin and checks them with the m3u8 package.

Usage: playlists.py BASE_URL STREAM_ID   (prints a JSON summary; exit 1 on a problem)
"""
import json
import sys
import urllib.request

import m3u8

base, stream = sys.argv[1], sys.argv[2]


def get(path):
    with urllib.request.urlopen(f"{base}/hls/{stream}/{path}", timeout=10) as r:
        return r.read().decode()


problems = []
variant = m3u8.loads(get("index.m3u8"))
if not variant.is_variant or len(variant.playlists) != 1:
    problems.append("index.m3u8 is not a one-variant multivariant playlist")
else:
    info = variant.playlists[0].stream_info
    if not info.bandwidth or not info.codecs or not info.resolution:
        problems.append(f"variant lacks BANDWIDTH/CODECS/RESOLUTION: {info}")

live = m3u8.loads(get("live.m3u8"))
if live.server_control is None or live.server_control.can_block_reload != "YES":
    problems.append("live.m3u8: no CAN-BLOCK-RELOAD")
if live.part_inf is None or not live.part_inf.part_target:
    problems.append("live.m3u8: no PART-INF")
if live.preload_hint is None:
    problems.append("live.m3u8: no PRELOAD-HINT")
parts = [p for s in live.segments for p in s.parts]
if len(parts) < 5:
    problems.append(f"live.m3u8: only {len(parts)} parts")
if any(s.duration and s.duration > live.target_duration + 0.5 for s in live.segments):
    problems.append("a segment is longer than the target duration")
if not live.program_date_time:
    problems.append("live.m3u8: no PROGRAM-DATE-TIME")

# Blocking reload for the hinted part returns a playlist that has it.
hint = live.preload_hint.uri  # part/N.K.m4s
n, k = hint.split("/")[1][: -len(".m4s")].split(".")
blocked = m3u8.loads(get(f"live.m3u8?_HLS_msn={n}&_HLS_part={k}"))
if not any(p.uri == hint for s in blocked.segments for p in s.parts) and blocked.media_sequence + len(blocked.segments) <= int(n):
    problems.append("blocking reload did not return the hinted part")

legacy_text = get("legacy.m3u8")
legacy = m3u8.loads(legacy_text)
if any(s.parts for s in legacy.segments) or "#EXT-X-PART" in legacy_text or len(legacy.segments) < 2:
    problems.append("legacy.m3u8 should hold whole segments only")

print(json.dumps({"parts": len(parts), "segments": len(live.segments), "legacy_segments": len(legacy.segments),
                  "problems": problems}))
sys.exit(1 if problems else 0)
