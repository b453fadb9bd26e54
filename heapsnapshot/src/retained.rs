//! Retained sizes in 4 bytes per node: the low 32 bits of each, plus the high bits of the few
//! that reach 4 GiB (the root and its dominator chains in large heaps).

use std::collections::HashMap;

/// Retained size of every node, by ordinal.
#[derive(Debug, Default)]
pub(crate) struct RetainedSizes {
    low: Vec<u32>,
    /// `(node, high 32 bits)` of the sizes of 4 GiB or more, by node.
    high: Vec<(u32, u32)>,
}

impl RetainedSizes {
    /// Self sizes summed up the dominator tree: `idom[n]` is node n's dominator (ignored when out
    /// of range, as DevTools' typed arrays ignore such writes); `order` lists every node after its
    /// dominator (the root first, which is skipped); nodes are added to their dominator in reverse.
    pub(crate) fn sum(self_sizes: &[u32], idom: &[u32], order: &[u32]) -> RetainedSizes {
        let mut low = self_sizes.to_vec();
        let mut high: HashMap<u32, u32> = HashMap::new();
        for &n in order.iter().skip(1).rev() {
            let d = idom[n as usize];
            let Some(&dominator_low) = low.get(d as usize) else {
                continue;
            };
            let n_high = if high.is_empty() {
                0
            } else {
                high.get(&n).copied().unwrap_or(0)
            };
            let (sum, carry) = dominator_low.overflowing_add(low[n as usize]);
            low[d as usize] = sum;
            let add = n_high + u32::from(carry);
            if add != 0 {
                *high.entry(d).or_insert(0) += add;
            }
        }
        let mut high: Vec<(u32, u32)> = high.into_iter().collect();
        high.sort_unstable();
        RetainedSizes { low, high }
    }

    /// Node `n`'s retained size.
    #[inline]
    pub(crate) fn get(&self, n: usize) -> u64 {
        let low = u64::from(self.low[n]);
        if self.high.is_empty() {
            return low;
        }
        match self
            .high
            .binary_search_by_key(&(n as u32), |&(node, _)| node)
        {
            Ok(i) => (u64::from(self.high[i].1) << 32) | low,
            Err(_) => low,
        }
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        4 * self.low.capacity() + 8 * self.high.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_above_4_gib_carry_into_the_high_bits() {
        // Chain 0 <- 1 <- 2 <- 3, plus 4 under 0: every size near 4 GiB.
        let big = u32::MAX - 1;
        let self_sizes = [1, big, big, big, 7];
        let idom = [0, 0, 1, 2, 0];
        let order = [0, 1, 2, 3, 4];
        let sizes = RetainedSizes::sum(&self_sizes, &idom, &order);
        let got: Vec<u64> = (0..5).map(|n| sizes.get(n)).collect();
        let b = u64::from(big);
        assert_eq!(got, vec![1 + 3 * b + 7, 3 * b, 2 * b, b, 7]);
    }

    #[test]
    fn a_missing_dominator_is_skipped() {
        let sizes = RetainedSizes::sum(&[1, 2, 3], &[0, u32::MAX, 0], &[0, 1, 2]);
        assert_eq!((sizes.get(0), sizes.get(1), sizes.get(2)), (4, 2, 3));
    }
}
