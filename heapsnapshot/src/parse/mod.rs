//! The streaming parser: bytes in (pushed chunk by chunk, or read from any `Read`, or a file,
//! gzip or not), columnar arrays out, without ever holding the JSON document.

mod columns;
mod ids;
mod meta;
mod numbers;
mod read;
mod skip;
mod strings;
#[cfg(test)]
mod tests;
mod validate;

pub(crate) use columns::{Edges, Nodes};
pub(crate) use meta::Meta;
pub(crate) use strings::StringTable;

use columns::{EdgeSink, LargestReferences, NodeSink};
use numbers::{DiscardSink, IntScanner, Prescanned, VecSink, accept_u32s};
use skip::Skipper;
use strings::StringsParser;

pub(crate) use read::{parse_path, parse_reader};

use crate::error::{Error, Result};
use crate::progress::{NoProgress, Progress};
use crate::snapshot::HeapSnapshot;

/// How a byte is named in error messages.
pub(crate) fn describe(b: u8) -> String {
    match b {
        0x20..=0x7e => format!("`{}`", char::from(b)),
        _ => format!("byte 0x{b:02x}"),
    }
}

/// A parsed but not yet analysed snapshot.
#[derive(Debug)]
pub(crate) struct RawSnapshot {
    pub meta: Meta,
    pub nodes: Nodes,
    pub edges: Edges,
    pub strings: StringTable,
    /// Flat `locations` records as in the file (empty when absent).
    pub locations: Vec<u32>,
}

#[derive(Debug)]
enum IntTarget {
    Nodes(NodeSink),
    Edges(EdgeSink),
    Locations(VecSink),
    Discard,
}

#[derive(Debug)]
enum State {
    /// Before the top-level `{`.
    Start,
    /// After `{` (first) or `,`: a key, or `}` after `{`.
    BeforeKey { first: bool },
    /// Inside a key; `escape` after a backslash.
    Key { escape: bool },
    /// After a key: `:`.
    Colon,
    /// After `:`, for an array this crate reads: whitespace then `[`.
    OpenArray(IntTarget, &'static str),
    /// Inside an integer array.
    Ints(IntTarget, &'static str),
    /// After `:` of `strings`: whitespace then `[`.
    OpenStrings,
    /// Inside `strings`.
    Strings,
    /// Inside the `snapshot` header (captured) or a value skipped.
    Skip { skipper: Skipper, meta: bool },
    /// After a value: `,` or `}`.
    AfterValue,
    /// After the top-level `}`: only whitespace.
    Done,
    /// A previous call failed; the parser is unusable.
    Failed,
}

impl State {
    fn context(&self) -> &'static str {
        match self {
            State::Start => "the document start",
            State::BeforeKey { .. } | State::Key { .. } | State::Colon => "a top-level key",
            State::OpenArray(_, c) | State::Ints(_, c) => c,
            State::OpenStrings | State::Strings => "strings",
            State::Skip { meta: true, .. } => "snapshot meta",
            State::Skip { meta: false, .. } => "a skipped value",
            State::AfterValue => "the top-level object",
            State::Done => "the end",
            State::Failed => "a failed parse",
        }
    }
}

/// Incremental push parser: feed chunks of any size as they arrive (e.g. from the inspector's
/// `HeapProfiler.addHeapSnapshotChunk` events), then [`finish`](SnapshotParser::finish).
///
/// ```
/// # fn main() -> Result<(), openprofiling_heapsnapshot::Error> {
/// use openprofiling_heapsnapshot::SnapshotParser;
/// # let chunks: Vec<Vec<u8>> = vec![];
/// let mut parser = SnapshotParser::new();
/// for chunk in &chunks {
///     parser.feed(chunk)?;
/// }
/// # if chunks.is_empty() { return Ok(()); }
/// let snapshot = parser.finish()?;
/// println!("{} nodes", snapshot.node_count());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SnapshotParser {
    offset: u64,
    state: State,
    key: Vec<u8>,
    meta: Option<Meta>,
    nodes: Option<Nodes>,
    edges: Option<Edges>,
    strings: Option<StringsParser>,
    locations: Option<Vec<u32>>,
    int_scanner: IntScanner,
    wrapped_sizes: u64,
    largest: LargestReferences,
}

