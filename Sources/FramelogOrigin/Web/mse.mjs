// The MSE pipeline: records (init segments and CMAF chunks, from the feed or LL-HLS) appended in order to
// one SourceBuffer per track (video and audio, single-media CMAF tracks; one `muxed` buffer for version 1
// streams), with the media timeline kept running across encoder restarts and the capture time of every
// appended video part remembered for the latency controller.

import {captureAt} from './latency.mjs';

/** The MIME type of a track's SourceBuffer. */
export function mimeType(track) {
  return `${track.name === 'audio' ? 'audio' : 'video'}/mp4; codecs="${track.codecs}"`;
}

/**
 * One track's SourceBuffer and what is queued for it. Jobs run in order: `{offset}` sets the timestamp
 * offset, `{bytes}` appends.
 */
class TrackBuffer {
  constructor(pipeline, track) {
    this.pipeline = pipeline;
    this.name = track.name;
    this.codecs = track.codecs;
    this.sourceBuffer = pipeline.mediaSource.addSourceBuffer(mimeType(track));
    this.sourceBuffer.mode = 'segments';
    this.sourceBuffer.addEventListener('updateend', () => this.pump());
    this.queue = [];
    this.currentInit = null;
    this.pendingInit = null;
    this.offset = null;
    this.lastSeq = -1;
  }

  pump() {
    const sb = this.sourceBuffer;
    if (sb.updating || this.queue.length === 0) return;
    const job = this.queue.shift();
    try {
      if (job.offset !== undefined) { sb.timestampOffset = job.offset; this.pump(); return; }
      sb.appendBuffer(job.bytes);
    } catch (e) {
      if (e.name === 'QuotaExceededError') { this.queue.unshift(job); this.trim(true); return; }
      this.pipeline.stats.error = String(e);
    }
  }

  /** Drops what is well behind the playhead (2 s when the buffer is full, else 10 s). */
  trim(hard) {
    const sb = this.sourceBuffer, video = this.pipeline.video;
    if (sb.updating || sb.buffered.length === 0) return;
    const keep = hard ? 2 : 10;
    const start = sb.buffered.start(0);
    if (video.currentTime - start > keep) sb.remove(start, video.currentTime - keep);
  }

  /** [start, end] of what is buffered, or null. */
  range() {
    const b = this.sourceBuffer.buffered;
    return b.length ? [b.start(0), b.end(b.length - 1)] : null;
  }
}

export class MsePipeline {
  /** @param {HTMLVideoElement} video  @param {object} stats  the player's figures (parts, bytes, …) */
  constructor(video, stats) {
    this.video = video;
    this.stats = stats;
    this.mediaSource = null;
    /** @type {Map<string, TrackBuffer>} */
    this.tracks = new Map();
    /** Media time offset of the current encoder run, set by the primary track. */
    this.offset = 0;
    this.appendedEnd = null;
    /** {start: media time s, end, capture: ms} per appended video part. */
    this.timeline = [];
    /** [performance.now(), bytes] per chunk of the last seconds. */
    this.bitrate = [];
    /** Media start of each part per track, by "segment.part": how far apart audio and video are. */
    this.starts = new Map();
    /** The largest |video start − audio start| of a part over the last 100 parts, ms. */
    this.avSkewMs = null;
  }

  /** Attaches a MediaSource to the video; resolves once it is open. */
  open() {
    return new Promise(resolve => {
      this.mediaSource = new MediaSource();
      this.mediaSource.addEventListener('sourceopen', () => resolve(), {once: true});
      this.video.src = URL.createObjectURL(this.mediaSource);
    });
  }

  /**
   * Creates a SourceBuffer per track (all before the first append, as MSE requires), or switches a
   * track's codec when it changed. `tracks`: [{name: 'video'|'audio'|'muxed', codecs}].
   */
  useTracks(tracks) {
    for (const track of tracks) {
      const existing = this.tracks.get(track.name);
      if (!existing) {
        if (this.tracks.size && this.stats.parts) continue;  // too late for MSE to add one
        this.tracks.set(track.name, new TrackBuffer(this, track));
      } else if (track.codecs !== existing.codecs && existing.sourceBuffer.changeType) {
        existing.codecs = track.codecs;
        existing.sourceBuffer.changeType(mimeType(track));
      }
    }
  }

