//! The web service's settings.

use std::path::PathBuf;

use kit::config::{ConfigError, Env};

/// Where the built frontend is.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `WEB_ROOT`: the folder `trunk build` wrote (`index.html` plus hashed assets, with the
    /// `.gz`/`.br` files `web precompress` wrote next to them). Default `frontend/dist`,
    /// relative to the working directory.
    pub root: PathBuf,
}

impl WebConfig {
    /// Reads the settings and checks that the folder holds an `index.html`, so a wrong path
    /// stops the service at start instead of answering every page with a 404.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const EXPECTED: &str = "a folder holding the built frontend's index.html (trunk's dist)";
        let root: PathBuf = env.or("WEB_ROOT", PathBuf::from("frontend/dist"), EXPECTED)?;
        if !root.join("index.html").is_file() {
            return Err(ConfigError::Invalid {
                name: "WEB_ROOT".to_owned(),
                value: root.display().to_string(),
                expected: EXPECTED.to_owned(),
                reason: "no index.html in it (run ci/frontend-build)".to_owned(),
            });
        }
        Ok(Self { root })
    }
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
}