impl Default for SnapshotParser {
    fn default() -> Self {
        SnapshotParser::new()
    }
}

const MAX_KEY: usize = 64;

impl SnapshotParser {
    /// A parser expecting the first byte of a `.heapsnapshot` document.
    pub fn new() -> SnapshotParser {
        SnapshotParser {
            offset: 0,
            state: State::Start,
            key: Vec::new(),
            meta: None,
            nodes: None,
            edges: None,
            strings: None,
            locations: None,
            int_scanner: IntScanner::default(),
            wrapped_sizes: 0,
            largest: LargestReferences::default(),
        }
    }

    /// Bytes fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.offset
    }

    /// Parses the next chunk. After an error the parser refuses further input.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        if matches!(self.state, State::Failed) {
            return Err(Error::syntax(
                self.offset,
                "a failed parse",
                "the parser already failed; start a new one",
            ));
        }
        let result = self.feed_inner(chunk);
        match result {
            Ok(()) => {
                self.offset += chunk.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Like [`feed`](Self::feed), with the integers of `chunk[prescanned.range]` already read
    /// (by `numbers::prescan`, on the reading thread): when the parser is inside an integer
    /// array where that range begins, it takes those values instead of scanning the bytes
    /// again; otherwise it scans them as usual.
    pub(crate) fn feed_prescanned(&mut self, chunk: &[u8], prescanned: &Prescanned) -> Result<()> {
        let range = prescanned.range.clone();
        if range.is_empty() || range.end > chunk.len() {
            return self.feed(chunk);
        }
        self.feed(&chunk[..range.start])?;
        let end = self.offset + range.len() as u64;
        let accepted = match &mut self.state {
            State::Ints(target, _) if self.int_scanner.between_numbers() => match target {
                IntTarget::Nodes(sink) => accept_u32s(sink, &prescanned.values, end),
                IntTarget::Edges(sink) => accept_u32s(sink, &prescanned.values, end),
                IntTarget::Locations(sink) => accept_u32s(sink, &prescanned.values, end),
                IntTarget::Discard => Ok(()),
            },
            _ => return self.feed(&chunk[range.start..]),
        };
        if let Err(error) = accepted {
            self.state = State::Failed;
            return Err(error);
        }
        self.offset = end;
        self.feed(&chunk[range.end..])
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<()> {
        let mut i = 0;
        let base = self.offset;
        while i < chunk.len() {
            let at = base + i as u64;
            let rest = &chunk[i..];
            let state = std::mem::replace(&mut self.state, State::Failed);
            self.state = match state {
                State::Start => {
                    // A UTF-8 byte order mark is tolerated, as TextDecoder does.
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' | 0xEF | 0xBB | 0xBF
                            if at < 3 || b <= b' ' =>
                        {
                            State::Start
                        }
                        b'{' => State::BeforeKey { first: true },
                        other => {
                            return Err(Error::syntax(
                                at,
                                "the document start",
                                format!("expected `{{`, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::BeforeKey { first } => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' => State::BeforeKey { first },
                        b'"' => {
                            self.key.clear();
                            State::Key { escape: false }
                        }
                        b'}' if first => State::Done,
                        other => {
                            return Err(Error::syntax(
                                at,
                                "the top-level object",
                                format!("expected a key, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::Key { escape } => {
                    let b = rest[0];
                    i += 1;
                    if escape {
                        State::Key { escape: false }
                    } else if b == b'\\' {
                        State::Key { escape: true }
                    } else if b == b'"' {
                        State::Colon
                    } else {
                        if self.key.len() < MAX_KEY {
                            self.key.push(b);
                        }
                        State::Key { escape: false }
                    }
                }
                State::Colon => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' => State::Colon,
                        b':' => self.value_state(at)?,
                        other => {
                            return Err(Error::syntax(
                                at,
                                "the top-level object",
                                format!("expected `:` after a key, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::OpenArray(target, context) => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' => State::OpenArray(target, context),
                        b'[' => State::Ints(target, context),
                        other => {
                            return Err(Error::syntax(
                                at,
                                context,
                                format!("expected `[`, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::Ints(mut target, context) => {
                    let scanner = &mut self.int_scanner;
                    let ended = match &mut target {
                        IntTarget::Nodes(sink) => scanner.scan(rest, at, context, sink)?,
                        IntTarget::Edges(sink) => scanner.scan(rest, at, context, sink)?,
                        IntTarget::Locations(sink) => scanner.scan(rest, at, context, sink)?,
                        IntTarget::Discard => scanner.scan(rest, at, context, &mut DiscardSink)?,
                    };
                    match ended {
                        None => {
                            i = chunk.len();
                            State::Ints(target, context)
                        }
                        Some(n) => {
                            i += n;
                            self.store(target, at + n as u64)?;
                            State::AfterValue
                        }
                    }
                }
                State::OpenStrings => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' => State::OpenStrings,
                        b'[' => {
                            self.strings = Some(StringsParser::new());
                            State::Strings
                        }
                        other => {
                            return Err(Error::syntax(
                                at,
                                "strings",
                                format!("expected `[`, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::Strings => {
                    let parser = self.strings.as_mut().ok_or_else(|| {
                        Error::syntax(at, "strings", "internal: no strings parser")
                    })?;
                    match parser.scan(rest, at)? {
                        None => {
                            i = chunk.len();
                            State::Strings
                        }
                        Some(n) => {
                            i += n;
                            State::AfterValue
                        }
                    }
                }
                State::Skip { mut skipper, meta } => {
                    let context = if meta {
                        "snapshot meta"
                    } else {
                        "a skipped value"
                    };
                    match skipper.scan(rest, at, context)? {
                        None => {
                            i = chunk.len();
                            State::Skip { skipper, meta }
                        }
                        Some(n) => {
                            i += n;
                            if meta {
                                let parsed = Meta::parse(&skipper.into_captured())?;
                                self.meta = Some(parsed);
                            }
                            State::AfterValue
                        }
                    }
                }
                State::AfterValue => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' => State::AfterValue,
                        b',' => State::BeforeKey { first: false },
                        b'}' => State::Done,
                        other => {
                            return Err(Error::syntax(
                                at,
                                "the top-level object",
                                format!("expected `,` or `}}`, found {}", describe(other)),
                            ));
                        }
                    }
                }
                State::Done => {
                    let b = rest[0];
                    i += 1;
                    match b {
                        b' ' | b'\n' | b'\r' | b'\t' | 0 => State::Done,
                        other => {
                            return Err(Error::syntax(
                                at,
                                "the end",
                                format!("unexpected {} after the document", describe(other)),
                            ));
                        }
                    }
                }
                State::Failed => {
                    return Err(Error::syntax(
                        at,
                        "a failed parse",
                        "the parser already failed",
                    ));
                }
            };
        }
        Ok(())
    }

    /// The state for the value of the key just read.
    fn value_state(&mut self, at: u64) -> Result<State> {
        let key = std::mem::take(&mut self.key);
        let need_meta = |meta: &Option<Meta>, what: &'static str| -> Result<Meta> {
            meta.clone().ok_or_else(|| {
                Error::syntax(
                    at,
                    what,
                    format!("`{what}` comes before the `snapshot` header"),
                )
            })
        };
        let state = match key.as_slice() {
            b"snapshot" => State::Skip {
                skipper: Skipper::capturing(),
                meta: true,
            },
            b"nodes" => {
                let meta = need_meta(&self.meta, "nodes")?;
                State::OpenArray(IntTarget::Nodes(NodeSink::new(&meta)), "nodes")
            }
            b"edges" => {
                let meta = need_meta(&self.meta, "edges")?;
                State::OpenArray(IntTarget::Edges(EdgeSink::new(&meta)), "edges")
            }
            b"locations" => State::OpenArray(
                IntTarget::Locations(VecSink {
                    values: Vec::new(),
                    context: "locations",
                }),
                "locations",
            ),
            b"samples" | b"trace_function_infos" => State::OpenArray(
                IntTarget::Discard,
                if key == b"samples" {
                    "samples"
                } else {
                    "trace_function_infos"
                },
            ),
            b"strings" => State::OpenStrings,
            _ => State::Skip {
                skipper: Skipper::default(),
                meta: false,
            },
        };
        self.key = key;
        Ok(state)
    }

    fn store(&mut self, target: IntTarget, end: u64) -> Result<()> {
        match target {
            IntTarget::Nodes(sink) => {
                if !sink.complete() {
                    return Err(Error::syntax(
                        end,
                        "nodes",
                        "the nodes array ends in the middle of a node record",
                    ));
                }
                self.wrapped_sizes = sink.wrapped_sizes;
                self.largest.node_name = sink.largest_name;
                self.nodes = Some(sink.nodes);
            }
            IntTarget::Edges(sink) => {
                if !sink.complete() {
                    return Err(Error::syntax(
                        end,
                        "edges",
                        "the edges array ends in the middle of an edge record",
                    ));
                }
                self.largest.edge_string_name = sink.largest_string_name;
                self.largest.edge_to = sink.largest_to;
                self.edges = Some(sink.edges);
            }
            IntTarget::Locations(sink) => self.locations = Some(sink.values),
            IntTarget::Discard => {}
        }
        Ok(())
    }

    /// Ends the input and returns the checked raw arrays.
    pub(crate) fn finish_raw(self) -> Result<RawSnapshot> {
        match &self.state {
            State::Done => {}
            State::Failed => {
                return Err(Error::syntax(
                    self.offset,
                    "a failed parse",
                    "the parser already failed; start a new one",
                ));
            }
            other => {
                return Err(Error::Truncated {
                    offset: self.offset,
                    context: other.context(),
                });
            }
        }
        let missing =
            |what: &str| Error::syntax(self.offset, "the top-level object", format!("no `{what}`"));
        let meta = self.meta.clone().ok_or_else(|| missing("snapshot"))?;
        let mut nodes = self.nodes.ok_or_else(|| missing("nodes"))?;
        let mut edges = self.edges.ok_or_else(|| missing("edges"))?;
        let mut locations = self.locations.unwrap_or_default();
        nodes.shrink_to_fit();
        edges.shrink_to_fit();
        locations.shrink_to_fit();
        let strings = self.strings.ok_or_else(|| missing("strings"))?;
        if self.wrapped_sizes > 0 {
            tracing::warn!(
                nodes = self.wrapped_sizes,
                "Self sizes above 4 GiB were wrapped to 32 bits, as DevTools does."
            );
        }
        let raw = RawSnapshot {
            meta,
            nodes,
            edges,
            strings: StringTable::from_parts(strings.bytes, strings.ends),
            locations,
        };
        validate::validate(raw, self.largest)
    }

    /// Ends the input and analyses the snapshot (see [`HeapSnapshot`]).
    pub fn finish(self) -> Result<HeapSnapshot> {
        self.finish_with_progress(&NoProgress)
    }

    /// [`finish`](Self::finish), reporting the analysis phases to `progress`.
    pub fn finish_with_progress(self, progress: &dyn Progress) -> Result<HeapSnapshot> {
        HeapSnapshot::analyze(self.finish_raw()?, progress)
    }
}
