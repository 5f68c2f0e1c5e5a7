// The low-latency feed (/feed/<id>, docs/feed-format.md): a chunked HTTP response of frames, each
// `u32 header length, JSON header, u32 payload length, payload` (big-endian lengths).

/**
 * Splits bytes into complete frames. Returns them and the bytes of an incomplete last frame, to be
 * prepended to the next chunk.
 * @param {Uint8Array} buffer
 * @returns {{frames: {header: object, payload: Uint8Array}[], rest: Uint8Array}}
 */
export function parseFrames(buffer, decoder = new TextDecoder()) {
  const frames = [];
  let at = 0;
  while (buffer.length - at >= 8) {
    const view = new DataView(buffer.buffer, buffer.byteOffset + at);
    const headerLength = view.getUint32(0);
    if (buffer.length - at < 8 + headerLength) break;
    const payloadLength = view.getUint32(4 + headerLength);
    if (buffer.length - at < 8 + headerLength + payloadLength) break;
    const header = JSON.parse(decoder.decode(buffer.subarray(at + 4, at + 4 + headerLength)));
    const payload = buffer.slice(at + 8 + headerLength, at + 8 + headerLength + payloadLength);
    at += 8 + headerLength + payloadLength;
    frames.push({header, payload});
  }
  return {frames, rest: buffer.slice(at)};
}

/**
 * Reads stream `id`'s feed, handing each record to `onRecord(header, payload)`, until it ends or `signal`
 * aborts it. `tracks` ('video', 'audio'): only that track's media (markers always); `from`: start at that
 * segment if the origin still has it; `meter`: told of every read (a `ThroughputMeter`).
 */
