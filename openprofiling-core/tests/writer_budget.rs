//! The writer's byte budget per exporter: large chunks (a heap snapshot's 4 MiB blocks) wait
//! for a slow exporter once [`SINK_BYTE_BUDGET`] bytes are on their way to it, whatever their
//! count.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use openprofiling_core::mock::MemoryExporter;
use openprofiling_core::{
    DEFAULT_SINK_BUFFER, Exporter, ProfileKind, ProfileMetadata, ProfileStatus, ProfileWriter,
    SINK_BYTE_BUDGET,
};

#[tokio::test]
async fn large_chunks_wait_once_the_byte_budget_is_on_its_way() {
    let (exporter, gate) = MemoryExporter::gated();
    let exporters: Vec<Arc<dyn Exporter>> = vec![Arc::new(exporter.clone())];
    let profile = ProfileMetadata::new(ProfileKind::HeapSnapshot, "budget");
    let mut writer = ProfileWriter::begin(profile, &exporters, DEFAULT_SINK_BUFFER).await;
    // Three eighths of the budget: two fit, the third does not.
    let chunk_size = SINK_BYTE_BUDGET * 3 / 8;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&accepted);
    let producer = tokio::spawn(async move {
        for index in 0..6_u8 {
            writer
                .write(Bytes::from(vec![index; chunk_size]))
                .await
                .unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
        }
        writer
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Six chunks would fit the channel; the budget lets two through (the sink holds the first,
    // waiting at its gate; the second waits in the channel).
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    gate.add_permits(6);
    let writer = producer.await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
    let report = writer.finish(ProfileStatus::Success).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(exporter.chunk_count(), 6);
    assert_eq!(exporter.bytes().len(), 6 * chunk_size);
}
