/// The origin's web pages and player, compiled in: nothing is read from disk to serve them.
enum WebAssets {
    static let style = """
        body{margin:0;font:15px/1.4 system-ui,sans-serif;background:#111;color:#eee}
        main{max-width:1100px;margin:0 auto;padding:16px}
        a{color:#7cf} table{border-collapse:collapse;width:100%} td,th{padding:6px 8px;border-bottom:1px solid #333;text-align:left}
        #player{position:relative;background:#000} video{width:100%;display:block;background:#000}
        #overlay{position:absolute;top:8px;right:8px;background:rgba(0,0,0,.7);padding:6px 10px;border-radius:4px;
        font:13px/1.5 ui-monospace,monospace;white-space:pre}
        .state-live{color:#6e6} .state-interrupted{color:#fc6} .state-ended{color:#aaa}
        """

    static let indexPage = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Framelog streams</title>
        <meta name="viewport" content="width=device-width,initial-scale=1"><style>\(style)</style></head>
        <body><main><h1>Framelog</h1><p>Live streams through Kafka.</p>
        <table id="streams"><thead><tr><th>stream</th><th>state</th><th>video</th><th>behind live</th><th>viewers</th><th>URLs</th></tr></thead>
        <tbody><tr><td colspan="6">loading…</td></tr></tbody></table></main>
        <script src="/player.js"></script></body></html>
        """

    static func watchPage(streamID: String) -> String {
        // The id passed StreamNames.validate: letters, digits, '.', '_', '-' only, so it is safe in HTML.
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(streamID) · Framelog</title>
        <meta name="viewport" content="width=device-width,initial-scale=1"><style>\(style)</style></head>
        <body><main><p><a href="/">← streams</a> · <b id="title">\(streamID)</b> <span id="state"></span></p>
        <div id="player" data-stream="\(streamID)"><video muted autoplay playsinline controls></video><div id="overlay">connecting…</div></div>
        <p>Other players: <a href="/hls/\(streamID)/index.m3u8">LL-HLS</a> · <a href="/hls/\(streamID)/legacy.m3u8">HLS</a> ·
        <a href="/dash/\(streamID)/manifest.mpd">DASH</a>. Add <code>?target=800</code> to hold another latency (ms).</p></main>
        <script src="/player.js"></script></body></html>
        """
    }

    /// The player: Media Source Extensions fed by `/feed/<id>`, holding a target latency (default 500 ms)
    /// by nudging playbackRate and jumping when far behind; native HLS where MSE is missing. Exposes its
    /// figures as `window.framelog` for tests and benchmarks.
    static let playerScript = #"""
        'use strict';
        (() => {
          const listing = document.getElementById('streams');
          if (listing) { listStreams(listing); return; }
          const box = document.getElementById('player');
          if (!box) return;
          const id = box.dataset.stream;
          const video = box.querySelector('video');
          const overlay = document.getElementById('overlay');
          const params = new URLSearchParams(location.search);
          const target = Math.max(100, Number(params.get('target')) || 500);
          const transport = params.get('transport') === 'hls' ? 'hls' : 'feed';
          const stats = window.framelog = {
            mode: 'mse', transport, target, latencyMs: null, samples: [], jumps: 0, reconnects: 0, stalls: 0, bytes: 0,
            parts: 0, discontinuities: 0, captureAt: t => captureAt(t), error: null,
          };
          if (!window.MediaSource || params.get('native') === '1') {
            stats.mode = 'native-hls';
            video.src = `/hls/${id}/index.m3u8`;
            video.play().catch(() => {});
            overlay.textContent = 'native HLS';
            return;
          }

          let mediaSource = null, sourceBuffer = null, codecs = null, currentInit = null;
          let queue = [], lastSeq = -1, offset = 0, appendedEnd = null, pendingInit = null, started = false;
          const timeline = [];   // {start: media time s, end, capture: ms} per appended part
          const bitrate = [];    // [time ms, bytes]

          function captureAt(t) {
            for (let i = timeline.length - 1; i >= 0; i--) {
              const p = timeline[i];
              if (p.start <= t + 1e-3) return p.capture + (t - p.start) * 1000;
            }
            return null;
          }

          async function streamInfo() {
            const list = await (await fetch('/api/streams', {cache: 'no-store'})).json();
            return list.find(s => s.id === id);
          }

          function openSource() {
            return new Promise(resolve => {
              mediaSource = new MediaSource();
              mediaSource.addEventListener('sourceopen', () => resolve(), {once: true});
              video.src = URL.createObjectURL(mediaSource);
            });
          }

          function pump() {
            if (!sourceBuffer || sourceBuffer.updating || queue.length === 0) return;
            const job = queue.shift();
            try {
              if (job.offset !== undefined) { sourceBuffer.timestampOffset = job.offset; pump(); return; }
              sourceBuffer.appendBuffer(job.bytes);
            } catch (e) {
              if (e.name === 'QuotaExceededError') { queue.unshift(job); trim(true); return; }
              stats.error = String(e);
            }
          }

          function trim(hard) {
            if (!sourceBuffer || sourceBuffer.updating || video.buffered.length === 0) return;
            const keep = hard ? 2 : 10;
            const start = video.buffered.start(0);
            if (video.currentTime - start > keep) sourceBuffer.remove(start, video.currentTime - keep);
          }

          function onRecord(h, bytes) {
            if (h.kind === 'init') {
              if (h.init !== currentInit) pendingInit = bytes;
              currentInit = h.init;
              return;
            }
            if (h.kind === 'discontinuity') { stats.discontinuities++; return; }
            if (h.kind === 'end') { overlay.dataset.ended = '1'; return; }
            if (h.kind !== 'part' || h.seq <= lastSeq) return;
            lastSeq = h.seq;
            const start = h.pts / h.timescale, duration = h.duration / h.timescale;
            // Media time restarts after an encoder restart: keep the timeline running on.
            if (appendedEnd === null || Math.abs(start + offset - appendedEnd) > 0.5) {
              offset = appendedEnd === null ? 0 : appendedEnd - start;
              queue.push({offset});
            }
            if (pendingInit) { queue.push({bytes: pendingInit}); pendingInit = null; }
            queue.push({bytes});
            timeline.push({start: start + offset, end: start + offset + duration, capture: h.captureMs});
            if (timeline.length > 600) timeline.splice(0, timeline.length - 600);
            appendedEnd = start + offset + duration;
            stats.parts++; stats.bytes += bytes.length;
            bitrate.push([performance.now(), bytes.length]);
            pump();
          }

          async function readFeed() {
            const response = await fetch(`/feed/${id}`, {cache: 'no-store'});
            if (!response.ok) throw new Error(`feed: HTTP ${response.status}`);
            const reader = response.body.getReader();
            const text = new TextDecoder();
            let buffer = new Uint8Array(0);
            for (;;) {
              const {value, done} = await reader.read();
              if (done) return;
              const joined = new Uint8Array(buffer.length + value.length);
              joined.set(buffer); joined.set(value, buffer.length);
              buffer = joined;
              let at = 0;
              while (buffer.length - at >= 8) {
                const view = new DataView(buffer.buffer, buffer.byteOffset + at);
                const headerLength = view.getUint32(0);
                if (buffer.length - at < 8 + headerLength) break;
                const payloadLength = view.getUint32(4 + headerLength);
                if (buffer.length - at < 8 + headerLength + payloadLength) break;
                const header = JSON.parse(text.decode(buffer.subarray(at + 4, at + 4 + headerLength)));
                const payload = buffer.slice(at + 8 + headerLength, at + 8 + headerLength + payloadLength);
                at += 8 + headerLength + payloadLength;
                onRecord(header, payload);
              }
              buffer = buffer.slice(at);
            }
          }


          // LL-HLS transport (?transport=hls): the same MSE pipeline fed over plain HTTP with blocking playlist
          // reloads and parts, as a CDN would serve it. Capture time comes from PROGRAM-DATE-TIME, media time
          // from each part's tfdt.
          function parsePlaylist(text) {
            const out = {sequence: 0, segments: [], hint: null, ended: false};
            let current = {parts: [], map: null, date: null}, map = null, date = null;
            for (const line of text.split('\n')) {
              if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) out.sequence = Number(line.slice(22));
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
            out.segments.forEach((s, i) => s.number = out.sequence + i);
            return out;
          }

          function findBox(bytes, type, from = 0) {
            const t = [...type].map(c => c.charCodeAt(0));
            for (let i = from + 4; i + 4 <= bytes.length; i++)
              if (bytes[i] === t[0] && bytes[i + 1] === t[1] && bytes[i + 2] === t[2] && bytes[i + 3] === t[3]) return i - 4;
            return -1;
          }
          function u32(b, i) { return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0; }
          function timescaleOf(init) {   // the first track's mdhd
            const at = findBox(init, 'mdhd');
            return u32(init, at + 8 + (init[at + 8] === 1 ? 20 : 12));
          }
          function decodeTimeOf(part) {  // the first traf's tfdt
            const at = findBox(part, 'tfdt');
            return part[at + 8] === 1 ? u32(part, at + 12) * 4294967296 + u32(part, at + 16) : u32(part, at + 12);
          }

          async function readHls() {
            const base = `/hls/${id}/`;
            const get = async (path) => {
              const r = await fetch(base + path, {cache: 'no-store'});
              if (r.status === 404) return null;
              if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
              return new Uint8Array(await r.arrayBuffer());
            };
            const playlist = async (query = '') => parsePlaylist(new TextDecoder().decode(await get('live.m3u8' + query)));
            let pl = await playlist();
            let start = [...pl.segments].reverse().find(s => s.parts.length && s.parts[0].independent);
            if (!start) throw new Error('no part to start at');
            let msn = start.number, part = 0, mapUri = null, timescale = 90000, early = null;
            for (;;) {
              let segment = pl.segments.find(s => s.number === msn);
              if (!segment || segment.parts.length <= part) {
                if (segment && segment.complete) { msn++; part = 0; continue; }
                if (pl.segments.length && pl.segments[pl.segments.length - 1].number > msn) { msn++; part = 0; continue; }
                if (pl.ended) return;
                const wanted = `part/${msn}.${part}.m4s`;
                if (pl.hint === wanted) {
                  // The preload hint: ask for the part itself and for the playlist that will list it at once;
                  // the origin holds both until the part exists, so no round trip follows its arrival.
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
                onRecord({kind: 'init', init: mapUri}, init);
              }
              const bytes = early && early.uri === p.uri ? early.bytes : await get(p.uri);
              early = null;
              if (!bytes) { pl = await playlist(); continue; }
              const before = segment.parts.slice(0, part).reduce((a, q) => a + q.duration, 0);
              onRecord({kind: 'part', seq: msn * 1e4 + part, pts: decodeTimeOf(bytes), timescale,
                        duration: Math.round(p.duration * timescale), captureMs: segment.date + before * 1000}, bytes);
              part++;
            }
          }

          // The latency controller: latency = now - capture time of the frame on screen.
          function control() {
            if (!video.buffered.length) return;
            const start = video.buffered.start(0), end = video.buffered.end(video.buffered.length - 1);
            if (!started || video.currentTime < start) {
              // Start (or recover) `target` behind the newest buffered frame.
              video.currentTime = Math.max(start, end - target / 1000);
              started = true;
              video.play().catch(() => {});
              return;
            }
            const capture = captureAt(video.currentTime);
            if (capture === null) return;
            const latency = Date.now() - capture;
            stats.latencyMs = latency;
            stats.samples.push([Date.now(), latency]);
            if (stats.samples.length > 3000) stats.samples.splice(0, 1000);
            const error = latency - target;
            if (error > 1500) {
              // Far behind (a stall, a background tab): jump to where the frame on screen is `target` old.
              const to = Math.min(end - 0.05, video.currentTime + error / 1000);
              if (to > video.currentTime + 0.1) { video.currentTime = to; stats.jumps++; }
              return;
            }
            const rate = Math.abs(error) < 20 ? 1 : 1 + Math.max(-0.1, Math.min(0.1, error / 2000));
            if (Math.abs(video.playbackRate - rate) > 0.005) video.playbackRate = rate;
            if (video.paused && end - video.currentTime > 0.1) video.play().catch(() => {});
            trim(false);
          }

          function draw() {
            const now = performance.now();
            while (bitrate.length && now - bitrate[0][0] > 2000) bitrate.shift();
            const bits = bitrate.reduce((a, b) => a + b[1], 0) * 8 / 2;
            const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {droppedVideoFrames: 0};
            overlay.textContent =
              `latency ${stats.latencyMs === null ? '–' : Math.round(stats.latencyMs) + ' ms'} (target ${target})\n` +
              `${(bits / 1e6).toFixed(2)} Mbit/s  ${video.videoWidth}x${video.videoHeight}\n` +
              `dropped ${q.droppedVideoFrames}  rate ${video.playbackRate.toFixed(2)}` +
              (overlay.dataset.ended ? '\nstream ended' : '');
          }

          video.addEventListener('waiting', () => stats.stalls++);

          async function main() {
            await openSource();
            for (;;) {
              try {
                const info = await streamInfo();
                if (!info) throw new Error('unknown stream');
                document.getElementById('state').textContent = info.state;
                if (!sourceBuffer) {
                  codecs = info.codecs;
                  sourceBuffer = mediaSource.addSourceBuffer(`video/mp4; codecs="${codecs}"`);
                  sourceBuffer.mode = 'segments';
                  sourceBuffer.addEventListener('updateend', pump);
                } else if (info.codecs !== codecs && sourceBuffer.changeType) {
                  codecs = info.codecs;
                  sourceBuffer.changeType(`video/mp4; codecs="${codecs}"`);
                }
                if (transport === 'hls') await readHls(); else await readFeed();
              } catch (e) {
                stats.error = String(e);
              }
              stats.reconnects++;
              currentInit = null;   // the next feed starts with its init: append it again
              await new Promise(r => setTimeout(r, 500));
            }
          }
          setInterval(control, 100);
          setInterval(draw, 250);
          main();
        })();

        async function listStreams(table) {
          const body = table.querySelector('tbody');
          async function refresh() {
            try {
              const list = await (await fetch('/api/streams', {cache: 'no-store'})).json();
              body.replaceChildren(...(list.length ? list.map(row) : [empty()]));
            } catch (e) { /* keep the last list */ }
          }
          function cell(content) { const td = document.createElement('td'); td.append(content); return td; }
          function link(href, text) { const a = document.createElement('a'); a.href = href; a.textContent = text; return a; }
          function row(s) {
            const tr = document.createElement('tr');
            const state = document.createElement('span'); state.className = 'state-' + s.state; state.textContent = s.state;
            const urls = document.createElement('span');
            urls.append(link(s.hls, 'LL-HLS'), ' ', link(s.dash, 'DASH'));
            tr.append(cell(link(s.watch, s.title)), cell(state), cell(`${s.width || '?'}x${s.height || '?'} ${(s.bandwidth / 1e6).toFixed(1)} Mbit/s`),
              cell(s.behindLiveMs == null ? '–' : `${(s.behindLiveMs / 1000).toFixed(1)} s`), cell(String(s.viewers)), cell(urls));
            return tr;
          }
          function empty() { const tr = document.createElement('tr'); tr.append(cell('no streams yet: run framelog ingest')); tr.firstChild.colSpan = 6; return tr; }
          refresh();
          setInterval(refresh, 2000);
        }
        """#
}
