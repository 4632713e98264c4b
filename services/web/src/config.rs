//! The web service's settings.

use std::path::PathBuf;

use kit::config::{ConfigError, Env};

/// Where the built frontend is.
#[derive(Debug, Clone, clap::Args)]
pub struct WebConfig {
    /// `WEB_ROOT`: the folder `trunk build` wrote (`index.html` plus hashed assets, with the
    /// `.gz`/`.br` files `web precompress` wrote next to them). Default `frontend/dist`,
    /// relative to the working directory.
    #[arg(
        long,
        env = "WEB_ROOT",
        value_name = "a folder holding the built frontend's index.html (trunk's dist)",
        default_value = "frontend/dist",
        value_parser = built_frontend
    )]
    pub root: PathBuf,
}

impl WebConfig {
    /// Reads the settings and checks that the folder holds an `index.html`, so a wrong path
    /// stops the service at start instead of answering every page with a 404.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        kit::config::parse(env)
    }
}

/// Value parser: a folder with an `index.html` in it.
fn built_frontend(root: &str) -> Result<PathBuf, &'static str> {
    let root = PathBuf::from(root);
    if !root.join("index.html").is_file() {
        return Err("no index.html in it (run ci/frontend-build)");
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_index_html_is_named() {
        let env = Env::from_pairs([("WEB_ROOT", "/nonexistent/dist")]);
        let err = WebConfig::from_env(&env).expect_err("must fail");
        let message = err.to_string();
        assert!(
            message.starts_with("WEB_ROOT=\"/nonexistent/dist\" is invalid"),
            "{message}"
        );
        assert!(message.contains("no index.html"), "{message}");
    }

    #[test]
    fn the_default_folder_is_checked_too() {
        // Tests run in services/web, which holds no built frontend.
        let err = WebConfig::from_env(&Env::default()).expect_err("no frontend/dist here");
        assert!(
            err.to_string()
                .starts_with("WEB_ROOT=\"frontend/dist\" is invalid"),
            "{err}"
        );
    }
}
