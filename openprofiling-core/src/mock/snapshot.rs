//! Snapshot-shaped test data: a V8-like heap snapshot text and its `addHeapSnapshotChunk` frames.

use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Everything before the node count, as V8's `HeapSnapshotJSONSerializer` writes it.
const HEADER_START: &str = concat!(
    r#"{"snapshot":{"meta":{"#,
    r#""node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"#,
    r#""node_types":[["hidden","array","string","object","code","closure","regexp","number","native","#,
    r#""synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"#,
    r#""string","number","number","number","number","number"],"#,
    r#""edge_fields":["type","name_or_index","to_node"],"#,
    r#""edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"#,
    r#""string_or_number","node"],"#,
    r#""trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"#,
    r#""trace_node_fields":["id","function_info_index","count","size","children"],"#,
    r#""sample_fields":["timestamp_us","last_assigned_id"],"#,
    r#""location_fields":["object_index","script_id","line","column"]},"#,
    r#""node_count":"#,
);

/// Between the node count and the first node.
const HEADER_END: &str = concat!(
    r#","edge_count":0,"trace_function_count":0},"#,
    "\n",
    r#""nodes":["#,
);

/// After the last node: the empty sections, then the strings, one per line as V8 writes them.
///
/// The strings cover every case a chunk reassembler or JSON parser can get wrong: escaped
/// quotes, backslashes, newlines, tabs, carriage returns, control characters, `\/`, escaped
/// non-ASCII and surrogate pairs (which is how V8 itself writes non-ASCII), and raw multi-byte
/// UTF-8 (two, three and four bytes), so that chunk boundaries must respect char boundaries.
const TAIL: &str = concat!(
    "],\n",
    r#""edges":[],"#,
    "\n",
    r#""trace_function_infos":[],"#,
    "\n",
    r#""trace_tree":[],"#,
    "\n",
    r#""samples":[],"#,
    "\n",
    r#""locations":[],"#,
    "\n",
    r#""strings":["<dummy>","#,
    "\n",
    r#""","#,
    "\n",
    r#""(GC roots)","#,
    "\n",
    r#""Object","#,
    "\n",
    r#""say \"hi\" to \"mock.js\"","#,
    "\n",
    r#""C:\\Users\\node\\app.js","#,
    "\n",
    r#""line one\nline two\r\n","#,
    "\n",
    r#""tab\tseparated\tvalues","#,
    "\n",
    r#""control \u0001 \u001f \b \f","#,
    "\n",
    r#""slash \/ escaped","#,
    "\n",
    r#""escaped caf\u00e9 \u65e5\u672c \ud83d\ude00","#,
    "\n",
    r#""raw café","#,
    "\n",
    r#""raw 日本語","#,
    "\n",
    r#""raw emoji 😀 and 🦀","#,
    "\n",
    r#""system / Context"]}"#,
);

/// How many entries the `strings` array in [`TAIL`] has.
const STRING_COUNT: u64 = 15;

/// Node types used for the generated nodes after the synthetic root (indexes into `node_types`).
const NODE_TYPES: [u64; 6] = [3, 2, 5, 1, 7, 0];

/// The seven fields of node `index`, as in `node_fields`.
fn node_fields(index: u64) -> [u64; 7] {
    if index == 0 {
        // The synthetic root.
        return [9, 2, 1, 0, 0, 0, 0];
    }
    [
        NODE_TYPES[(index % NODE_TYPES.len() as u64) as usize],
        1 + index % (STRING_COUNT - 1),
        1 + 2 * index,
        16 + (index * 37) % 240,
        0,
        0,
        0,
    ]
}

/// The length in bytes of the decimal form of `n`.
fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Appends the decimal form of `n`.
fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

/// The length of node `index`'s line: a leading comma (but for the first node), seven
/// comma-separated numbers and a newline.
fn node_line_len(index: u64) -> usize {
    let numbers: usize = node_fields(index).iter().map(|&n| decimal_len(n)).sum();
    usize::from(index > 0) + numbers + 6 + 1
}

/// Appends node `index`'s line.
fn push_node_line(out: &mut String, index: u64) {
    if index > 0 {
        out.push(',');
    }
    for (field, value) in node_fields(index).into_iter().enumerate() {
        if field > 0 {
            out.push(',');
        }
        push_decimal(out, value);
    }
    out.push('\n');
}

