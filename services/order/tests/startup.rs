//! Start-up fails fast, naming the variable at fault.

use std::process::Command;

fn order() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order"));
    command
        .env_clear()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/orders")
        .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("PRODUCT_URL", "http://127.0.0.1:9")
        .env("IDEMPOTENCY_SECRET", "0123456789abcdef0123456789abcdef")
        .env("INTERNAL_TOKEN", "0123456789abcdef0123456789abcdef");
    command
}

#[test]
fn a_production_deployment_without_a_payment_provider_does_not_start() {
    let output = order().output().expect("run the order service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PAYMENT_PROVIDER is not set"), "{stderr}");

    let output = order()
        .env("PAYMENT_PROVIDER", "stripe")
        .output()
        .expect("run the order service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PAYMENT_PROVIDER=\"stripe\" is invalid"),
        "{stderr}"
    );
}
