//! `openprofiling analyze`: what a heap snapshot holds, what grew between two, and why an
//! object is alive, without DevTools; exact against DevTools' numbers.

mod print;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openprofiling_heapsnapshot::{HeapSnapshot, NodeRef, diff};

pub(crate) use print::{diff_text, summary_text};
use progress::AnalysisBar;

/// `openprofiling analyze summary|diff|retainers …`
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    #[command(subcommand)]
    command: AnalyzeCommand,
}

#[derive(Debug, Subcommand)]
enum AnalyzeCommand {
    /// Classes by retained size (count, self size, retained size), and the total, as DevTools'
    /// Summary view.
    Summary {
        /// A `.heapsnapshot` file (gzipped or not; any size).
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Objects added and removed per class between two snapshots of one process, matched by V8
    /// object id, sorted by size change: DevTools' Comparison view.
    Diff {
        /// The earlier snapshot.
        before: PathBuf,
        /// The later snapshot.
        after: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The shortest retainer paths from a GC root to an object, each edge named: why it is alive.
    Retainers {
        /// A `.heapsnapshot` file.
        file: PathBuf,
        /// The class of the object: the one of that class retaining the most is shown.
        #[arg(long, value_name = "NAME", group = "object", required = true)]
        class: Option<String>,
        /// The object's V8 id (the `@123` DevTools shows).
        #[arg(long, value_name = "ID", group = "object")]
        id: Option<u32>,
        /// How many paths, shortest first.
        #[arg(long, value_name = "K", default_value_t = 5)]
        paths: usize,
        /// JSON on stdout rather than text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// How many classes to show (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// JSON on stdout rather than a table.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    fn top(&self) -> usize {
        if self.top == 0 { usize::MAX } else { self.top }
    }
}

pub(crate) async fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    // Parsing and the graph algorithms are CPU work: off the async thread.
    let text = tokio::task::spawn_blocking(move || analyze(args.command))
        .await
        .context("the analysis stopped unexpectedly")??;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn analyze(command: AnalyzeCommand) -> anyhow::Result<String> {
    match command {
        AnalyzeCommand::Summary { file, output } => {
            let snapshot = load(&file)?;
            let mut summary = snapshot.summary();
            if output.json {
                summary.classes.truncate(output.top());
                print::json(&summary)
            } else {
                Ok(summary_text(&summary, output.top()))
            }
        }
        AnalyzeCommand::Diff {
            before,
            after,
            output,
        } => {
            let before = load(&before)?;
            let after = load(&after)?;
            let mut diff = diff(&before, &after);
            if output.json {
                diff.classes.truncate(output.top());
                print::json(&diff)
            } else {
                Ok(diff_text(&diff, output.top()))
            }
        }
        AnalyzeCommand::Retainers {
            file,
            class,
            id,
            paths,
            json,
        } => {
            let snapshot = load(&file)?;
            let (object, chosen) = match (class, id) {
                (Some(class), _) => pick_of_class(&snapshot, &class)?,
                (None, Some(id)) => {
                    let Some(object) = snapshot.node_by_id(id) else {
                        bail!("no object @{id} in {}", file.display());
                    };
                    (object, format!("object @{id}"))
                }
                (None, None) => bail!("give --class NAME or --id ID"),
            };
            let found = snapshot.retainer_paths(object, paths);
            if json {
                return print::json(&serde_json::json!({
                    "object": snapshot.node(object),
                    "paths": found,
                }));
            }
            let info = snapshot.node(object);
            let mut text = format!(
                "{chosen}: {} @{}, retaining {}\n",
                info.class_name,
                info.id,
                crate::destination::human_bytes(info.retained_size)
            );
            if found.is_empty() {
                text.push_str("no path from a GC root through strong references: it is garbage, or held only weakly\n");
            }
            text.push_str(&print::retainers_text(&found));
            Ok(text)
        }
    }
}

/// The object of `class` that retains the most, and how it was chosen.
fn pick_of_class(snapshot: &HeapSnapshot, class: &str) -> anyhow::Result<(NodeRef, String)> {
    let objects = snapshot.find_class(class);
    let Some(&largest) = objects
        .iter()
        .max_by_key(|object| snapshot.retained_size(**object))
    else {
        bail!("no object of class {class:?} in the snapshot (`analyze summary` lists the classes)");
    };
    Ok((
        largest,
        format!("the largest of {} {class} objects", objects.len()),
    ))
}

/// Reads and analyses one snapshot, with a progress bar at a terminal.
fn load(path: &Path) -> anyhow::Result<HeapSnapshot> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let bar = AnalysisBar::new(name);
    HeapSnapshot::from_path_with_progress(path, &bar)
        .with_context(|| format!("cannot analyse {}", path.display()))
}
