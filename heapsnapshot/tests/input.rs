//! Inputs: chunked feeds, readers, gzip, and malformed or truncated files (typed errors with the
//! byte offset, never a panic or a hang).

mod common;

use std::io::Write;

use openprofiling_heapsnapshot::{Error, HeapSnapshot, SnapshotParser};

fn file_bytes() -> Vec<u8> {
    std::fs::read(common::leaky_snapshot(300)).expect("snapshot readable")
}

fn parse_chunks(bytes: &[u8], sizes: &mut dyn FnMut() -> usize) -> Result<HeapSnapshot, Error> {
    let mut parser = SnapshotParser::new();
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + sizes().max(1)).min(bytes.len());
        parser.feed(&bytes[at..end])?;
        at = end;
    }
    assert_eq!(parser.bytes_fed(), bytes.len() as u64);
    parser.finish()
}

#[test]
fn random_chunk_sizes_give_the_same_result_as_the_whole_file() {
    let bytes = file_bytes();
    let whole = HeapSnapshot::from_path(common::leaky_snapshot(300))
        .expect("parses")
        .summary();
    let mut rng = common::Rng::new(0x5eed);
    for round in 0..6 {
        // From single bytes (every value split everywhere) to large chunks.
        let max = [1u64, 3, 17, 4096, 65536, 1 << 20][round];
        let summary = parse_chunks(&bytes, &mut || 1 + rng.below(max) as usize)
            .expect("chunked parse")
            .summary();
        assert_eq!(summary, whole, "chunks up to {max} bytes");
    }
}

#[test]
fn reader_and_gzip_file_give_the_same_result() {
    let path = common::leaky_snapshot(300);
    let whole = HeapSnapshot::from_path(&path).expect("parses").summary();
    let bytes = file_bytes();
    let from_reader = HeapSnapshot::from_reader(&bytes[..])
        .expect("reader")
        .summary();
    assert_eq!(from_reader, whole);
    let gz = common::workdir().join("leaky.heapsnapshot.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::fast(),
    );
    encoder.write_all(&bytes).expect("compress");
    encoder.finish().expect("finish gzip");
    let from_gzip = HeapSnapshot::from_path(&gz).expect("gzip file").summary();
    assert_eq!(from_gzip, whole);
}

#[test]
fn a_pipe_that_cannot_be_read_again_from_the_start_gives_the_same_result() {
    let path = common::leaky_snapshot(300);
    let whole = HeapSnapshot::from_path(&path).expect("parses").summary();
    let fifo = common::workdir().join("leaky.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let bytes = file_bytes();
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open the pipe");
            // A broken pipe would mean the reader stopped early: the assertion below says why.
            let _ = pipe.write_all(&bytes);
        }
    });
    // The magic bytes are read to detect gzip, and a pipe cannot be rewound: they go first.
    let from_pipe = HeapSnapshot::from_path(&fifo)
        .expect("parses from a pipe")
        .summary();
    writer.join().expect("writer");
    std::fs::remove_file(&fifo).expect("remove the pipe");
    assert_eq!(from_pipe, whole);
}

#[test]
fn truncated_files_fail_with_the_offset_never_panic() {
    let bytes = file_bytes();
    let mut rng = common::Rng::new(42);
    let mut offsets: Vec<usize> = (0..80)
        .map(|_| rng.below(bytes.len() as u64) as usize)
        .collect();
    // The edges of every section.
    for key in [
        "\"nodes\"",
        "\"edges\"",
        "\"locations\"",
        "\"strings\"",
        "\"snapshot\"",
    ] {
        let at = bytes
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .expect("section present");
        offsets.extend([at, at + 1, at + key.len(), at + key.len() + 2]);
    }
    offsets.extend([0, 1, 2, bytes.len() - 2, bytes.len() - 1]);
    for cut in offsets {
        let result = parse_chunks(&bytes[..cut], &mut || 8192);
        match result {
            Err(Error::Truncated { offset, context }) => {
                assert_eq!(
                    offset, cut as u64,
                    "truncated at {cut}: reported at {offset} in {context}"
                );
                let message = Error::Truncated { offset, context }.to_string();
                assert!(message.contains("truncated"), "{message}");
            }
            Err(other) => panic!("cut at {cut}: expected a truncation error, got {other}"),
            Ok(_) => panic!("cut at {cut}: a truncated snapshot parsed"),
        }
    }
}

