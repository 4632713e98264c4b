# What the images and packages say about themselves, from the workspace's Cargo.toml and the flake's
# own source: pure, so ci/flake-check evaluates it without nixpkgs.
{ self }:
let
  workspace = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package;
in
{
  inherit (workspace) version;
  source = workspace.repository;
  # A flake built from a tree with uncommitted changes has no rev.
  revision = self.rev or "dirty";
}
