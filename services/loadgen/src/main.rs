//! `loadgen`: the shopper mix against any base URL (see the library's docs).
//!
//! ```sh
//! loadgen --host http://127.0.0.1:8080 --users 32 --increase-rate 8 --run-time 30s --summary out.json
//! ```
//! Every goose option works (`loadgen --help`); `--summary` writes the short JSON the benchmarks
//! read, and the table of tasks is printed at the end whatever goose itself prints.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use loadgen::{Mix, Summary};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "The shop's load generator: an Online Boutique-like shopper mix",
    long_about = None
)]
struct Cli {
    /// The tasks: the shopper mix, or checkouts only.
    #[arg(long, value_enum, default_value = "shopper")]
    mix: Mix,
    /// Write the summary (req/s, p50/p95/p99 per task, errors) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Shortest think time after a task, in milliseconds (none by default: as fast as it goes).
    #[arg(long, value_name = "MS", requires = "think_max_ms")]
    think_min_ms: Option<u64>,
    /// Longest think time after a task, in milliseconds.
    #[arg(long, value_name = "MS", requires = "think_min_ms")]
    think_max_ms: Option<u64>,
    #[command(flatten)]
    goose: GooseConfiguration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let think = cli
        .think_min_ms
        .zip(cli.think_max_ms)
        .map(|(min, max)| (Duration::from_millis(min), Duration::from_millis(max)));
    let metrics = GooseAttack::initialize_with_config(cli.goose)?
        .register_scenario(loadgen::scenario(cli.mix, think)?)
        .execute()
        .await?;
    let summary = Summary::from_metrics(&metrics);
    print!("{}", summary.table());
    if let Some(path) = cli.summary {
        std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)?;
    }
    Ok(())
}
