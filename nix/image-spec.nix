# The name, tag and OCI config of one service's image, computed from nix/images.json alone. It
# needs no nixpkgs, so it evaluates anywhere `nix-instantiate` runs: nix/images.nix builds exactly
# this config, and ci/images-test compares it with the config of the image ci/images built:
#
#   nix-instantiate --eval --strict --json nix/image-spec.nix --argstr service gateway \
#     --argstr version 0.1.0 --argstr revision "$(git rev-parse HEAD)" --argstr source URL
{
  service,
  version,
  revision,
  source,
}:
let
  images = builtins.fromJSON (builtins.readFile ./images.json);
  known = builtins.concatStringsSep ", " (builtins.attrNames images.services);
  spec =
    images.services.${service}
      or (throw "nix/image-spec.nix: no service `${service}` in nix/images.json (it has ${known})");
  # A service's own variables win over the shared ones.
  env = (images.env or { }) // (spec.env or { });
in
{
  name = "ecommerce/${service}";
  tag = version;
  config = {
    User = images.user;
    Entrypoint = [ "${images.binDir}/${service}" ];
    Cmd = images.cmd;
    # attrNames returns the names sorted, so the list is sorted by variable name.
    Env = map (name: "${name}=${env.${name}}") (builtins.attrNames env);
    ExposedPorts = builtins.listToAttrs (
      map (port: {
        name = "${toString port}/tcp";
        value = { };
      }) spec.ports
    );
    Labels = (images.labels or { }) // {
      "org.opencontainers.image.source" = source;
      "org.opencontainers.image.revision" = revision;
      "org.opencontainers.image.version" = version;
      "org.opencontainers.image.title" = "ecommerce-${service}";
      "org.opencontainers.image.description" = spec.description;
    };
  };
  site = spec.site or null;
}
