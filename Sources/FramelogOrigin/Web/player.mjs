// The player: ?recording=1 plays the stream's archived recording (native HLS VOD where the browser has it,
// else the archive read into MSE, as DVR does; ?mse=1 forces that). Otherwise live: Media
// Source Extensions fed by the low-latency feed (/feed/<id>) or by LL-HLS
// (?transport=hls), video and audio in separate SourceBuffers, holding a target latency by nudging
// playbackRate and jumping when far behind. The player chooses the target from how late the media arrives
// (TargetChooser: arrival p95 + a display margin, raised after a stall, lowered while steady); ?target=
// forces one. Native HLS where MediaSource is missing (or ?native=1). Its figures are
// exposed as `window.framelog` for tests and benchmarks.
//
// A ladder (renditions `framelog transcode` made of the stream): the video comes from one rung at a time,
// chosen by measured throughput and part arrival (abr.mjs) or by the quality menu, and switched at segment
// boundaries, where every rung has the same numbers and timestamps; audio always comes from the source. The
// renditions run behind the source (a part, plus encoding), so on a ladder the player's default target is
// that much longer (the chosen target + their lag, as measured from the stream list, + a margin): a latency
// every rung reaches, so that a switch needs no jump and no wait.
//
// DVR: when the origin has an archive, a seek bar spans the recorded past (up to ?dvr= seconds, default
// 2 h). Seeking back lets go of the latency: the past plays from the archive (vod.mjs) in a fresh MSE
// pipeline, at normal speed, across segments and gaps, until "live" (or the newest recording) brings the
// live feed and the latency controller back.

import {Abr, ThroughputMeter} from './abr.mjs';
import {parseThumbnailTrack, cueAt} from './thumbs.mjs';
import {AlertTracker, alertLabel} from './alerts.mjs';
import {readFeeds} from './feed.mjs';
import {readHls} from './hls.mjs';
import {DEAD_BAND_MS, STALL_SKIP_WAIT_MS, TargetChooser, decide, mediaTimeAt, startTime} from './latency.mjs';
import {MsePipeline} from './mse.mjs';
import {readVod, recordedTracks} from './vod.mjs';

const box = document.getElementById('player');
const id = box.dataset.stream;
const video = box.querySelector('video');
const overlay = document.getElementById('overlay');
const params = new URLSearchParams(location.search);
const asked = Number(params.get('target')) || null;
/** The latency target before the player has measured, and what a ladder adds to it on top of how far its
 * renditions lag (ms). */
const TARGET_MS = 500, LADDER_MARGIN_MS = 300;
/** The target the player chooses for itself (null when ?target= forced one), and what a ladder adds. */
const chooser = asked ? null : new TargetChooser({initialMs: TARGET_MS});
let ladderExtraMs = 0;
/** When the live feeds were last (re)opened: what arrives in the first moments is the backlog, not live. */
let openedAt = -Infinity;
const BACKLOG_MS = 1500;
/** How far behind the source the renditions were at the last few refreshes of the stream list, ms. */
const ladderLags = [];
let target = Math.max(100, asked || TARGET_MS);
const transport = params.get('transport') === 'hls' ? 'hls' : 'feed';
const dvrSeconds = Math.max(30, Number(params.get('dvr')) || 7200);
const stats = window.framelog = {
  mode: 'mse', transport, target, targetReason: asked ? 'forced by ?target=' : 'measuring', latencyMs: null,
  samples: [], jumps: 0, reconnects: 0, stalls: 0, bytes: 0,
  parts: 0, discontinuities: 0, ended: false, captureAt: t => pipeline.captureAt(t), error: null, tracks: [],
  buffered: () => pipeline.buffered(), avSkewMs: () => pipeline.avSkewMs,
  // 'live', or 'past' after a seek back (the controller lets go); the earliest time the seek bar reaches.
  position: 'live', dvrStartMs: null, seekBack: ms => seekTo(Date.now() - ms), goLive: () => goLive(),
  // A recording played through MSE: its extent {startMs, endMs}, and a seek to capture time `ms` in it.
  recording: null, seekTo: ms => seekTo(ms),
  // The ladder: its rungs (tallest first), the one whose video is appended, every switch made, the link's
  // measured throughput (bits/s; null: not limited), and the quality menu's choice ('auto' or a rung id).
  rungs: [], rung: id, switches: [], estimateBps: null, quality: 'auto', setQuality: q => setQuality(q),
  // How long after its capture ended the newest video part arrived, ms.
  arrivalMs: null,
  // What the transport reads besides media (playlists, framing), bits/s: it counts towards every rung.
  overheadBps: 0, audioBps: 0, ladderLagMs: null,
  // Each stall (a `waiting` until `playing`): [when it ended, ms since the epoch; how long, ms].
  stallsMs: [],
};
const meter = new ThroughputMeter();
/** The rung decision, once the stream has a ladder. */
let abr = null;
/** Where the video comes from: the rung the decision names, else the stream itself. */
const rungs = {want: () => (abr && abr.current) || id};
let stalled = false;
/** A stall is under way (live); after one, until when the player may skip what it held back (`decide`). */
let inStall = false, skipUntil = null;
/** Media time where playback (re)started: a `waiting` in the 2 s after it is the start, not a stall. */
let playedFrom = null;
let pipeline = new MsePipeline(video, stats);
let started = false;
/** Bumped whenever the pipeline is replaced: readers of an older one stop. */
let session = 0;
let liveAbort = null;
/** Capture time to show once the past's first media is buffered. */
let pendingSeekMs = null;
let placing = 0;

