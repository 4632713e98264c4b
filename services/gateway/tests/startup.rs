//! Start-up fails fast, naming the bad variable.

use std::process::Command;

#[test]
fn malformed_variable_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .env("BIND_ADDR", "localhost:http")
        .output()
        .expect("run the gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BIND_ADDR=\"localhost:http\" is invalid"),
        "{stderr}"
    );
}
