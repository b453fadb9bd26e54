//! Semi-NCA against the transliteration of DevTools' Lengauer-Tarjan on random graphs with orphans,
//! unreachable cycles, self loops, duplicate and non-essential edges.

use super::{Flow, immediate_dominators, reference};
use crate::essential::BitVec;
use crate::progress::NoProgress;
use crate::retained::RetainedSizes;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Case {
    first_edge: Vec<u32>,
    to: Vec<u32>,
    essential: BitVec,
    root: u32,
    self_sizes: Vec<u32>,
}

fn random_case(rng: &mut Rng) -> Case {
    let nodes = 1 + rng.below(40) as u32;
    let root = if rng.below(2) == 0 { 0 } else { nodes - 1 };
    // Sparse to dense; some graphs mostly a chain, to get deep trees.
    let degree = rng.below(5);
    let chain = rng.below(3) == 0;
    let essential_per_mille = [1000, 900, 600][rng.below(3) as usize];
    let mut first_edge = vec![0u32];
    let mut to = Vec::new();
    let mut essential_flags = Vec::new();
    for n in 0..nodes {
        let count = rng.below(2 * degree + 1);
        let mut targets: Vec<u32> = (0..count)
            .map(|_| rng.below(u64::from(nodes)) as u32)
            .collect();
        if chain && n + 1 < nodes {
            targets.push(n + 1);
        }
        for t in targets {
            to.push(t);
            essential_flags.push(rng.below(1000) < essential_per_mille);
        }
        first_edge.push(to.len() as u32);
    }
    let mut essential = BitVec::new(to.len());
    for (e, &flag) in essential_flags.iter().enumerate() {
        if flag {
            essential.set(e);
        }
    }
    let self_sizes = (0..nodes).map(|_| rng.below(1000) as u32).collect();
    Case {
        first_edge,
        to,
        essential,
        root,
        self_sizes,
    }
}

#[test]
fn semi_nca_equals_devtools_lengauer_tarjan_on_random_graphs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut unreachable_cases = 0;
    for case_number in 0..20_000 {
        let case = random_case(&mut rng);
        let retained = retained_nodes(&case.to, &case.essential, case.self_sizes.len());
        let flow = Flow {
            first_edge: &case.first_edge,
            to: &case.to,
            essential: &case.essential,
            retained: &retained,
            root: case.root,
        };
        let (expected_idom, expected_retained) = reference::dominators(flow, &case.self_sizes);
        let (idom, vertex) = immediate_dominators(flow, &NoProgress);
        let sizes = RetainedSizes::sum(&case.self_sizes, &idom, &vertex[1..]);
        let retained: Vec<u64> = (0..idom.len()).map(|n| sizes.get(n)).collect();
        assert_eq!(idom, expected_idom, "case {case_number}: dominators");
        assert_eq!(
            retained, expected_retained,
            "case {case_number}: retained sizes"
        );
        if reachable_from_root(flow) < case.self_sizes.len() {
            unreachable_cases += 1;
        }
    }
    assert!(
        unreachable_cases > 1000,
        "too few interesting cases: {unreachable_cases}"
    );
}

/// The nodes some essential edge points to (as `essential::essential_edges` marks them).
fn retained_nodes(to: &[u32], essential: &BitVec, node_count: usize) -> BitVec {
    let mut retained = BitVec::new(node_count);
    for (e, &target) in to.iter().enumerate() {
        if essential.get(e) {
            retained.set(target as usize);
        }
    }
    retained
}

/// Nodes reachable from the root over essential edges.
fn reachable_from_root(flow: Flow<'_>) -> usize {
    let mut seen = vec![false; flow.node_count()];
    let mut stack = vec![flow.root];
    seen[flow.root as usize] = true;
    let mut count = 1;
    while let Some(n) = stack.pop() {
        for e in flow.edges(n) {
            let t = flow.to[e] as usize;
            if !seen[t] {
                seen[t] = true;
                count += 1;
                stack.push(t as u32);
            }
        }
    }
    count
}

#[test]
fn a_diamond_and_a_cycle_retained_only_by_itself() {
    // 0 (root) -> 1, 0 -> 2, 1 -> 3, 2 -> 3; 4 <-> 5 unreachable; 6 orphan -> 5.
    let first_edge = vec![0, 2, 3, 4, 4, 5, 6, 7];
    let to = vec![1, 2, 3, 3, 5, 4, 5];
    let mut essential = BitVec::new(to.len());
    for e in 0..to.len() {
        essential.set(e);
    }
    let retained = retained_nodes(&to, &essential, first_edge.len() - 1);
    let flow = Flow {
        first_edge: &first_edge,
        to: &to,
        essential: &essential,
        retained: &retained,
        root: 0,
    };
    let (idom, vertex) = immediate_dominators(flow, &NoProgress);
    assert_eq!(idom, vec![0, 0, 0, 0, 5, 6, 0]);
    let sizes = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];
    let retained = RetainedSizes::sum(&sizes, &idom, &vertex[1..]);
    assert_eq!(retained.get(6), 1_110_000);
    assert_eq!(retained.get(0), 1_111_111);
    assert_eq!(retained.get(3), 1000);
}

#[test]
fn vertices_with_hundreds_of_predecessors_equal_devtools() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for case_number in 0..50 {
        // Every node retains one of a few hubs, plus random edges: rows of 255 entries and more.
        let nodes = 300 + rng.below(700) as u32;
        let hubs: Vec<u32> = (0..1 + rng.below(3))
            .map(|_| rng.below(u64::from(nodes)) as u32)
            .collect();
        let mut first_edge = vec![0u32];
        let mut to = Vec::new();
        for n in 0..nodes {
            to.push(hubs[n as usize % hubs.len()]);
            for _ in 0..rng.below(3) {
                to.push(rng.below(u64::from(nodes)) as u32);
            }
            first_edge.push(to.len() as u32);
        }
        let mut essential = BitVec::new(to.len());
        for e in 0..to.len() {
            if rng.below(10) != 0 {
                essential.set(e);
            }
        }
        let self_sizes: Vec<u32> = (0..nodes).map(|_| rng.below(100) as u32).collect();
        let retained = retained_nodes(&to, &essential, first_edge.len() - 1);
        let flow = Flow {
            first_edge: &first_edge,
            to: &to,
            essential: &essential,
            retained: &retained,
            root: 0,
        };
        let (expected_idom, expected_retained) = reference::dominators(flow, &self_sizes);
        let (idom, vertex) = immediate_dominators(flow, &NoProgress);
        let sizes = RetainedSizes::sum(&self_sizes, &idom, &vertex[1..]);
        let retained: Vec<u64> = (0..idom.len()).map(|n| sizes.get(n)).collect();
        assert_eq!(idom, expected_idom, "case {case_number}: dominators");
        assert_eq!(
            retained, expected_retained,
            "case {case_number}: retained sizes"
        );
    }
}
