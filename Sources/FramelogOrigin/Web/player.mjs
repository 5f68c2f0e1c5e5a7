// The player: ?recording=1 plays the stream's archived recording (native HLS VOD). Otherwise live: Media
// Source Extensions fed by the low-latency feed (/feed/<id>) or by LL-HLS
// (?transport=hls), video and audio in separate SourceBuffers, holding a target latency (default 500 ms, ?target= to change) by nudging playbackRate
// and jumping when far behind; native HLS where MediaSource is missing (or ?native=1). Its figures are
// exposed as `window.framelog` for tests and benchmarks.

import {readFeed} from './feed.mjs';
import {readHls} from './hls.mjs';
import {decide, startTime} from './latency.mjs';
import {MsePipeline} from './mse.mjs';

const box = document.getElementById('player');
const id = box.dataset.stream;
const video = box.querySelector('video');
const overlay = document.getElementById('overlay');
const params = new URLSearchParams(location.search);
const target = Math.max(100, Number(params.get('target')) || 500);
const transport = params.get('transport') === 'hls' ? 'hls' : 'feed';
const stats = window.framelog = {
  mode: 'mse', transport, target, latencyMs: null, samples: [], jumps: 0, reconnects: 0, stalls: 0, bytes: 0,
  parts: 0, discontinuities: 0, ended: false, captureAt: t => pipeline.captureAt(t), error: null, tracks: [],
  buffered: () => pipeline.buffered(), avSkewMs: () => pipeline.avSkewMs,
};
const pipeline = new MsePipeline(video, stats);
let started = false;

async function streamInfo() {
  const list = await (await fetch('/api/streams', {cache: 'no-store'})).json();
  return list.find(s => s.id === id);
}

// The latency controller: latency = now − capture time of the frame on screen.
function control() {
  if (!video.buffered.length) return;
  const start = video.buffered.start(0), end = video.buffered.end(video.buffered.length - 1);
  if (!started || video.currentTime < start) {
    // Start (or recover) `target` behind the newest buffered frame.
    video.currentTime = startTime(start, end, target);
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
  const action = decide({latencyMs: latency, targetMs: target, currentTime: video.currentTime, bufferedEnd: end});
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

function draw() {
  const bits = pipeline.bitsPerSecond();
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {droppedVideoFrames: 0};
  overlay.textContent =
    `latency ${stats.latencyMs === null ? '–' : Math.round(stats.latencyMs) + ' ms'} (target ${target})\n` +
    `${(bits / 1e6).toFixed(2)} Mbit/s  ${video.videoWidth}x${video.videoHeight}\n` +
    `dropped ${q.droppedVideoFrames}  rate ${video.playbackRate.toFixed(2)}` +
    (stats.ended ? '\nstream ended' : '');
}

async function main() {
  await pipeline.open();
  const onRecord = (h, bytes) => pipeline.onRecord(h, bytes);
  for (;;) {
    try {
      const info = await streamInfo();
      if (!info) throw new Error('unknown stream');
      document.getElementById('state').textContent = info.state;
      if (!info.tracks || !info.tracks.length) throw new Error('no media yet');
      pipeline.useTracks(info.tracks);
      stats.tracks = [...pipeline.tracks.keys()];
      const names = stats.tracks;
      if (transport === 'hls') await readHls(id, onRecord, names); else await readFeed(id, onRecord);
    } catch (e) {
      stats.error = String(e);
    }
    stats.reconnects++;
    pipeline.reconnected();
    await new Promise(r => setTimeout(r, 500));
  }
}

if (params.get('recording') === '1') {
  // The recording (the origin's archive, `/vod/<id>/index.m3u8`): a VOD the browser plays and seeks
  // natively, from the start; the latency controller stays out of it.
  stats.mode = 'recording';
  video.src = `/vod/${id}/index.m3u8`;
  video.controls = true;
  video.play().catch(() => {});
  overlay.textContent = 'recording';
} else if (!window.MediaSource || params.get('native') === '1') {
  stats.mode = 'native-hls';
  video.src = `/hls/${id}/index.m3u8`;
  video.play().catch(() => {});
  overlay.textContent = 'native HLS';
} else {
  video.addEventListener('waiting', () => stats.stalls++);
  setInterval(control, 100);
  setInterval(draw, 250);
  main();
}
