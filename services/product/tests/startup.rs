//! Start-up fails fast, naming the variable at fault.

use std::process::Command;

fn product() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_product"));
    command
        .env_clear()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/product")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("INTERNAL_TOKEN", "0123456789abcdef0123456789abcdef");
    command
}

#[test]
fn a_missing_cursor_secret_stops_start_up_naming_it() {
    let output = product().output().expect("run the product service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CURSOR_SECRET is not set"), "{stderr}");
}

#[test]
fn a_malformed_setting_is_named() {
    let output = product()
        .env("CURSOR_SECRET", "0123456789abcdef0123456789abcdef")
        .env("RESERVATION_TTL_SECS", "soon")
        .output()
        .expect("run the product service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("RESERVATION_TTL_SECS=\"soon\""), "{stderr}");
}
