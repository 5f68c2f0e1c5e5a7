// The LL-HLS transport (?transport=hls): the player's MSE pipeline fed over plain HTTP with blocking playlist
// reloads (delta updates: the newest segments only) and parts, as a CDN would serve it, each track (video,
// audio) from its own media playlist. Capture time comes from PROGRAM-DATE-TIME, media time from each part's
// tfdt.

/** The parts, segments, preload hint and end of a media playlist (a delta update's skipped segments count). */
export function parsePlaylist(text) {
  const out = {sequence: 0, skipped: 0, segments: [], hint: null, ended: false};
  let current = {parts: [], map: null, date: null}, map = null, date = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) out.sequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-SKIP:')) out.skipped = Number(/SKIPPED-SEGMENTS=(\d+)/.exec(line)[1]);
    else if (line.startsWith('#EXT-X-MAP:URI="')) map = line.slice(16, -1);
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) date = Date.parse(line.slice(25));
    else if (line.startsWith('#EXT-X-PART:')) {
      const duration = Number(/DURATION=([\d.]+)/.exec(line)[1]);
      const uri = /URI="([^"]+)"/.exec(line)[1];
      current.parts.push({duration, uri, independent: line.includes('INDEPENDENT=YES')});
      current.map = map; current.date = date;
    } else if (line.startsWith('seg/')) {
      current.map = map; current.date = date; current.complete = true;
      out.segments.push(current); current = {parts: [], map: null, date: null};
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) out.hint = /URI="([^"]+)"/.exec(line)[1];
    else if (line.startsWith('#EXT-X-ENDLIST')) out.ended = true;
  }
  if (current.parts.length) { current.complete = false; out.segments.push(current); }
  out.segments.forEach((s, i) => s.number = out.sequence + out.skipped + i);
  return out;
}

function findBox(bytes, type, from = 0) {
  const t = [...type].map(c => c.charCodeAt(0));
  for (let i = from + 4; i + 4 <= bytes.length; i++)
    if (bytes[i] === t[0] && bytes[i + 1] === t[1] && bytes[i + 2] === t[2] && bytes[i + 3] === t[3]) return i - 4;
  return -1;
}
function u32(b, i) { return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0; }
/** The first track's timescale (mdhd) of an init segment. */
export function timescaleOf(init) {
  const at = findBox(init, 'mdhd');
  return u32(init, at + 8 + (init[at + 8] === 1 ? 20 : 12));
}
/** The first track's decode time (tfdt) of a fragment. */
export function decodeTimeOf(part) {
  const at = findBox(part, 'tfdt');
  return part[at + 8] === 1 ? u32(part, at + 12) * 4294967296 + u32(part, at + 16) : u32(part, at + 12);
}

/**
 * A response's body, read by pieces so that `meter` (a `ThroughputMeter`, or null) sees each of them and when
 * the link was busy. The origin answers the preload-hinted part chunk by chunk as the chunks reach it, so the
 * time from the first byte to the last is mostly waiting for the encoder, not the link: as for the feed, the
 * link counts as busy only from the first read of a box (a CMAF chunk's moof or mdat) to the read that
 * completes it. A part sent whole is read in the same way: its boxes follow each other at once.
 */
export async function readBody(response, meter) {
  const reader = response.body.getReader();
  const pieces = [];
  let length = 0;
  // Where the first box not yet whole starts (in body bytes; Infinity: a box that cannot be sized, so no
  // more samples from this body), and when its first bytes came.
  let cursor = 0, started = null;
  const header = new Uint8Array(8);
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    const now = performance.now();
    pieces.push(value);
    length += value.length;
    if (!meter) continue;
    meter.read(now, value.length);
    let completed = false;
    while (cursor + 8 <= length) {
      copyOut(pieces, cursor, header);
      const size = header[0] * 16777216 + (header[1] << 16) + (header[2] << 8) + header[3];
      if (size < 8) { cursor = Infinity; break; }
      if (cursor + size > length) break;
      cursor += size;
      completed = true;
    }
    if (cursor === Infinity) continue;
    if (completed && started !== null) meter.transfer(started, now);
    if (completed || started === null) started = cursor < length ? now : null;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) { out.set(p, at); at += p.length; }
  return out;
}

/** Copies `into.length` bytes from `offset` of the concatenation of `pieces`. */
function copyOut(pieces, offset, into) {
  let at = 0, filled = 0;
  for (const p of pieces) {
    if (filled === into.length) break;
    if (at + p.length > offset) {
      const from = Math.max(0, offset + filled - at);
      const n = Math.min(p.length - from, into.length - filled);
      into.set(p.subarray(from, from + n), filled);
      filled += n;
    }
    at += p.length;
  }
}

