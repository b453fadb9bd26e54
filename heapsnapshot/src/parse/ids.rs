//! The V8 object id of every node, kept as runs of ids 2 apart where it pays: V8 hands out ids
//! 2 apart to objects in the order its heap iterator meets them, so a snapshot of a process that
//! never took one before is a single run, 4 bytes per node saved. Where objects kept older ids
//! (a later snapshot of the same process) and runs are short, the ids are kept plainly.

/// The step between consecutive ids V8 hands out.
const STEP: u32 = 2;

/// Object ids by node ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ids {
    /// `(first node, its id)` of every run; a node's id is its run's first id plus [`STEP`] per
    /// node after the first. `len` is the number of nodes.
    Runs { starts: Vec<(u32, u32)>, len: usize },
    /// One id per node.
    Plain(Vec<u32>),
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::Runs {
            starts: Vec::new(),
            len: 0,
        }
    }
}

impl Ids {
    /// Runs are kept while they are fewer than one per this many nodes (past a few thousand).
    const NODES_PER_RUN: usize = 8;

    /// Appends the next node's id.
    pub(crate) fn push(&mut self, id: u32) {
        let Ids::Runs { starts, len } = self else {
            if let Ids::Plain(ids) = self {
                ids.push(id);
            }
            return;
        };
        let continues = starts.last().is_some_and(|&(node, first)| {
            first.wrapping_add(STEP.wrapping_mul(*len as u32 - node)) == id
        });
        if continues {
            *len += 1;
        } else if starts.len() > 4096 && starts.len() * Self::NODES_PER_RUN > *len {
            let mut plain: Vec<u32> = self.iter().collect();
            plain.push(id);
            *self = Ids::Plain(plain);
        } else {
            starts.push((*len as u32, id));
            *len += 1;
        }
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Ids::Runs { len, .. } => *len,
            Ids::Plain(ids) => ids.len(),
        }
    }

    /// Node n's id.
    pub(crate) fn get(&self, n: usize) -> u32 {
        match self {
            Ids::Runs { starts, .. } => {
                let run = starts.partition_point(|&(node, _)| node as usize <= n) - 1;
                let (node, first) = starts[run];
                first.wrapping_add(STEP.wrapping_mul(n as u32 - node))
            }
            Ids::Plain(ids) => ids[n],
        }
    }

    /// Every node's id, in node order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (starts, len, plain): (&[(u32, u32)], usize, &[u32]) = match self {
            Ids::Runs { starts, len } => (starts, *len, &[]),
            Ids::Plain(ids) => (&[], 0, ids),
        };
        let runs = starts
            .iter()
            .enumerate()
            .flat_map(move |(i, &(node, first))| {
                let end = starts.get(i + 1).map_or(len as u32, |&(next, _)| next);
                (0..end - node).map(move |k| first.wrapping_add(STEP.wrapping_mul(k)))
            });
        runs.chain(plain.iter().copied())
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        match self {
            Ids::Runs { starts, .. } => starts.shrink_to_fit(),
            Ids::Plain(ids) => ids.shrink_to_fit(),
        }
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Ids::Runs { starts, .. } => 8 * starts.capacity(),
            Ids::Plain(ids) => 4 * ids.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ids: &[u32]) -> Ids {
        let mut kept = Ids::default();
        for &id in ids {
            kept.push(id);
        }
        kept
    }

    #[test]
    fn ids_two_apart_are_one_run() {
        let ids: Vec<u32> = (0..100_000).map(|n| 1 + 2 * n).collect();
        let kept = of(&ids);
        assert!(matches!(&kept, Ids::Runs { starts, .. } if starts.len() == 1));
        assert_eq!(kept.iter().collect::<Vec<_>>(), ids);
        assert_eq!(
            (kept.len(), kept.get(0), kept.get(99_999)),
            (100_000, 1, 199_999)
        );
    }

    #[test]
    fn runs_broken_by_older_ids_are_read_back_exactly() {
        let ids = [7, 9, 11, 3, 5, 100, 102, 102, 1, u32::MAX - 1, 0, 2];
        let kept = of(&ids);
        assert!(matches!(kept, Ids::Runs { .. }));
        assert_eq!(kept.iter().collect::<Vec<_>>(), ids);
        let got: Vec<u32> = (0..ids.len()).map(|n| kept.get(n)).collect();
        assert_eq!(got, ids);
        assert_eq!(of(&[]).iter().count(), 0);
    }

    #[test]
    fn short_runs_are_kept_plainly() {
        let ids: Vec<u32> = (0..50_000u32)
            .map(|n| n.wrapping_mul(2_654_435_761))
            .collect();
        let kept = of(&ids);
        assert!(matches!(kept, Ids::Plain(_)));
        assert_eq!(kept.iter().collect::<Vec<_>>(), ids);
        assert_eq!(kept.get(49_999), ids[49_999]);
    }
}
