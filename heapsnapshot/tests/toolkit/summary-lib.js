// Helpers shared by summary.js and diff.js.
export function locationOfKey (key) {
  // DevTools' public class keys: ",Name" or "scriptId,line,column,Name".
  if (key.startsWith(',')) return undefined
  const [scriptId, line, column] = key.split(',', 3).map(Number)
  return { script_id: scriptId, line, column }
}

export function classSummaries (aggregates) {
  const classes = []
  for (const [key, a] of Object.entries(aggregates)) {
    const entry = { name: a.name }
    const location = locationOfKey(key)
    if (location) entry.location = location
    entry.count = a.count
    entry.self_size = a.self
    entry.retained_size = a.maxRet
    classes.push(entry)
  }
  classes.sort((x, y) => y.retained_size - x.retained_size || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  return classes
}
