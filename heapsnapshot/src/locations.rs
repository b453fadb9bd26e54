//! The constructor locations of a snapshot, by node: converted in place from the `locations`
//! array as parsed, so that they take no second array (and no fresh pages) of their own. The
//! records are viewed as `[u32; 4]` with bytemuck's safe casts.

use crate::graph::Location;

/// Words per record: node ordinal, script id, line, column.
const WORDS: usize = 4;

/// `(node ordinal, location)` records sorted by ordinal, one per node: the last one listed wins,
/// as in DevTools' map.
#[derive(Debug, Default)]
pub(crate) struct Locations {
    /// The records, [`WORDS`] words each.
    words: Vec<u32>,
}

impl Locations {
    /// The locations of the flat `raw` array of `len`-field records, whose fields `at` are the
    /// object index, script id, line and column. Records whose object index is not a multiple of
    /// `node_field_count` (not a node's first field) are dropped, as DevTools finds no node for
    /// them.
    pub(crate) fn from_raw(
        mut raw: Vec<u32>,
        at: [usize; 4],
        len: usize,
        node_field_count: u32,
    ) -> Locations {
        if len < WORDS || node_field_count == 0 {
            return Locations::default();
        }
        // Record i is read at i * len and written at most at i * WORDS: never ahead of the reading.
        let mut written = 0;
        let mut sorted = true;
        for i in 0..raw.len() / len {
            let record = &raw[i * len..(i + 1) * len];
            let index = record[at[0]];
            if index % node_field_count != 0 {
                continue;
            }
            let words = [
                index / node_field_count,
                record[at[1]],
                record[at[2]],
                record[at[3]],
            ];
            if written > 0 && raw[(written - 1) * WORDS] > words[0] {
                sorted = false;
            }
            raw[written * WORDS..(written + 1) * WORDS].copy_from_slice(&words);
            written += 1;
        }
        raw.truncate(written * WORDS);
        let records: &mut [[u32; WORDS]] = bytemuck::cast_slice_mut(&mut raw[..]);
        if !sorted {
            // V8 lists them almost in node order, which the stable sort's run detection makes
            // cheap; duplicates stay in file order.
            records.sort_by_key(|r| r[0]);
        }
        // The last of each run of one node wins.
        let mut kept = 0;
        for i in 0..records.len() {
            if kept > 0 && records[kept - 1][0] == records[i][0] {
                kept -= 1;
            }
            records[kept] = records[i];
            kept += 1;
        }
        raw.truncate(kept * WORDS);
        raw.shrink_to_fit();
        Locations { words: raw }
    }

    /// Every `(node ordinal, location)`, by ordinal.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, Location)> + '_ {
        let records: &[[u32; WORDS]] = bytemuck::cast_slice(&self.words);
        records.iter().map(record)
    }

    /// Node n's location.
    pub(crate) fn get(&self, n: u32) -> Option<Location> {
        let records: &[[u32; WORDS]] = bytemuck::cast_slice(&self.words);
        let i = records.partition_point(|r| r[0] < n);
        records.get(i).filter(|r| r[0] == n).map(|r| record(r).1)
    }

    /// Number of records.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.words.len() / WORDS
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        4 * self.words.capacity()
    }
}

fn record(r: &[u32; WORDS]) -> (u32, Location) {
    let location = Location {
        script_id: r[1],
        line: r[2],
        column: r[3],
    };
    (r[0], location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(script_id: u32, line: u32, column: u32) -> Location {
        Location {
            script_id,
            line,
            column,
        }
    }

    #[test]
    fn records_are_sorted_by_node_and_the_last_listed_wins() {
        // Five fields per record (an extra one first); node field count 5.
        let raw = vec![
            0, 10, 7, 1, 1, // node 2
            0, 5, 7, 2, 2, // node 1
            0, 6, 8, 8, 8, // not a node's first field: dropped
            0, 5, 7, 3, 3, // node 1 again: wins
            0, 0, 9, 9, 9, // node 0
        ];
        let locations = Locations::from_raw(raw, [1, 2, 3, 4], 5, 5);
        let all: Vec<_> = locations.iter().collect();
        assert_eq!(
            all,
            vec![(0, at(9, 9, 9)), (1, at(7, 3, 3)), (2, at(7, 1, 1))]
        );
        assert_eq!(locations.get(1), Some(at(7, 3, 3)));
        assert_eq!((locations.get(3), locations.len()), (None, 3));
    }

    #[test]
    fn sorted_records_are_converted_in_place() {
        let raw: Vec<u32> = (0..1000).flat_map(|i| [i * 7, i, i + 1, i + 2]).collect();
        let capacity = raw.capacity();
        let locations = Locations::from_raw(raw, [0, 1, 2, 3], 4, 7);
        assert_eq!(locations.len(), 1000);
        assert!(locations.words.capacity() <= capacity);
        assert_eq!(locations.get(999), Some(at(999, 1000, 1001)));
        assert_eq!(locations.get(1000), None);
        let none = Locations::from_raw(Vec::new(), [0, 1, 2, 3], 4, 7);
        assert_eq!((none.len(), none.get(0)), (0, None));
    }
}
