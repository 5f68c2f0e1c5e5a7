// The past of a live stream (DVR), read from the origin's archive: each track's VOD playlist
// (/vod/<id>/<track>.m3u8?start=T), whole segments handed to the MSE pipeline as records, like the live
// readers do. Capture time comes from PROGRAM-DATE-TIME plus the durations before, media time from tfdt.

import {decodeTimeOf, timescaleOf} from './hls.mjs';

/** The segments of a VOD media playlist: [{number, uri, map, duration, startMs}], and whether it ended. */
export function parseVod(text) {
  const out = {segments: [], ended: false};
  let sequence = 0, map = null, date = null, duration = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) sequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-MAP:URI="')) map = line.slice(16, -1);
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) date = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) duration = Number(line.slice(8).split(',')[0]);
    else if (line.startsWith('#EXT-X-ENDLIST')) out.ended = true;
    else if (line && !line.startsWith('#')) {
      const number = Number((/(\d+)\.m4s$/.exec(line) || [])[1] ?? sequence + out.segments.length);
      out.segments.push({number, uri: line, map, duration, startMs: date});
      if (date !== null) date += duration * 1000;
    }
  }
  return out;
}

/**
 * Reads stream `id`'s recorded tracks (`['video', 'audio']`) from capture time `fromMs` on, segment by
 * segment (video first, then the other tracks of the same number), calling `onRecord(header, bytes)`.
 * `control.stopped()` ends it; `control.room()` says whether to fetch more now (the buffer ahead is bounded).
 * When it reaches the newest recorded segment it asks again; after `idleMs` with nothing new it resolves:
 * the caller goes back to live.
 */
export async function readVod(id, tracks, fromMs, onRecord, control, idleMs = 4000) {
  const get = async (path) => {
    const r = await fetch(`/vod/${id}/${path}`, {cache: 'no-store'});
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r;
  };
  const state = new Map(tracks.map(t => [t, {map: null, timescale: 90000}]));
  let next = fromMs, last = -1, idleSince = null;
  while (!control.stopped()) {
    const lists = new Map();
    for (const track of tracks) {
      const r = await get(`${track}.m3u8?start=${Math.floor(next)}`);
      lists.set(track, r ? parseVod(await r.text()).segments.filter(s => s.number > last) : []);
    }
    const primary = lists.get(tracks[0]);
    if (!primary.length) {
      idleSince ??= Date.now();
      if (Date.now() - idleSince > idleMs) return;
      await new Promise(r => setTimeout(r, 1000));
      continue;
    }
    idleSince = null;
    for (const segment of primary) {
      while (!control.room() && !control.stopped()) await new Promise(r => setTimeout(r, 250));
      if (control.stopped()) return;
      for (const track of tracks) {
        const s = track === tracks[0] ? segment : lists.get(track).find(x => x.number === segment.number);
        if (!s) continue;
        const t = state.get(track);
        if (s.map !== t.map) {
          const init = await get(s.map);
          if (!init) continue;
          const bytes = new Uint8Array(await init.arrayBuffer());
          t.map = s.map;
          t.timescale = timescaleOf(bytes);
          onRecord({kind: 'init', track, init: s.map}, bytes);
        }
        const media = await get(s.uri);
        if (!media) continue;
        const bytes = new Uint8Array(await media.arrayBuffer());
        onRecord({kind: 'chunk', track, seq: s.number * 1e4, segment: s.number, part: 0, pts: decodeTimeOf(bytes),
                  timescale: t.timescale, duration: Math.round(s.duration * t.timescale), captureMs: s.startMs},
                 bytes);
      }
      last = segment.number;
      next = segment.startMs + segment.duration * 1000;
    }
  }
}

/**
 * The recorded tracks and their codecs, from the VOD multivariant playlist: the variant's media playlist
 * names the primary track (video, or muxed for version 1 media), its CODECS hold every track's codec, and an
 * audio group means a separate audio track.
 */
export function recordedTracks(multivariant) {
  const codecs = ((/CODECS="([^"]+)"/.exec(multivariant) || [])[1] || '').split(',').filter(c => c);
  const primary = (/^(video|muxed|audio)\.m3u8/m.exec(multivariant) || [])[1] || 'video';
  if (primary !== 'video') return [{name: primary, codecs: codecs.join(',')}];
  const audio = codecs.filter(c => c.startsWith('mp4a'));
  const tracks = [{name: 'video', codecs: codecs.filter(c => !c.startsWith('mp4a')).join(',')}];
  if (audio.length && multivariant.includes('TYPE=AUDIO')) tracks.push({name: 'audio', codecs: audio.join(',')});
  return tracks;
}
