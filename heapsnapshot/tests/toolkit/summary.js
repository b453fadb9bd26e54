// Prints heap-snapshot-toolkit's (Chrome DevTools' HeapSnapshot worker's) Summary view of a
// .heapsnapshot file in openprofiling-heapsnapshot's JSON shape:
//   node summary.js FILE
// {"total_size", "node_count", "classes": [{"name", "location"?, "count", "self_size", "retained_size"}]}
import { createReadStream } from 'node:fs'
import { parse } from 'heap-snapshot-toolkit'

import { classSummaries } from './summary-lib.js'

const file = process.argv[2]
if (!file) {
  console.error('usage: node summary.js FILE.heapsnapshot')
  process.exit(2)
}
const snapshot = await parse(createReadStream(file, 'utf-8'))
const statistics = snapshot.getStatistics()
const out = {
  total_size: statistics.total,
  node_count: snapshot.nodeCount,
  classes: classSummaries(snapshot.aggregatesWithFilter({}))
}
process.stdout.write(JSON.stringify(out) + '\n')
