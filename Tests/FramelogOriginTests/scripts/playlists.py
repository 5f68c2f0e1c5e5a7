"""Fetches a stream's playlists and manifest from an origin and checks them with PyPI parsers: m3u8 for the
multivariant, video and audio playlists, mpegdash for the MPD (plus checks written here).

Usage: playlists.py BASE_URL STREAM_ID   (prints a JSON summary; exit 1 on a problem)
"""
import json
import sys
import urllib.request

import m3u8
from mpegdash.parser import MPEGDASHParser

base, stream = sys.argv[1], sys.argv[2]
problems = []


def get(path):
    with urllib.request.urlopen(f"{base}/{path}", timeout=10) as r:
        return r.read().decode()


def check(condition, message):
    if not condition:
        problems.append(message)


# The multivariant playlist: one video variant referencing one audio rendition group.
variant = m3u8.loads(get(f"hls/{stream}/index.m3u8"))
check(variant.is_variant and len(variant.playlists) == 1, "index.m3u8 is not a one-variant multivariant playlist")
info = variant.playlists[0].stream_info if variant.playlists else None
audio_media = [m for m in variant.media if m.type == "AUDIO"]
check(len(audio_media) == 1, f"expected one EXT-X-MEDIA audio rendition, got {len(audio_media)}")
if info:
    check(info.bandwidth and info.average_bandwidth and info.average_bandwidth <= info.bandwidth,
          f"BANDWIDTH/AVERAGE-BANDWIDTH: {info.bandwidth}/{info.average_bandwidth}")
    check(info.codecs and "avc1." in info.codecs and "mp4a." in info.codecs, f"CODECS {info.codecs}")
    check(info.resolution is not None and info.frame_rate, f"RESOLUTION/FRAME-RATE: {info.resolution}")
    check(info.audio == "audio", f"variant AUDIO={info.audio}")
    check(variant.playlists[0].uri == "video/live.m3u8", f"variant URI {variant.playlists[0].uri}")
if audio_media:
    a = audio_media[0]
    check(a.group_id == "audio" and a.uri == "audio/live.m3u8" and a.default == "YES" and a.autoselect == "YES",
          f"audio rendition {a.group_id} {a.uri} {a.default} {a.autoselect}")

# Both media playlists: LL-HLS tags, aligned parts and segments, rendition reports of each other.
playlists = {}
for track, other in (("video", "audio"), ("audio", "video")):
    text = get(f"hls/{stream}/{track}/live.m3u8")
    pl = m3u8.loads(text)
    playlists[track] = pl
    check(pl.server_control is not None and pl.server_control.can_block_reload == "YES", f"{track}: no CAN-BLOCK-RELOAD")
    check(pl.part_inf is not None and pl.part_inf.part_target, f"{track}: no PART-INF")
    check(pl.preload_hint is not None, f"{track}: no PRELOAD-HINT")
    check(pl.segment_map and pl.segment_map[0].uri.startswith("init/"), f"{track}: no EXT-X-MAP")
    check(len([p for s in pl.segments for p in s.parts]) >= 5, f"{track}: fewer than 5 parts")
    check(all(not s.duration or s.duration <= pl.target_duration + 0.5 for s in pl.segments),
          f"{track}: a segment longer than the target duration")
    check(pl.program_date_time is not None, f"{track}: no PROGRAM-DATE-TIME")
    reports = [r for r in pl.rendition_reports]
    check(len(reports) == 1 and reports[0].uri == f"../{other}/live.m3u8",
          f"{track}: rendition reports {[r.uri for r in reports]}")
    if reports:
        check(reports[0].last_msn is not None and reports[0].last_part is not None, f"{track}: report without LAST-*")

# Parts and segments of both tracks are aligned: same media sequence numbers and part names.
def names(pl):
    return {p.uri for s in pl.segments for p in s.parts} | {s.uri for s in pl.segments if s.uri}


video, audio = playlists["video"], playlists["audio"]
common = names(video) & names(audio)
check(len(common) >= 5, f"video and audio share only {len(common)} part/segment names")
check(abs(video.media_sequence - audio.media_sequence) <= 1, f"media sequences {video.media_sequence}/{audio.media_sequence}")
check(video.target_duration == audio.target_duration, "target durations differ")

# Blocking reload of the audio playlist for its hinted part returns a playlist that has it.
hint = audio.preload_hint.uri if audio.preload_hint else "part/0.0.m4s"
n, k = hint.split("/")[1][: -len(".m4s")].split(".")
blocked = m3u8.loads(get(f"hls/{stream}/audio/live.m3u8?_HLS_msn={n}&_HLS_part={k}"))
check(any(p.uri == hint for s in blocked.segments for p in s.parts)
      or blocked.media_sequence + len(blocked.segments) > int(n), "audio blocking reload lacks the hinted part")

legacy_text = get(f"hls/{stream}/video/legacy.m3u8")
legacy = m3u8.loads(legacy_text)
check(not any(s.parts for s in legacy.segments) and "#EXT-X-PART" not in legacy_text and len(legacy.segments) >= 2,
      "video/legacy.m3u8 should hold whole segments only")
legacy_variant = m3u8.loads(get(f"hls/{stream}/legacy.m3u8"))
check(legacy_variant.is_variant and legacy_variant.playlists[0].uri == "video/legacy.m3u8"
      and legacy_variant.media[0].uri == "audio/legacy.m3u8", "legacy.m3u8 is not the whole-segment multivariant")

# The MPD: one AdaptationSet per media type, each with alignment, SAP and a SegmentTimeline, UTCTiming.
mpd_text = get(f"dash/{stream}/manifest.mpd")
mpd = MPEGDASHParser.parse(mpd_text)
check(mpd.type == "dynamic" and mpd.availability_start_time and mpd.minimum_update_period, "MPD not a live one")
check(mpd.utc_timings and mpd.utc_timings[0].scheme_id_uri == "urn:mpeg:dash:utc:http-iso:2014"
      and mpd.utc_timings[0].value.endswith("/time"), "no UTCTiming pointing at /time")
sets = mpd.periods[0].adaptation_sets if mpd.periods else []
check([s.content_type for s in sets] == ["video", "audio"], f"AdaptationSets {[s.content_type for s in sets]}")
for s in sets:
    rep = s.representations[0]
    check(s.segment_alignment in (True, "true") and int(s.start_with_sap) == 1, f"{s.content_type}: alignment/SAP")
    check(s.mime_type == f"{s.content_type}/mp4", f"{s.content_type}: mimeType {s.mime_type}")
    check("," not in rep.codecs, f"{s.content_type}: more than one codec in {rep.codecs}")
    template = rep.segment_templates[0] if rep.segment_templates else None
    check(template is not None and template.segment_timelines, f"{s.content_type}: no SegmentTimeline")
    if template is not None:
        check(template.media == f"{s.content_type}/seg/$Number$.m4s", f"{s.content_type}: media {template.media}")
        check(len(template.segment_timelines[0].Ss) >= 2, f"{s.content_type}: fewer than 2 segments")
if len(sets) == 2:
    starts = [int(s.representations[0].segment_templates[0].start_number) for s in sets]
    check(starts[0] == starts[1], f"startNumber differs: {starts}")
    counts = [len(s.representations[0].segment_templates[0].segment_timelines[0].Ss) for s in sets]
    check(counts[0] == counts[1], f"timeline lengths differ: {counts}")

print(json.dumps({"video_parts": len([p for s in video.segments for p in s.parts]),
                  "audio_parts": len([p for s in audio.segments for p in s.parts]),
                  "adaptation_sets": len(sets), "problems": problems}))
sys.exit(1 if problems else 0)