  /** The track the clock follows: video, else the muxed one. */
  get primary() { return this.tracks.get('video') || this.tracks.get('muxed') || null; }

  /** A new connection starts with its inits: append them again. */
  reconnected() { for (const t of this.tracks.values()) t.currentInit = null; }

  /** The capture time of media time `t`. */
  captureAt(t) { return captureAt(this.timeline, t); }

  /** What each track has buffered: {video: [start, end], audio: [start, end]}. */
  buffered() {
    const out = {};
    for (const [name, t] of this.tracks) out[name] = t.range();
    return out;
  }

  trim(hard) { for (const t of this.tracks.values()) t.trim(hard); }

  /** One record: `h` is the feed's header (kind, track, seq, pts, timescale, duration, captureMs, init). */
  onRecord(h, bytes) {
    const stats = this.stats;
    if (h.kind === 'discontinuity') { stats.discontinuities++; return; }
    if (h.kind === 'end') { stats.ended = true; return; }
    const track = this.tracks.get(h.track || 'muxed');
    if (!track) return;
    if (h.kind === 'rung') {
      // Another rung's media from here on: its own sequence numbers, its own init (same timestamps).
      track.lastSeq = -1;
      track.currentInit = null;
      stats.rung = h.stream;
      return;
    }
    if (h.kind === 'init') {
      if (h.init !== track.currentInit) track.pendingInit = bytes;
      track.currentInit = h.init;
      return;
    }
    if ((h.kind !== 'chunk' && h.kind !== 'part') || h.seq <= track.lastSeq) return;
    track.lastSeq = h.seq;
    const start = h.pts / h.timescale, duration = h.duration / h.timescale;
    const primary = track === this.primary;
    if (primary) {
      // Media time restarts after an encoder restart: keep the timeline running on.
      if (this.appendedEnd === null || Math.abs(start + this.offset - this.appendedEnd) > 0.5) {
        this.offset = this.appendedEnd === null ? 0 : this.appendedEnd - start;
      }
    } else if (this.appendedEnd === null) {
      return;  // nothing to line up with yet
    }
    if (track.offset !== this.offset) { track.offset = this.offset; track.queue.push({offset: this.offset}); }
    if (track.pendingInit) { track.queue.push({bytes: track.pendingInit}); track.pendingInit = null; }
    track.queue.push({bytes});
    if (h.segment !== undefined && !h.chunk) this.noteStart(h, track.name, start + this.offset);
    if (primary) {
      const at = start + this.offset;
      this.timeline.push({start: at, end: at + duration, capture: h.captureMs});
      if (this.timeline.length > 600) this.timeline.splice(0, this.timeline.length - 600);
      this.appendedEnd = at + duration;
      stats.parts++;
    }
    stats.bytes += bytes.length;
    this.bitrate.push([performance.now(), bytes.length, track.name]);
    track.pump();
  }

  /** Remembers where a part starts in media time, and the skew between tracks once both have it. */
  noteStart(h, name, at) {
    const key = `${h.segment}.${h.part}`;
    const entry = this.starts.get(key) || {};
    entry[name] = at;
    this.starts.set(key, entry);
    if (this.starts.size > 100) this.starts.delete(this.starts.keys().next().value);
    let skew = null;
    for (const e of this.starts.values()) {
      if (e.video !== undefined && e.audio !== undefined) skew = Math.max(skew || 0, Math.abs(e.video - e.audio) * 1000);
    }
    this.avSkewMs = skew;
  }

  /** Bits per second over the last 2 s: of every track, or of the track named `name`. */
  bitsPerSecond(name = null) {
    const now = performance.now();
    while (this.bitrate.length && now - this.bitrate[0][0] > 2000) this.bitrate.shift();
    return this.bitrate.reduce((a, b) => a + (name === null || b[2] === name ? b[1] : 0), 0) * 8 / 2;
  }
}
