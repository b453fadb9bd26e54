// The demo's target: a small service that leaks. Every 100 ms it "handles a request" and keeps
// a LeakyRequestContext in a global cache that is never emptied, the classic Node.js leak.
'use strict';

class LeakyRequestContext {
  constructor(id) {
    this.id = id;
    this.startedAt = Date.now();
    this.headers = { 'user-agent': 'demo', 'x-request-id': String(id) };
    this.payload = 'x'.repeat(1024);
  }
}

const cache = new Map();
let nextId = 0;

function handleRequest() {
  for (let i = 0; i < 50; i++) {
    const context = new LeakyRequestContext(nextId++);
    cache.set(context.id, context); // never deleted: the leak
  }
}

setInterval(handleRequest, 100);
console.log(`leaky-app: pid ${process.pid}, leaking 500 LeakyRequestContext objects a second`);
