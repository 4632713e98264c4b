# The one list of services, for every output of the flake: the services of nix/images.json, which
# the non-Nix image build (ci/images) reads too, so both builds ship the same set. ci/flake-check
# checks it against the workspace's binary crates.
let
  images = builtins.fromJSON (builtins.readFile ./images.json);
in
{
  # Each gets packages.<service> (its static binary) and packages.image-<service>.
  services = builtins.attrNames images.services;
  # The one other binary crate: the browser app. Trunk builds it for wasm32 into
  # packages.frontend, which ships inside the web image rather than as an image of its own.
  frontend = "frontend";
  # Binary crates that are tools, not services: packages.<tool> holds each of its binaries (the
  # load generator `loadgen` and the bare server `bare-http` it measures the local limit with).
  tools = {
    loadgen = [
      "loadgen"
      "bare-http"
    ];
  };
}
