// The benchmark's peer: what a user would write in Node without openprofiling. Connects to
// the inspector with `ws`, takes a heap snapshot and writes its chunks to a file as they come
// (respecting the file stream's backpressure).
//   node peer.js snapshot WS_URL OUT_FILE
//   node peer.js inprocess WS_URL OUT_FILE   (asks the target to run v8.writeHeapSnapshot)
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const [mode, url, out] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
let nextId = 1;
const pending = new Map();
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });

ws.on('error', (error) => {
  console.error(`peer: ${error.message}`);
  process.exit(1);
});

let file = null;
ws.on('message', (data) => {
  const message = JSON.parse(data);
  if (message.method === 'HeapProfiler.addHeapSnapshotChunk') {
    if (!file.write(message.params.chunk)) {
      ws.pause();
      file.once('drain', () => ws.resume());
    }
  } else if (message.id && pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    message.error ? reject(new Error(message.error.message)) : resolve(message.result);
  }
});

ws.on('open', async () => {
  if (mode === 'inprocess') {
    const reply = await call('Runtime.evaluate', {
      expression: `writeSnapshotInProcess(${JSON.stringify(out)})`,
      returnByValue: true,
    });
    console.log(`inprocess_ms ${reply.result.value}`);
    ws.close();
    return;
  }
  file = fs.createWriteStream(out);
  await call('HeapProfiler.enable');
  await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  await call('HeapProfiler.disable');
  file.end(() => ws.close());
});
