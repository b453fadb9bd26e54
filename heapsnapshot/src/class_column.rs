//! Every node's class name (a string index), in 2 bytes per node while a snapshot has fewer than
//! 65,536 distinct class names, as snapshots do (hundreds to a few thousand): the column is kept
//! for the snapshot's lifetime and is part of the analysis's peak memory.

/// Class name string index of every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClassColumn {
    /// `names[codes[n]]` is node n's class name.
    Narrow {
        codes: Vec<u16>,
        names: Vec<u32>,
    },
    Wide(Vec<u32>),
}

impl ClassColumn {
    /// Node n's class name string index.
    #[inline]
    pub(crate) fn get(&self, n: usize) -> u32 {
        match self {
            ClassColumn::Narrow { codes, names } => names[usize::from(codes[n])],
            ClassColumn::Wide(classes) => classes[n],
        }
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        match self {
            ClassColumn::Narrow { codes, .. } => codes.len(),
            ClassColumn::Wide(classes) => classes.len(),
        }
    }

    /// Every node's class name string index, 4 bytes each.
    pub(crate) fn to_vec(&self) -> Vec<u32> {
        (0..self.len()).map(|n| self.get(n)).collect()
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            ClassColumn::Narrow { codes, names } => 2 * codes.capacity() + 4 * names.capacity(),
            ClassColumn::Wide(classes) => 4 * classes.capacity(),
        }
    }
}

/// Builds a [`ClassColumn`] node by node, narrow until a 65,536th distinct name comes.
#[derive(Debug)]
pub(crate) struct ClassColumnBuilder {
    column: ClassColumn,
    /// Narrow code of every string index seen so far ([`UNSEEN`] for others).
    code_of: Vec<u16>,
}

const UNSEEN: u16 = u16::MAX;

impl ClassColumnBuilder {
    /// A builder for `count` nodes.
    pub(crate) fn with_capacity(count: usize) -> ClassColumnBuilder {
        ClassColumnBuilder {
            column: ClassColumn::Narrow {
                codes: Vec::with_capacity(count),
                names: Vec::new(),
            },
            code_of: Vec::new(),
        }
    }

    /// Appends the next node's class name string index.
    pub(crate) fn push(&mut self, class: u32) {
        self.store(None, class);
    }

    /// Sets node n's class name string index (n already pushed).
    pub(crate) fn set(&mut self, n: usize, class: u32) {
        self.store(Some(n), class);
    }

    /// Stores `class` at node `n`, or after the last node for `None`.
    fn store(&mut self, n: Option<usize>, class: u32) {
        let code = self.code(class);
        match (&mut self.column, code) {
            (ClassColumn::Narrow { codes, .. }, Some(code)) => match n {
                Some(n) => codes[n] = code,
                None => codes.push(code),
            },
            (ClassColumn::Wide(classes), _) => match n {
                Some(n) => classes[n] = class,
                None => classes.push(class),
            },
            // `code` is `None` exactly when the column is wide.
            (ClassColumn::Narrow { .. }, None) => {}
        }
    }

    /// The finished column.
    pub(crate) fn finish(self) -> ClassColumn {
        self.column
    }

    /// The narrow code of `class`, given one if new; `None` once the column is wide (widening
    /// it here when `class` is the 65,536th distinct name).
    fn code(&mut self, class: u32) -> Option<u16> {
        let ClassColumn::Narrow { codes, names } = &mut self.column else {
            return None;
        };
        let i = class as usize;
        if i >= self.code_of.len() {
            // String indices are dense: the table's, then the few names the analysis adds.
            self.code_of
                .resize((i + 1).max(self.code_of.len() * 5 / 4), UNSEEN);
        }
        if self.code_of[i] != UNSEEN {
            return Some(self.code_of[i]);
        }
        if names.len() == usize::from(UNSEEN) {
            let mut wide = Vec::with_capacity(codes.capacity());
            wide.extend(codes.iter().map(|&c| names[usize::from(c)]));
            self.column = ClassColumn::Wide(wide);
            self.code_of = Vec::new();
            return None;
        }
        let code = names.len() as u16;
        names.push(class);
        self.code_of[i] = code;
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ClassColumn {
        fn new(classes: Vec<u32>) -> ClassColumn {
            let mut builder = ClassColumnBuilder::with_capacity(classes.len());
            for class in classes {
                builder.push(class);
            }
            builder.finish()
        }
    }

    #[test]
    fn a_class_set_after_the_push_replaces_it() {
        let mut builder = ClassColumnBuilder::with_capacity(3);
        for class in [4, 4, 9] {
            builder.push(class);
        }
        builder.set(1, 1_000_000);
        builder.set(2, 4);
        assert_eq!(builder.finish().to_vec(), vec![4, 1_000_000, 4]);
        let mut builder = ClassColumnBuilder::with_capacity(65_536);
        for class in 0..65_535 {
            builder.push(class);
        }
        builder.set(7, 65_535);
        let column = builder.finish();
        assert!(matches!(column, ClassColumn::Wide(_)));
        assert_eq!(
            (column.get(6), column.get(7), column.get(8)),
            (6, 65_535, 8)
        );
    }

    #[test]
    fn few_class_names_take_two_bytes_per_node() {
        let classes = vec![900_000, 7, 900_000, 0, 7];
        let column = ClassColumn::new(classes.clone());
        assert!(matches!(column, ClassColumn::Narrow { .. }));
        assert_eq!(column.to_vec(), classes);
        assert_eq!((column.len(), column.get(2)), (5, 900_000));
    }

    #[test]
    fn more_than_65535_class_names_take_four_bytes() {
        let classes: Vec<u32> = (0..70_000).rev().chain([5, 69_999]).collect();
        let column = ClassColumn::new(classes.clone());
        assert!(matches!(column, ClassColumn::Wide(_)));
        assert_eq!(column.to_vec(), classes);
        let edge: Vec<u32> = (0..65_535).chain([3]).collect();
        let column = ClassColumn::new(edge.clone());
        assert!(matches!(column, ClassColumn::Narrow { .. }));
        assert_eq!(column.to_vec(), edge);
        let over: Vec<u32> = (0..65_536).collect();
        assert!(matches!(ClassColumn::new(over), ClassColumn::Wide(_)));
    }

    #[test]
    fn no_nodes_no_classes() {
        assert_eq!(ClassColumn::new(Vec::new()).len(), 0);
    }
}
