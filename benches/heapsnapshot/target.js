// The benchmark's target: holds about HEAP_MB megabytes of ordinary objects, then idles.
// Defines globalThis.writeSnapshotInProcess(path) for the in-process reference
// (v8.writeHeapSnapshot), called by peer.js over the inspector.
'use strict';
const v8 = require('v8');

const heapMb = Number(process.argv[2] || 100);
const kept = [];
class Order {
  constructor(i) {
    this.id = i;
    this.customer = `customer-${i % 5000}`;
    this.items = [i, i + 1, i + 2];
    this.note = i % 7 === 0 ? `note ${i} with "quotes" and a \\ backslash` : null;
  }
}
// About 150 bytes of heap per Order with its array and string.
for (let i = 0; i < heapMb * 7000; i++) kept.push(new Order(i));
globalThis.kept = kept;
globalThis.writeSnapshotInProcess = (path) => {
  const started = process.hrtime.bigint();
  v8.writeHeapSnapshot(path);
  return Number(process.hrtime.bigint() - started) / 1e6;
};
const used = process.memoryUsage().heapUsed / 1e6;
console.log(`ready ${process.pid} heapUsed ${used.toFixed(0)} MB`);
setInterval(() => {}, 1000);
