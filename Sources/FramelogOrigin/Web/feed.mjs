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
 * aborts it.
 */
export async function readFeed(id, onRecord, signal) {
  const response = await fetch(`/feed/${id}`, {cache: 'no-store', signal});
  if (!response.ok) throw new Error(`feed: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = new Uint8Array(0);
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    const {frames, rest} = parseFrames(joined, decoder);
    buffer = rest;
    for (const frame of frames) onRecord(frame.header, frame.payload);
  }
}
