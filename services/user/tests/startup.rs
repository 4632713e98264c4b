//! Start-up fails fast, naming the missing variable.

use std::process::Command;

#[test]
fn missing_variable_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_user"))
        .env_clear()
        .output()
        .expect("run the user service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}