/**
 * Reads the tracks (`['video', 'audio']`) of stream `id` over LL-HLS, each from the newest independent
 * part of the primary track's playlist, handing records to `onRecord`; returns when one track ends or fails
 * (and stops the others), or `signal` aborts it. The video comes from the rung `rungs.want()` names (a
 * rendition of `id`, or `id`): when it names another, the next segment comes from there, after a `rung`
 * record. `meter` sees every read.
 */
export async function readHls(id, onRecord, tracks, signal, {rungs = {want: () => id}, meter = null} = {}) {
  const run = {stopped: false, signal, rungs, meter};
  const first = await readTrack(id, tracks[0], onRecord, run, null);
  if (!first) return;
  try {
    await Promise.race([first.done, ...tracks.slice(1).map(t => readTrack(id, t, onRecord, run, first.start)
      .then(r => r && r.done))]);
  } finally {
    run.stopped = true;
  }
}

/**
 * One track's reader. Starts at segment `startMsn` (or the newest independent one); resolves, once the
 * start is chosen, to {start, done} where `done` settles when the track ends, fails or `run.stopped`.
 */
async function readTrack(id, track, onRecord, run, startMsn) {
  let stream = track === 'video' ? run.rungs.want() : id;
  const get = async (path) => {
    const r = await fetch(`/hls/${stream}/${track}/` + path, {cache: 'no-store', signal: run.signal});
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return readBody(r, run.meter);
  };
  // Delta updates (`_HLS_skip`): the reader needs only the segments near the live edge.
  const playlist = async (query = '') => {
    const bytes = await get('live.m3u8' + (query ? query + '&' : '?') + '_HLS_skip=YES');
    if (!bytes) throw new Error(`/hls/${stream}/${track}/live.m3u8: HTTP 404`);
    return parsePlaylist(new TextDecoder().decode(bytes));
  };
  let pl = await playlist();
  const start = startMsn !== null ? {number: startMsn}
    : [...pl.segments].reverse().find(s => s.parts.length && s.parts[0].independent);
  if (!start) throw new Error('no part to start at');
  return {start: start.number, done: follow(start.number)};

  async function follow(from) {
    let msn = from, part = 0, mapUri = null, timescale = 90000, early = null;
    while (!run.stopped) {
      if (part === 0 && track === 'video' && run.rungs.want() !== stream) {
        // Another rung from this segment on: same numbers and timestamps, its own init.
        stream = run.rungs.want();
        mapUri = null;
        early = null;
        onRecord({kind: 'rung', track, stream}, null);
        pl = await playlist(`?_HLS_msn=${msn}&_HLS_part=0`);
        continue;
      }
      const segment = pl.segments.find(s => s.number === msn);
      if (!segment || segment.parts.length <= part) {
        if (segment && segment.complete) { msn++; part = 0; continue; }
        if (pl.segments.length && pl.segments[pl.segments.length - 1].number > msn) { msn++; part = 0; continue; }
        if (pl.ended) return;
        const wanted = `part/${msn}.${part}.m4s`;
        if (pl.hint === wanted) {
          // The preload hint: ask for the part itself and for the playlist that will list it at once; the
          // origin holds both until the part exists, so no round trip follows its arrival.
          const [bytes, fresh] = await Promise.all([get(wanted), playlist(`?_HLS_msn=${msn}&_HLS_part=${part}`)]);
          if (bytes) early = {uri: wanted, bytes};
          pl = fresh;
        } else {
          pl = await playlist(`?_HLS_msn=${msn}&_HLS_part=${part}`);
        }
        continue;
      }
      const p = segment.parts[part];
      if (segment.map !== mapUri) {
        const init = await get(segment.map);
        if (!init) throw new Error('init missing');
        mapUri = segment.map;
        timescale = timescaleOf(init);
        onRecord({kind: 'init', track, init: mapUri}, init);
      }
      const bytes = early && early.uri === p.uri ? early.bytes : await get(p.uri);
      early = null;
      if (!bytes) { pl = await playlist(); continue; }
      const before = segment.parts.slice(0, part).reduce((a, q) => a + q.duration, 0);
      onRecord({kind: 'chunk', track, seq: msn * 1e4 + part, segment: msn, part, pts: decodeTimeOf(bytes), timescale,
                duration: Math.round(p.duration * timescale), captureMs: segment.date + before * 1000}, bytes);
      part++;
    }
  }
}