async function streamList() {
  return (await fetch('/api/streams', {cache: 'no-store'})).json();
}

async function streamInfo() {
  return (await streamList()).find(s => s.id === id);
}

// The latency controller: latency = now − capture time of the frame on screen.
function control() {
  if (!video.buffered.length) return;
  if (stats.position === 'past') return playPast();
  const start = video.buffered.start(0), end = video.buffered.end(video.buffered.length - 1);
  if (!started || video.currentTime < start) {
    // Start (or recover) `target` behind the newest buffered frame.
    video.currentTime = startTime(start, end, target);
    playedFrom = video.currentTime;
    started = true;
    video.play().catch(() => {});
    return;
  }
  const capture = pipeline.captureAt(video.currentTime);
  if (capture === null) return;
  const latency = Date.now() - capture;
  stats.latencyMs = latency;
  stats.samples.push([Date.now(), latency]);
  if (stats.samples.length > 3000) stats.samples.splice(0, 1000);
  if (abr) decideRung();
  chooseTarget();
  const afterStall = skipUntil !== null, lastChance = afterStall && performance.now() >= skipUntil;
  const action = decide({latencyMs: latency, targetMs: target, currentTime: video.currentTime, bufferedEnd: end,
                         afterStall, lastChance});
  if (action.jumpTo !== null || lastChance || Math.abs(latency - target) < DEAD_BAND_MS) skipUntil = null;
  if (action.jumpTo !== null) {
    video.currentTime = action.jumpTo;
    stats.jumps++;
    return;
  }
  if (action.rate === null) return;
  if (Math.abs(video.playbackRate - action.rate) > 0.005) video.playbackRate = action.rate;
  if (video.paused && end - video.currentTime > 0.1) video.play().catch(() => {});
  pipeline.trim(false);
}

/** The target for now: the chooser's (plus the ladder's extra), unless ?target= forced one. */
function chooseTarget() {
  if (!chooser) return;
  const {targetMs, reason} = chooser.choose(performance.now());
  stats.target = target = targetMs + ladderExtraMs;
  stats.targetReason = reason + (ladderExtraMs ? ` + ladder ${ladderExtraMs}` : '');
}

