// The MSE pipeline: records (init segments and CMAF parts, from the feed or LL-HLS) appended to one
// SourceBuffer in order, with the media timeline kept running across encoder restarts and the capture
// time of every appended part remembered for the latency controller.

import {captureAt} from './latency.mjs';

export class MsePipeline {
  /** @param {HTMLVideoElement} video  @param {object} stats  the player's figures (parts, bytes, …) */
  constructor(video, stats) {
    this.video = video;
    this.stats = stats;
    this.mediaSource = null;
    this.sourceBuffer = null;
    this.codecs = null;
    this.currentInit = null;
    this.pendingInit = null;
    this.queue = [];
    this.lastSeq = -1;
    this.offset = 0;
    this.appendedEnd = null;
    /** {start: media time s, end, capture: ms} per appended part. */
    this.timeline = [];
    /** [performance.now(), bytes] per part of the last seconds. */
    this.bitrate = [];
  }

  /** Attaches a MediaSource to the video; resolves once it is open. */
  open() {
    return new Promise(resolve => {
      this.mediaSource = new MediaSource();
      this.mediaSource.addEventListener('sourceopen', () => resolve(), {once: true});
      this.video.src = URL.createObjectURL(this.mediaSource);
    });
  }

  /** Creates the SourceBuffer for `codecs`, or switches it when they changed. */
  useCodecs(codecs) {
    if (!this.sourceBuffer) {
      this.codecs = codecs;
      this.sourceBuffer = this.mediaSource.addSourceBuffer(`video/mp4; codecs="${codecs}"`);
      this.sourceBuffer.mode = 'segments';
      this.sourceBuffer.addEventListener('updateend', () => this.pump());
    } else if (codecs !== this.codecs && this.sourceBuffer.changeType) {
      this.codecs = codecs;
      this.sourceBuffer.changeType(`video/mp4; codecs="${codecs}"`);
    }
  }

  /** A new connection starts with its init: append it again. */
  reconnected() { this.currentInit = null; }

  /** The capture time of media time `t`. */
  captureAt(t) { return captureAt(this.timeline, t); }

  pump() {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.queue.length === 0) return;
    const job = this.queue.shift();
    try {
      if (job.offset !== undefined) { sb.timestampOffset = job.offset; this.pump(); return; }
      sb.appendBuffer(job.bytes);
    } catch (e) {
      if (e.name === 'QuotaExceededError') { this.queue.unshift(job); this.trim(true); return; }
      this.stats.error = String(e);
    }
  }

  /** Drops what is well behind the playhead (2 s when the buffer is full, else 10 s). */
  trim(hard) {
    const sb = this.sourceBuffer, video = this.video;
    if (!sb || sb.updating || video.buffered.length === 0) return;
    const keep = hard ? 2 : 10;
    const start = video.buffered.start(0);
    if (video.currentTime - start > keep) sb.remove(start, video.currentTime - keep);
  }

  /** One record: `h` is the feed's header (kind, seq, pts, timescale, duration, captureMs, init). */
  onRecord(h, bytes) {
    const stats = this.stats;
    if (h.kind === 'init') {
      if (h.init !== this.currentInit) this.pendingInit = bytes;
      this.currentInit = h.init;
      return;
    }
    if (h.kind === 'discontinuity') { stats.discontinuities++; return; }
    if (h.kind === 'end') { stats.ended = true; return; }
    if (h.kind !== 'part' || h.seq <= this.lastSeq) return;
    this.lastSeq = h.seq;
    const start = h.pts / h.timescale, duration = h.duration / h.timescale;
    // Media time restarts after an encoder restart: keep the timeline running on.
    if (this.appendedEnd === null || Math.abs(start + this.offset - this.appendedEnd) > 0.5) {
      this.offset = this.appendedEnd === null ? 0 : this.appendedEnd - start;
      this.queue.push({offset: this.offset});
    }
    if (this.pendingInit) { this.queue.push({bytes: this.pendingInit}); this.pendingInit = null; }
    this.queue.push({bytes});
    const at = start + this.offset;
    this.timeline.push({start: at, end: at + duration, capture: h.captureMs});
    if (this.timeline.length > 600) this.timeline.splice(0, this.timeline.length - 600);
    this.appendedEnd = at + duration;
    stats.parts++;
    stats.bytes += bytes.length;
    this.bitrate.push([performance.now(), bytes.length]);
    this.pump();
  }

  /** Bits per second over the last 2 s. */
  bitsPerSecond() {
    const now = performance.now();
    while (this.bitrate.length && now - this.bitrate[0][0] > 2000) this.bitrate.shift();
    return this.bitrate.reduce((a, b) => a + b[1], 0) * 8 / 2;
  }
}