/// A deterministic text shaped like a V8 heap snapshot (`.heapsnapshot`), about
/// `approx_bytes` long, and valid JSON.
///
/// It has V8's `snapshot.meta` header, a `nodes` array written one node per line as V8
/// writes it (so the text has many newlines), empty `edges` (`edge_count` is 0, and every
/// node's `edge_count` field is 0, so the text is self-consistent) and a `strings` array
/// holding every escape-worthy case: quotes, backslashes, newlines, tabs, control characters,
/// escaped and raw non-ASCII (`é`, `日本`, emoji). V8 itself escapes non-ASCII as `\uXXXX`;
/// the raw forms are there so that chunking must split on char boundaries.
///
/// The size is within a few dozen bytes of `approx_bytes` once `approx_bytes` exceeds the
/// fixed header and strings (about 1.5 KB); below that the text holds just the root node.
/// It is built in one allocation, without an intermediate copy, so 500 MB is practical.
pub fn heap_snapshot_text(approx_bytes: usize) -> String {
    // The node count's digits are part of the header; reserve for the widest count possible.
    let fixed =
        HEADER_START.len() + decimal_len(approx_bytes as u64) + HEADER_END.len() + TAIL.len();
    let budget = approx_bytes.saturating_sub(fixed);
    let mut node_count: u64 = 1;
    let mut nodes_len = node_line_len(0);
    loop {
        let next = node_line_len(node_count);
        if nodes_len + next > budget {
            break;
        }
        nodes_len += next;
        node_count += 1;
    }

    let mut text = String::with_capacity(
        HEADER_START.len() + decimal_len(node_count) + HEADER_END.len() + nodes_len + TAIL.len(),
    );
    text.push_str(HEADER_START);
    push_decimal(&mut text, node_count);
    text.push_str(HEADER_END);
    for index in 0..node_count {
        push_node_line(&mut text, index);
    }
    text.push_str(TAIL);
    text
}

/// Splits `text` into slices of at most `chunk_size` bytes, cut on char boundaries (a slice
/// is longer than `chunk_size` only when `chunk_size` is smaller than one character).
pub(super) fn split_on_char_boundaries(text: &str, chunk_size: usize) -> Vec<&str> {
    assert!(
        chunk_size > 0,
        "mock inspector: chunk_size must be at least 1"
    );
    let mut slices = Vec::with_capacity(text.len() / chunk_size + 1);
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = chunk_size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = chunk_size;
            while !rest.is_char_boundary(end) {
                end += 1;
            }
        }
        let (slice, tail) = rest.split_at(end);
        slices.push(slice);
        rest = tail;
    }
    slices
}

/// The `HeapProfiler.addHeapSnapshotChunk` event frames V8 sends for `text`, in order:
/// `{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"<JSON-escaped slice>"}}`,
/// each slice `chunk_size` bytes of unescaped text (V8 sends about 100 KB), cut on char
/// boundaries. Concatenating the unescaped `chunk` strings gives back `text` exactly.
///
/// # Panics
///
/// If `chunk_size` is 0.
pub fn heap_snapshot_chunk_frames(text: &str, chunk_size: usize) -> Vec<Utf8Bytes> {
    const PREFIX: &str = r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"#;
    const SUFFIX: &str = "}}";
    split_on_char_boundaries(text, chunk_size)
        .into_iter()
        .map(|slice| {
            let escaped = serde_json::to_string(slice).expect("a str always serialises to JSON");
            let mut frame = String::with_capacity(PREFIX.len() + escaped.len() + SUFFIX.len());
            frame.push_str(PREFIX);
            frame.push_str(&escaped);
            frame.push_str(SUFFIX);
            Utf8Bytes::from(frame)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_line_len_matches_what_is_written() {
        for index in [0, 1, 9, 10, 99, 12_345, 9_999_999] {
            let mut line = String::new();
            push_node_line(&mut line, index);
            assert_eq!(line.len(), node_line_len(index), "node {index}: {line:?}");
        }
    }

    #[test]
    fn size_is_within_a_few_dozen_bytes() {
        for approx in [4096, 10_000, 123_457, 1 << 20] {
            let len = heap_snapshot_text(approx).len();
            assert!(
                len <= approx && approx - len < 64,
                "{len} bytes for {approx}"
            );
        }
        let minimal = heap_snapshot_text(0).len();
        assert!(minimal < 2048, "fixed part is {minimal} bytes");
    }

    #[test]
    fn string_count_matches_the_strings_array() {
        let value: serde_json::Value =
            serde_json::from_str(&heap_snapshot_text(0)).expect("valid JSON");
        let strings = value["strings"].as_array().expect("strings array");
        assert_eq!(strings.len() as u64, STRING_COUNT);
    }

    #[test]
    fn splits_never_cut_a_char_and_always_progress() {
        let text = "aé日😀b";
        for size in 1..=text.len() + 1 {
            let slices = split_on_char_boundaries(text, size);
            assert_eq!(slices.concat(), text, "chunk size {size}");
            assert!(slices.iter().all(|s| !s.is_empty()));
        }
    }
}
