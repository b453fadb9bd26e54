// The demo's target: a small service that leaks. Every 100 ms it "handles a request" and keeps
// a LeakyRequestContext in a global cache that is never emptied, the classic Node.js leak.
'use strict';

class LeakyRequestContext {
  constructor(id) {
    this.id = id;
    this.startedAt = Date.now();
    this.method = 'GET';
    this.path = '/api/orders';
    this.userAgent = 'demo';
    this.status = 200;
    this.bytesIn = 512;
    this.bytesOut = 4096;
    this.retries = 0;
    this.cacheHit = false;
    this.traceId = id * 7919;
    this.spanId = id * 104729;
    this.tenant = id % 16;
    this.region = 'eu-west-1';
    this.priority = 1;
    this.deadline = 30000;
    this.user = null;
    this.session = null;
    this.error = null;
    this.done = true;
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
