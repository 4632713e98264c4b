//! The subcommands every service binary has.
//!
//! A service's `Cli` flattens [`Common`] next to its own subcommands (`seed`, `create-admin`,
//! `bench`), so `SERVICE serve` and `SERVICE migrate` mean the same everywhere; Kubernetes runs
//! `migrate` as a Job before the new version starts.

/// Subcommands shared by every service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Common {
    /// Serve HTTP until SIGTERM (the default).
    Serve,
    /// Apply the database migrations that are not applied yet, then exit.
    Migrate,
}
