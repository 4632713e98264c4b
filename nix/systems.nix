# The systems the flake builds for, each with the Rust target its static (musl) binaries use.
{
  x86_64-linux = "x86_64-unknown-linux-musl";
  aarch64-linux = "aarch64-unknown-linux-musl";
}
