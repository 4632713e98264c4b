//! The user service binary: `serve` (default), `migrate`, `create-admin`, `generate-key`.

use clap::{Parser, Subcommand};
use kit::cli::Common;
use kit::db::DatabaseConfig;
use user::AdminBootstrap;
use user::config::{Config, PasswordConfig};
use user::startup::Application;

/// Accounts, passwords, tokens and roles of the ecommerce platform.
#[derive(Debug, Parser)]
#[command(name = "user", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Common(Common),
    /// Create the first admin, or give an existing account the admin role (its password is
    /// kept). Safe to run again. Reads DATABASE_URL and the ARGON2_* settings.
    CreateAdmin {
        /// The admin's sign-in email.
        #[arg(long, env = "ADMIN_EMAIL")]
        email: String,
        /// The password for a new account; prefer the environment variable, which stays out of
        /// the process list and shell history.
        #[arg(
            long,
            env = "ADMIN_PASSWORD",
            hide_env_values = true,
            required_unless_present = "password_file",
            conflicts_with = "password_file"
        )]
        password: Option<String>,
        /// A file holding the password (a mounted Secret), which keeps it out of the environment
        /// too; its trailing newline is ignored.
        #[arg(long, env = "ADMIN_PASSWORD_FILE")]
        password_file: Option<std::path::PathBuf>,
        /// The name shown for a new account.
        #[arg(long, env = "ADMIN_DISPLAY_NAME", default_value = "Administrator")]
        display_name: String,
    },
    /// Print a fresh Ed25519 private key (PKCS#8 PEM) for JWT_SIGNING_KEY.
    GenerateKey,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        // Without telemetry, so the key is the only thing on stdout.
        Some(Command::GenerateKey) => {
            print!("{}", tokens::generate_pem()?);
            Ok(())
        }
        None | Some(Command::Common(Common::Serve)) => {
            let service = kit::bootstrap::Service::init("user")?;
            let config = Config::from_env(&service.env)?;
            let app = Application::build(&config, &service.platform).await?;
            app.serve(service).await
        }
        Some(Command::Common(Common::Migrate)) => {
            let service = kit::bootstrap::Service::init("user")?;
            let db = DatabaseConfig::from_env(&service.env)?.pool();
            kit::db::migrate(&db, &user::MIGRATOR).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Some(Command::CreateAdmin {
            email,
            password,
            password_file,
            display_name,
        }) => {
            let password = match (password, password_file) {
                (Some(password), _) => password,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD_FILE={}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                (None, None) => unreachable!("clap requires one of the two"),
            };
            let service = kit::bootstrap::Service::init("user")?;
            let db = DatabaseConfig::from_env(&service.env)?.pool();
            let passwords = PasswordConfig::from_env(&service.env)?;
            let outcome =
                user::create_admin(&db, &passwords, &email, &password, &display_name).await?;
            match outcome {
                AdminBootstrap::Created(id) => tracing::info!(%id, "admin created"),
                AdminBootstrap::Promoted(id) => tracing::info!(%id, "existing account made admin"),
                AdminBootstrap::AlreadyAdmin(id) => tracing::info!(%id, "already an admin"),
            }
            Ok(())
        }
    }
}