#[test]
fn corrupted_bytes_fail_cleanly() {
    let bytes = file_bytes();
    let mut rng = common::Rng::new(7);
    for _ in 0..60 {
        let mut corrupt = bytes.clone();
        let at = rng.below(corrupt.len() as u64) as usize;
        let replacements = b"x-]}[{\"\\:,9 \x00\xff";
        corrupt[at] = replacements[rng.below(replacements.len() as u64) as usize];
        // Any outcome but a panic or a hang is acceptable: a flipped digit is still a snapshot.
        if let Err(e) = parse_chunks(&corrupt, &mut || 1 + rng.below(100_000) as usize) {
            assert!(!e.to_string().is_empty());
        }
    }
}

fn error_of(text: &str) -> Error {
    let mut parser = SnapshotParser::new();
    match parser.feed(text.as_bytes()) {
        Err(e) => e,
        Ok(()) => parser.finish().expect_err("malformed input must not parse"),
    }
}

const META: &str = r#"{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["hidden","object","synthetic"],"string","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"]},"node_count":2,"edge_count":1}"#;

#[test]
fn malformed_documents_say_what_and_where() {
    let e = error_of("[1,2,3]");
    assert!(matches!(e, Error::Syntax { offset: 0, .. }), "{e}");

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[2,1,-5],"strings":["","a"]}}"#
    );
    let e = error_of(&doc);
    let at = doc.find("-5").expect("marker") as u64;
    assert!(
        matches!(e, Error::Syntax { offset, context: "edges", .. } if offset == at),
        "{e}"
    );

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[2,1,6],"strings":["","a"]}}"#
    );
    let e = error_of(&doc);
    assert!(e.to_string().contains("not a multiple"), "{e}");

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[2,1,50],"strings":["","a"]}}"#
    );
    let e = error_of(&doc);
    assert!(matches!(e, Error::Inconsistent { .. }), "{e}");
    assert!(e.to_string().contains("edge #0 points to node #10"), "{e}");

    // A property edge's name is a string index; an element edge's is an array index.
    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[2,7,5],"strings":["","a"]}}"#
    );
    let e = error_of(&doc);
    assert!(e.to_string().contains("edge #0 names string 7"), "{e}");
    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[1,7,5],"strings":["","a"]}}"#
    );
    let mut parser = SnapshotParser::new();
    parser.feed(doc.as_bytes()).expect("parses");
    parser
        .finish()
        .expect("an element edge's index is not a string");

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,9,3,16,0],"edges":[2,1,5],"strings":["","a"]}}"#
    );
    assert!(error_of(&doc).to_string().contains("names string 9"));

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,2, 1,1,3,16,0],"edges":[2,1,5],"strings":["","a"]}}"#
    );
    assert!(
        error_of(&doc)
            .to_string()
            .contains("edge counts add up to 2")
    );

    let doc = r#"{"nodes":[1,2,3]}"#;
    assert!(
        error_of(doc)
            .to_string()
            .contains("before the `snapshot` header")
    );

    let doc = r#"{"snapshot":{"meta":{}},"nodes":[]}"#;
    assert!(matches!(error_of(doc), Error::Meta { .. }));

    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[2,1,5],"strings":["","a"]}} trailing"#
    );
    assert!(matches!(
        error_of(&doc),
        Error::Syntax {
            context: "the end",
            ..
        }
    ));
}

#[test]
fn a_minimal_hand_written_snapshot_is_analysed() {
    // root --shortcut "a"--> object "a" (16 bytes).
    let doc = format!(
        r#"{{"snapshot":{META},"nodes":[2,0,1,0,1, 1,1,3,16,0],"edges":[5,1,5],"strings":["","a\ud83d\ude00\ud800"]}}"#
    );
    let mut parser = SnapshotParser::new();
    parser.feed(doc.as_bytes()).expect("parses");
    let snapshot = parser.finish().expect("analyses");
    let summary = snapshot.summary();
    assert_eq!(summary.total_size, 16);
    assert_eq!(summary.node_count, 2);
    assert_eq!(summary.classes.len(), 1);
    assert_eq!(summary.classes[0].name, "a😀\u{FFFD}");
    assert_eq!(summary.classes[0].retained_size, 16);
}

#[test]
fn feeding_after_an_error_is_refused() {
    let mut parser = SnapshotParser::new();
    assert!(parser.feed(b"nope").is_err());
    assert!(parser.feed(b"{").is_err());
    assert!(parser.finish().is_err());
}