export async function readFeed(id, onRecord, signal, {tracks = null, from = null, meter = null} = {}) {
  const query = new URLSearchParams();
  if (tracks) query.set('tracks', tracks);
  if (from !== null) query.set('from', String(from));
  const search = query.toString();
  const response = await fetch(`/feed/${id}` + (search ? `?${search}` : ''), {cache: 'no-store', signal});
  if (!response.ok) throw new Error(`feed: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = new Uint8Array(0);
  // When the first bytes of the frame being received came.
  let started = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    const now = performance.now();
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    const {frames, rest} = parseFrames(joined, decoder);
    if (meter) {
      meter.read(now, value.length);
      // A frame that took more than this read: the link was busy from its first read to now.
      if (frames.length && started !== null) meter.transfer(started, now);
      if (frames.length || started === null) started = rest.length ? now : null;
    }
    buffer = rest;
    for (const frame of frames) onRecord(frame.header, frame.payload);
  }
}

/**
 * Reads stream `id`: with `ladder`, one feed per track, the video from the rung `rungs.want()` names (a
 * rendition of `id`, or `id`), switching at segment boundaries (`VideoSwitch`) when it names another, the
 * audio from `id`; without, one feed of every track. Returns when a feed ends or fails (and stops the
 * others), or `signal` aborts it.
 */
export async function readFeeds(id, onRecord, tracks, signal, {ladder, rungs, meter}) {
  if (!ladder || !tracks.includes('video')) return readFeed(id, onRecord, signal, {meter});
  const stop = new AbortController();
  const quit = () => stop.abort();
  signal.addEventListener('abort', quit);
  try {
    const readers = tracks.map(track => (track === 'video'
      ? readSwitchingVideo(rungs, onRecord, stop.signal, meter)
      : readFeed(id, (h, bytes) => { if (h.kind === 'init' || h.kind === 'chunk') onRecord(h, bytes); },
                 stop.signal, {tracks: track, meter})).catch(e => { throw new Error(`${track} feed: ${e}`); }));
    await Promise.race(readers);
  } finally {
    signal.removeEventListener('abort', quit);
    stop.abort();
  }
}

/** The video over feeds: the active rung's, and during a switch the next rung's too (given up after 8 s). */
async function readSwitchingVideo(rungs, onRecord, signal, meter) {
  const sw = new VideoSwitch(rungs.want());
  const connections = new Map();
  let failure = null, finish, begunAt = 0, retryAt = 0;
  const finished = new Promise(resolve => { finish = resolve; });
  const close = stream => connections.get(stream)?.abort();
  const open = (stream, from = null) => {
    const abort = new AbortController();
    connections.set(stream, abort);
    const deliver = (h, bytes) => {
      const {emit, done} = sw.take(stream, h, bytes);
      for (const [eh, eb] of emit) onRecord(eh, eb);
      if (done) close(done);
    };
    readFeed(stream, deliver, AbortSignal.any([signal, abort.signal]), {tracks: 'video', from, meter}).then(
      () => { if (stream === sw.active) finish(); else if (stream === sw.next) sw.abandon(); },
      e => {
        if (stream === sw.active && !abort.signal.aborted) { failure = new Error(`${stream}: ${e}`); finish(); }
        else if (stream === sw.next) { sw.abandon(); retryAt = performance.now() + 2000; }
      }).finally(() => { if (connections.get(stream) === abort) connections.delete(stream); });
  };
  open(sw.active);
  const tick = setInterval(() => {
    if (sw.next !== null) {
      if (performance.now() - begunAt > 8000) { close(sw.next); sw.abandon(); }
      return;
    }
    const want = rungs.want();
    // The next rung's feed starts at the cut: nothing before it crosses the link for nothing.
    if (performance.now() >= retryAt && sw.begin(want)) { begunAt = performance.now(); open(want, sw.cut); }
  }, 100);
  signal.addEventListener('abort', () => finish());
  try {
    await finished;
  } finally {
    clearInterval(tick);
    for (const abort of connections.values()) abort.abort();
  }
  if (failure) throw failure;
}

/**
 * Switching the video between rungs (streams with the same segment numbers and timestamps) at a segment
 * boundary, over two feeds at once: the active one and the next. The active feed's records pass until the
 * cut, the first segment after the one it was in when the switch began; the next feed's records from the
 * cut on pass once the active feed has reached the cut (they wait until then, in order), preceded by a
 * `rung` marker and the next rung's init. Pure: the caller opens and closes the connections.
 */
export class VideoSwitch {
  constructor(active) {
    this.active = active;
    this.next = null;
    this.cut = null;
    this.segment = null;
    this.held = [];
    this.nextInit = null;
    /** Chunks of the active feed before this segment are dropped: what the previous rung already gave. */
    this.floor = -Infinity;
  }

  /** Begins a switch to stream `id`; false when one is under way or `id` is the active one. */
  begin(id) {
    if (this.next !== null || id === this.active) return false;
    this.next = id;
    this.cut = this.segment === null ? 0 : this.segment + 1;
    this.held = [];
    this.nextInit = null;
    return true;
  }

  /** Gives up a switch under way (the next feed failed or took too long). */
  abandon() { this.next = null; this.cut = null; this.held = []; this.nextInit = null; }

  /**
   * A record from feed `from`. Returns {emit: records to hand on, done: the stream whose feed to close, or
   * null}.
   */
  take(from, h, bytes) {
    if (from === this.active) {
      if (this.next !== null && h.kind === 'chunk' && h.segment >= this.cut) return this.complete();
      if (this.next !== null && h.kind === 'end') return this.complete();
      if (h.kind === 'chunk' && h.segment < this.floor) return {emit: [], done: null};
      if (h.kind === 'chunk') this.segment = h.segment;
      return {emit: [[h, bytes]], done: null};
    }
    if (from !== this.next) return {emit: [], done: null};
    if (h.kind === 'init') { this.nextInit = [h, bytes]; return {emit: [], done: null}; }
    if (h.kind === 'chunk' && h.segment >= this.cut) this.held.push([h, bytes]);
    return {emit: [], done: null};
  }

  complete() {
    const old = this.active;
    const emit = [[{kind: 'rung', track: 'video', stream: this.next}, null]];
    if (this.nextInit) emit.push(this.nextInit);
    emit.push(...this.held);
    for (const [h] of this.held) this.segment = h.segment;
    this.active = this.next;
    this.floor = this.cut;
    this.next = null; this.cut = null; this.held = []; this.nextInit = null;
    // Records of the new active feed now pass as they come.
    return {emit, done: old};
  }
}
