//! The web service: serves the built frontend. `web precompress DIR` is the build step that
//! writes the `.br`/`.gz` twins it serves.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use web::config::WebConfig;
use web::precompress::precompress_dir;
use web::startup::Application;

#[derive(Debug, Parser)]
#[command(version, about = "Serves the built frontend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Common(kit::cli::Common),
    /// Write `.br` and `.gz` twins of the compressible files under DIR, then exit.
    Precompress {
        /// The built frontend (trunk's dist folder).
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Precompress { dir }) = &cli.command {
        let summary = precompress_dir(dir)?;
        println!(
            "precompressed {} files in {}: {} bytes raw, {} gzip, {} brotli",
            summary.files,
            dir.display(),
            summary.raw_bytes,
            summary.gzip_bytes,
            summary.brotli_bytes
        );
        return Ok(());
    }
    let service = kit::bootstrap::Service::init("web")?;
    match cli.command {
        Some(Command::Common(kit::cli::Common::Migrate)) => {
            tracing::info!("the web service has no database: nothing to migrate");
            Ok(())
        }
        _ => {
            let config = WebConfig::from_env(&service.env)?;
            let app = Application::build(&config, &service.platform);
            app.serve(service).await
        }
    }
}
