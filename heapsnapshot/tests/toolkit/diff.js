// Prints DevTools' Comparison view of two snapshots (as its HeapSnapshotDataGrids does: the base
// snapshot classified with the current snapshot's interface definitions) in
// openprofiling-heapsnapshot's JSON shape:
//   node diff.js BEFORE AFTER
// {"classes": [{"name", "location"?, "added", "removed", "added_size", "removed_size", "count_delta", "size_delta"}]}
import { createReadStream } from 'node:fs'
import { parse } from 'heap-snapshot-toolkit'
import { locationOfKey } from './summary-lib.js'

const [before, after] = process.argv.slice(2)
if (!before || !after) {
  console.error('usage: node diff.js BEFORE.heapsnapshot AFTER.heapsnapshot')
  process.exit(2)
}
const base = await parse(createReadStream(before, 'utf-8'))
const current = await parse(createReadStream(after, 'utf-8'))
const baseAggregates = base.aggregatesForDiff(current.interfaceDefinitions())
const diff = current.calculateSnapshotDiff('base', baseAggregates)
const classes = []
for (const [key, d] of Object.entries(diff)) {
  const entry = { name: d.name }
  const location = locationOfKey(key)
  if (location) entry.location = location
  Object.assign(entry, {
    added: d.addedCount,
    removed: d.removedCount,
    added_size: d.addedSize,
    removed_size: d.removedSize,
    count_delta: d.countDelta,
    size_delta: d.sizeDelta
  })
  classes.push(entry)
}
process.stdout.write(JSON.stringify({ classes }) + '\n')