function draw() {
  const bits = pipeline.bitsPerSecond();
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {droppedVideoFrames: 0};
  const held = stats.position === 'live' ? `(target ${target}: ${stats.targetReason})` : '(behind live: DVR)';
  overlay.textContent =
    `latency ${stats.latencyMs === null ? '–' : Math.round(stats.latencyMs) + ' ms'} ${held}\n` +
    `${(bits / 1e6).toFixed(2)} Mbit/s  ${video.videoWidth}x${video.videoHeight}\n` +
    `dropped ${q.droppedVideoFrames}  rate ${video.playbackRate.toFixed(2)}` +
    (abr ? `\nrung ${rungName(stats.rung)} (${stats.quality === 'auto' ? 'auto' : 'picked'}` +
      `, link ${stats.estimateBps === null ? 'unlimited' : Math.round(stats.estimateBps / 1000) + ' kbit/s'})` : '') +
    (stats.ended ? '\nstream ended' : '');
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

/** A new MediaSource for the video: live and past never share one. */
async function freshPipeline() {
  session++;
  pipeline = new MsePipeline(video, stats);
  started = false;
  await pipeline.open();
  return session;
}

async function main() {
  await pipeline.open();
  for (;;) {
    if (stats.position !== 'live') { await sleep(200); continue; }
    const mine = session;
    liveAbort = new AbortController();
    openedAt = performance.now();
    // The rung the video records come from: the one wanted when the feeds open, then each `rung` marker's.
    let from = null;
    const onRecord = (h, bytes) => {
      if (mine !== session) return;
      if (h.kind === 'rung' && h.track === 'video') from = h.stream;
      // The source's chunks only: a ladder's extra covers how far its renditions lag.
      if (chooser && h.kind === 'chunk' && h.track === 'video' && (from ?? (abr ? abr.current : id)) === id &&
          performance.now() - openedAt > BACKLOG_MS) {
        chooser.noteArrival(performance.now(), Date.now() - h.captureMs);
      }
      if (abr && h.kind === 'chunk' && h.track === 'video' && h.last !== false) {
        stats.arrivalMs = Date.now() - h.captureMs - 1000 * h.duration / h.timescale;
        abr.noteArrival(performance.now(), stats.arrivalMs, from ?? abr.current);
      }
      pipeline.onRecord(h, bytes);
    };
    try {
      const list = await streamList();
      const info = list.find(s => s.id === id);
      if (!info) throw new Error('unknown stream');
      document.getElementById('state').textContent = info.state;
      if (info.recording) dvr.hidden = false;
      if (!info.tracks || !info.tracks.length) throw new Error('no media yet');
      pipeline.useTracks(info.tracks);
      stats.tracks = [...pipeline.tracks.keys()];
      const names = stats.tracks;
      await refreshLadder(list);
      // One feed for everything, or one per track on a ladder (a ladder that appears later reconnects).
      const options = {ladder: abr !== null, rungs, meter};
      from = rungs.want();
      if (transport === 'hls') await readHls(id, onRecord, names, liveAbort.signal, options);
      else await readFeeds(id, onRecord, names, liveAbort.signal, options);
    } catch (e) {
      if (mine === session && !liveAbort.signal.aborted) stats.error = String(e);
    }
    if (mine !== session) continue;
    stats.reconnects++;
    pipeline.reconnected();
    await sleep(500);
  }
}

// MARK: The ladder

const quality = document.getElementById('quality');

function rungName(rungId) {
  const r = stats.rungs.find(x => x.id === rungId);
  return r ? `${r.height}p${r.id === id ? ' source' : ''}` : rungId;
}

/**
 * The source and its live renditions from the stream list (`list`, or fetched); the menu and the decision
 * follow it.
 */
async function refreshLadder(list = null) {
  if (list === null) {
    try { list = await streamList(); } catch (e) { return; }
  }
  const source = list.find(s => s.id === id);
  if (!source) return;
  const renditions = list.filter(s => s.renditionOf === id && s.state === 'live' && s.height);
  const ladder = [{id, height: source.height || 0, bandwidth: source.bandwidth, audio: false},
    ...renditions.map(r => ({id: r.id, height: r.height, bandwidth: r.bandwidth}))]
    .sort((a, b) => b.height - a.height || (a.id === id ? -1 : 1));
  if (renditions.length === 0 && !abr) return;
  if (abr) {
    abr.setRungs(ladder);
  } else {
    abr = new Abr(ladder);
    // Live on one feed of every track: again, one feed per track, so that the video can change rungs.
    if (transport === 'feed' && liveAbort && stats.parts) liveAbort.abort();
  }
  // The newest part of each: the slowest rendition's lag behind the source, its median over 30 s.
  ladderLags.push(Math.max(0, ...renditions.map(r => (r.behindLiveMs ?? 0) - (source.behindLiveMs ?? 0))));
  if (ladderLags.length > 6) ladderLags.shift();
  const lag = [...ladderLags].sort((a, b) => a - b)[ladderLags.length >> 1];
  if (!asked) ladderExtraMs = lag + LADDER_MARGIN_MS;
  stats.ladderLagMs = lag;
  stats.rungs = ladder;
  document.getElementById('ladder').hidden = false;
  const options = ['auto', ...ladder.map(r => r.id)];
  if ([...quality.options].map(o => o.value).join() !== options.join()) {
    quality.replaceChildren(...options.map(v => new Option(v === 'auto' ? 'auto' : rungName(v), v)));
    quality.value = stats.quality;
  }
}

/** Each tick: the throughput now, a stall since the last tick, and the decision for the next segment. */
function decideRung() {
  const now = performance.now();
  const estimate = meter.estimate(now);
  stats.estimateBps = estimate === Infinity ? null : Math.round(estimate);
  abr.audioBps = stats.audioBps = pipeline.bitsPerSecond('audio');
  abr.overheadBps = stats.overheadBps = Math.max(0, Math.round(meter.total(now) - pipeline.bitsPerSecond()));
  const before = abr.current;
  abr.decide(now, estimate, {stalled});
  stalled = false;
  if (abr.current !== before) stats.switches.push({atMs: Date.now(), from: before, to: abr.current, reason: abr.reason});
}

function setQuality(value) {
  stats.quality = value;
  quality.value = value;
  if (abr) abr.manual = value;
}
quality.addEventListener('change', () => setQuality(quality.value));

// MARK: Recordings and DVR

/** The recording's extent: the first recorded moment and the last, over every page of its spans. */
async function recordingExtent() {
  let url = `/api/streams/${id}/recordings`, startMs = null, endMs = null;
  for (let page = 0; url && page < 100; page++) {
    const r = await fetch(url, {cache: 'no-store'});
    if (!r.ok) throw new Error(`recordings: HTTP ${r.status}`);
    const list = await r.json();
    if (list.spans.length) {
      startMs ??= list.spans[0].startMs;
      endMs = list.spans[list.spans.length - 1].endMs;
    }
    url = list.next;
  }
  if (startMs === null) throw new Error('nothing recorded');
  return {startMs, endMs};
}

/**
 * A recording through MSE, read as DVR reads the past: from its first moment, with the seek bar over the
 * whole recording (a seek outside what is buffered reads the archive from there).
 */
async function playRecording() {
  stats.recording = await recordingExtent();
  const multivariant = await (await fetch(`/vod/${id}/index.m3u8`, {cache: 'no-store'})).text();
  recordedNames = recordedTracks(multivariant);
  stats.position = 'past';
  dvr.hidden = false;
  await seekTo(stats.recording.startMs);
}

const dvr = document.getElementById('dvr');
const seek = document.getElementById('seek');
const where = document.getElementById('where');
let dragging = false;
/** A recording's tracks, from its multivariant playlist (live, the stream list gives them). */
let recordedNames = null;

/** What the seek bar spans: the DVR window up to now, or the whole recording. */
function seekSpan() {
  if (stats.recording) return {from: stats.recording.startMs, to: stats.recording.endMs};
  const now = Date.now();
  return {from: stats.dvrStartMs ?? now - 60_000, to: now};
}

/** Plays the past from capture time `ms`: within what is buffered, else from the archive. */
async function seekTo(ms) {
  const recording = stats.recording;
  if (recording) ms = Math.min(Math.max(ms, recording.startMs), recording.endMs - 500);
  else if (ms > Date.now() - 2000) return goLive();
  else ms = Math.max(ms, stats.dvrStartMs ?? ms);
  const t = mediaTimeAt(pipeline.timeline, ms);
  stats.position = 'past';
  video.playbackRate = 1;
  if (t !== null && video.buffered.length && t >= video.buffered.start(0)) {
    video.currentTime = t;  // still buffered: no new pipeline
    return;
  }
  if (liveAbort) liveAbort.abort();
  if (!recording) stats.mode = 'past';
  pendingSeekMs = ms;
  const mine = await freshPipeline();
  try {
    pipeline.useTracks(recording ? recordedNames : (await streamInfo()).tracks);
    const names = [...pipeline.tracks.keys()];
    stats.tracks = names;
    await readVod(id, names, ms - 2000, (h, bytes) => { if (mine === session) pipeline.onRecord(h, bytes); }, {
      stopped: () => mine !== session,
      room: () => !video.buffered.length || video.buffered.end(video.buffered.length - 1) - video.currentTime < 30,
    });
  } catch (e) {
    if (mine === session) stats.error = String(e);
  }
  // Caught up with the newest recording (or it failed): back to live. A recording just ends.
  if (mine === session && !recording) goLive();
}

/** Back to the live edge: the live feed and the latency controller take hold again. */
async function goLive() {
  if (stats.position === 'live' && stats.mode === 'mse') return;
  stats.position = 'live';
  pendingSeekMs = null;
  if (stats.mode === 'past') {
    stats.mode = 'mse';
    await freshPipeline();
  }
}

/** The past's tick: place the playhead once, keep playing at normal speed, trim behind. */
function playPast() {
  if (pendingSeekMs !== null) {
    const t = mediaTimeAt(pipeline.timeline, pendingSeekMs);
    const last = pipeline.timeline[pipeline.timeline.length - 1];
    // The moment is in a segment not appended yet: wait for it (a few seconds at most).
    if (t === null && last && last.capture + (last.end - last.start) * 1000 < pendingSeekMs && ++placing < 50) return;
    video.currentTime = Math.max(t ?? 0, video.buffered.start(0));
    pendingSeekMs = null;
    placing = 0;
    video.play().catch(() => {});
  }
  const capture = pipeline.captureAt(video.currentTime);
  if (capture !== null) stats.latencyMs = Date.now() - capture;
  if (video.playbackRate !== 1) video.playbackRate = 1;
  pipeline.trim(false);
}

// MARK: The analyzer's alerts and marks

// With `framelog analyze` running, the origin streams the stream's events: a badge per alert open at the
// moment on screen (black, freeze, silence; live or in the past) beside the title, and the events of the
// span on the seek bar.
const alerts = new AlertTracker();
const alertsBox = document.getElementById('alerts');
const marksBox = document.getElementById('marks');
stats.alerts = [];

function drawAlerts() {
  const onScreen = pipeline.captureAt(video.currentTime) ?? Date.now();
  const kinds = alerts.openAt(onScreen);
  if (kinds.join() === stats.alerts.join()) return;
  stats.alerts = kinds;
  alertsBox.replaceChildren(...stats.alerts.map(kind => {
    const badge = document.createElement('span');
    badge.className = 'alert alert-' + kind;
    badge.textContent = alertLabel(kind);
    return badge;
  }));
}

function drawMarks(from, now) {
  marksBox.replaceChildren(...alerts.marks(from, now).map(m => {
    const mark = document.createElement('span');
    mark.className = 'mark mark-' + m.kind;
    mark.style.left = `${(m.start * 100).toFixed(2)}%`;
    if (m.width > 0) mark.style.width = `${(m.width * 100).toFixed(2)}%`;
    mark.title = m.kind;
    return mark;
  }));
}

// An origin that does not follow the analyzer answers 404, which ends the EventSource for good.
if (window.EventSource) {
  const source = new EventSource(`/api/streams/${id}/events?follow=1`);
  source.onmessage = m => {
    try { if (alerts.apply(JSON.parse(m.data))) drawAlerts(); } catch (e) { /* not an event */ }
  };
}

/**
 * The seek bar spans the DVR window [dvrStartMs, now], or the whole recording; the thumb is at the capture time
 * on screen.
 */
function drawSeekBar() {
  if (dvr.hidden || dragging) return;
  const {from, to} = seekSpan();
  drawMarks(from, to);
  const at = stats.position === 'live' ? to : (pipeline.captureAt(video.currentTime) ?? (stats.recording ? from : to));
  seek.value = String(Math.round(1000 * (at - from) / Math.max(1, to - from)));
  where.textContent = stats.recording ? `${clock(at - from)} / ${clock(to - from)}`
    : stats.position === 'live' ? 'live' : `−${clock(to - at)}`;
  document.getElementById('live').classList.toggle('at-live', stats.position === 'live');
}

/** `ms` as m:ss. */
function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The earliest recorded moment within the DVR window. */
async function refreshDvrStart() {
  if (dvr.hidden || stats.recording) return;
  try {
    const r = await fetch(`/api/streams/${id}/recordings?start=${Date.now() - dvrSeconds * 1000}&limit=1`,
                          {cache: 'no-store'});
    if (r.ok) stats.dvrStartMs = (await r.json()).spans[0]?.startMs ?? null;
  } catch (e) { /* keep the last */ }
}

// Scrubbing: with the analyzer's thumbnails, a preview of the moment under the pointer (or the dragged thumb).
// First from the thumbnail track (/thumbs/ID/thumbs.vtt: tiles of sprite sheets, as far back as the sheets
// topic or the archive keeps them; fetched again at most every 10 s), else the newest thumbnail at or
// before it (/thumbs/ID/at.jpg, as far back as the origin has kept them). It shows once the picture has
// loaded; where there is none (no analyzer, or before its first thumbnail) nothing shows.
const preview = document.getElementById('preview');
const previewImage = preview.querySelector('img');
const previewTile = preview.querySelector('.tile'), previewTileImage = previewTile.querySelector('i');
let previewSlot = null, previewWanted = false, previewSource = null;
previewImage.addEventListener('load', () => { preview.hidden = !previewWanted || previewSource !== 'at'; });
previewImage.addEventListener('error', () => { if (previewSource === 'at') preview.hidden = true; });
stats.preview = null;
const track = {cues: [], fetchedAt: -Infinity, fetching: false, loaded: new Set()};

async function refreshTrack() {
  // Again after 10 s; after 2 s while there is none yet (the analyzer may just be starting).
  if (track.fetching || performance.now() - track.fetchedAt < (track.cues.length ? 10_000 : 2000)) return;
  track.fetching = true;
  try {
    const url = new URL(`/thumbs/${id}/thumbs.vtt`, location.href);
    const r = await fetch(url, {cache: 'no-store'});
    if (r.ok) {
      track.cues = parseThumbnailTrack(await r.text(), Number(r.headers.get('X-Start-Ms')), url.href);
    } else if (r.status === 404) {
      track.cues = [];
    }
  } catch (e) { /* keep the last */ }
  track.fetchedAt = performance.now();
  track.fetching = false;
}

/** Shows `cue`'s box of its image, scaled to the preview's 160 pixels, once the image has loaded. */
function showTile(cue) {
  const scale = 160 / cue.w;
  previewTile.style.height = `${Math.round(cue.h * scale)}px`;
  Object.assign(previewTileImage.style, {
    width: `${cue.w}px`, height: `${cue.h}px`, transform: `scale(${scale})`,
    backgroundImage: `url("${cue.url}")`, backgroundPosition: `-${cue.x}px -${cue.y}px`});
  previewTile.hidden = false;
  previewImage.hidden = true;
  const show = () => { track.loaded.add(cue.url); preview.hidden = !previewWanted || previewSource !== 'track'; };
  if (track.loaded.has(cue.url)) { show(); return; }
  const loading = new Image();
  loading.onload = show;
  loading.src = cue.url;
}

function showPreview(fraction) {
  const {from, to} = seekSpan();
  const f = Math.min(1, Math.max(0, fraction)), at = from + (to - from) * f;
  preview.querySelector('.when').textContent = stats.recording ? clock(at - from) : `−${clock(to - at)}`;
  preview.style.left = `${(f * 100).toFixed(2)}%`;
  previewWanted = true;
  refreshTrack();
  const cue = cueAt(track.cues, at);
  if (cue) {
    previewSource = 'track';
    previewSlot = null;
    showTile(cue);
    stats.preview = {t: cue.fromMs, source: 'track', url: cue.url, w: cue.w, h: cue.h};
    return;
  }
  previewSource = 'at';
  previewTile.hidden = true;
  previewImage.hidden = false;
  // One request per 2 s of the span under the pointer, not one per pixel.
  const slot = Math.floor(at / 2000);
  if (slot !== previewSlot) {
    previewSlot = slot;
    previewImage.src = `/thumbs/${id}/at.jpg?t=${slot * 2000}`;
  } else if (previewImage.complete && previewImage.naturalWidth > 0) {
    preview.hidden = false;
  }
  stats.preview = {t: slot * 2000, source: 'at', url: previewImage.src};
}

function hidePreview() {
  previewWanted = false;
  preview.hidden = true;
}

seek.addEventListener('pointermove', e => {
  const r = seek.getBoundingClientRect();
  showPreview((e.clientX - r.left) / Math.max(1, r.width));
});
seek.addEventListener('pointerleave', () => { if (!dragging) hidePreview(); });
seek.addEventListener('input', () => { dragging = true; showPreview(Number(seek.value) / 1000); });
seek.addEventListener('change', () => {
  dragging = false;
  hidePreview();
  const {from, to} = seekSpan();
  seekTo(from + (to - from) * Number(seek.value) / 1000);
});
document.getElementById('back30').addEventListener('click', () => {
  const at = stats.position === 'live' ? Date.now() : (pipeline.captureAt(video.currentTime) ?? seekSpan().to);
  seekTo(at - 30_000);
});
// From a recording, "live" is the stream's live page.
document.getElementById('live').addEventListener('click', () => {
  if (stats.recording) location.assign(`/watch/${id}`);
  else goLive();
});

if (params.get('recording') === '1') {
  // The recording (the origin's archive, `/vod/<id>/index.m3u8`): a VOD from its start; the latency
  // controller stays out of it.
  stats.mode = 'recording';
  video.controls = true;
  overlay.textContent = 'recording';
  const native = video.canPlayType('application/vnd.apple.mpegurl') !== '' && params.get('mse') !== '1';
  if (native || !window.MediaSource) {
    video.src = `/vod/${id}/index.m3u8`;
    video.play().catch(() => {});
  } else {
    // The seek bar spans the recording (native controls would reach only what is buffered); a click on the
    // picture pauses and resumes.
    video.controls = false;
    video.addEventListener('click', () => { if (video.paused) video.play().catch(() => {}); else video.pause(); });
    setInterval(control, 100);
    setInterval(drawSeekBar, 250);
    setInterval(drawAlerts, 250);
    setInterval(() => { if (!dvr.hidden) refreshTrack(); }, 1000);
    playRecording().catch(e => { stats.error = String(e); });
  }
} else if (!window.MediaSource || params.get('native') === '1') {
  stats.mode = 'native-hls';
  video.src = `/hls/${id}/index.m3u8`;
  video.play().catch(() => {});
  overlay.textContent = 'native HLS';
} else {
  let waitingSince = null;
  video.addEventListener('waiting', () => {
    stats.stalls++;
    waitingSince = performance.now();
    if (started && stats.position === 'live' && !video.seeking && video.currentTime > playedFrom + 2) {
      stalled = true;
      inStall = true;
      if (chooser) chooser.noteStall(performance.now());
    }
  });
  video.addEventListener('playing', () => {
    if (inStall) skipUntil = performance.now() + STALL_SKIP_WAIT_MS;
    inStall = false;
    if (waitingSince === null) return;
    stats.stallsMs.push([Date.now(), Math.round(performance.now() - waitingSince)]);
    if (stats.stallsMs.length > 100) stats.stallsMs.shift();
    waitingSince = null;
  });
  setInterval(refreshLadder, 5000);
  setInterval(control, 100);
  setInterval(draw, 250);
  setInterval(drawSeekBar, 250);
  setInterval(drawAlerts, 250);
  setInterval(refreshDvrStart, 10_000);
  setTimeout(refreshDvrStart, 1000);
  // The thumbnail track, ready before the first hover (refreshTrack keeps its own pace).
  setInterval(() => { if (!dvr.hidden) refreshTrack(); }, 1000);
  main();
}
