//! The binary's own subcommands, run as an operator would.

use std::process::{Command, Output};

use contracts::auth::{AuthResponse, Role};
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

fn user_binary(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_user"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run the user binary")
}

fn create_admin(app: &TestApp, email: &str, password: &str) -> Output {
    user_binary(
        &["create-admin", "--email", email, "--display-name", "Root"],
        &[
            ("DATABASE_URL", &app.db.url),
            ("ADMIN_PASSWORD", password),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
        ],
    )
}

#[tokio::test]
async fn create_admin_creates_the_first_admin_and_is_idempotent() {
    let app = TestApp::spawn().await;
    for run in 1..=2 {
        let output = create_admin(&app, "root@shop.example", PASSWORD);
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let response = app.login("root@shop.example", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let auth: AuthResponse = response.json().await.expect("auth response");
    assert_eq!(auth.user.roles, vec![Role::Customer, Role::Admin]);
    assert_eq!(auth.user.display_name, "Root");
    assert_eq!(
        app.claims(&auth.access_token).await.roles,
        vec![Role::Customer, Role::Admin]
    );
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn create_admin_reads_the_password_from_a_mounted_file() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("create-admin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("admin-password");
    // A Secret mounted as a file usually ends with a newline that is not part of the password.
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    let output = user_binary(
        &["create-admin", "--email", "file@shop.example"],
        &[
            ("DATABASE_URL", &app.db.url),
            ("ADMIN_PASSWORD_FILE", &file.display().to_string()),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
        ],
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        app.login("file@shop.example", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn create_admin_without_a_password_says_how_to_give_one() {
    let app = TestApp::spawn().await;
    let output = user_binary(
        &["create-admin", "--email", "nopass@shop.example"],
        &[("DATABASE_URL", &app.db.url)],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--password"), "{stderr}");
}

#[tokio::test]
async fn create_admin_promotes_an_existing_account_keeping_its_password() {
    let app = TestApp::spawn().await;
    let customer = app.signed_up("ada@example.com").await;
    let output = create_admin(&app, "ADA@example.com", "some other password");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        app.login("ada@example.com", "some other password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app.refreshed(&customer.refresh_token).await;
    assert_eq!(
        app.claims(&refreshed.access_token).await.roles,
        vec![Role::Customer, Role::Admin]
    );
}

#[tokio::test]
async fn create_admin_refuses_a_weak_password_naming_it() {
    let app = TestApp::spawn().await;
    let output = create_admin(&app, "root@shop.example", "short");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("password"), "{stderr}");
    assert_eq!(
        app.login("root@shop.example", "short").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn generate_key_prints_a_usable_signing_key_and_nothing_else() {
    let output = user_binary(&["generate-key"], &[]);
    assert!(output.status.success());
    let pem = String::from_utf8(output.stdout).expect("utf-8");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert!(
        pem.trim_end().ends_with("-----END PRIVATE KEY-----"),
        "{pem}"
    );
    assert!(tokens::Signer::from_pem("k", &pem).is_ok());
    let other = String::from_utf8(user_binary(&["generate-key"], &[]).stdout).expect("utf-8");
    assert_ne!(pem, other, "fresh every time");
}

#[test]
fn start_up_fails_naming_the_missing_variable() {
    let output = user_binary(&[], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");

    let output = user_binary(
        &["serve"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SIGNING_KEY is not set"), "{stderr}");
}
