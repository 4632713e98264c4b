# One OCI image per service (dockerTools.streamLayeredImage), and packages.images with all of them.
#
# An image holds its files at the root and no /nix/store, with the modes ci/images gives them:
# the static binary (0755) at <binDir>/<service>, the CA certificates, /etc/passwd and /etc/group
# with `nonroot` (65532) (0644), an empty /tmp (1777, writable only when mounted over a read-only
# root) and, for web, the built storefront; no shell. Its name, tag and config are
# nix/image-spec.nix's, as ci/images' are.
#
# Only builtins here, no nixpkgs lib: ci/flake-check evaluates this file with a stand-in for
# dockerTools and checks the arguments each image is built from.
{
  pkgs,
  services,
  binaries,
  site,
  version,
  revision,
  source,
}:
let
  layout = builtins.fromJSON (builtins.readFile ./images.json);
  ids = builtins.match "([0-9]+):([0-9]+)" layout.user;
  uid = builtins.elemAt ids 0;
  gid = builtins.elemAt ids 1;
  # Line for line what ci/images writes, so both builds' images hold the same files.
  passwd = pkgs.writeText "passwd" ''
    root:x:0:0:root:/root:/sbin/nologin
    ${layout.userName}:x:${uid}:${gid}:${layout.userName}:/nonexistent:/sbin/nologin
  '';
  group = pkgs.writeText "group" ''
    root:x:0:
    ${layout.userName}:x:${gid}:
  '';
  # extraCommands run in the image's root folder: paths are relative.
  relative = path: builtins.substring 1 (builtins.stringLength path) path;

  image =
    service:
    let
      spec = import ./image-spec.nix {
        inherit
          service
          version
          revision
          source
          ;
      };
      siteCommands =
        if spec.site == null then
          ""
        else
          ''
            mkdir -p ${dirOf (relative spec.site)}
            cp -R --no-preserve=mode,ownership ${site} ${relative spec.site}
            chmod -R u=rwX,go=rX ${relative spec.site}
          '';
    in
    pkgs.dockerTools.streamLayeredImage {
      inherit (spec) name tag config;
      # Nothing from the store: the files are copied in below, so no store path (and so no
      # layer of one) reaches the image.
      contents = [ ];
      extraCommands = ''
        install -Dm755 ${binaries.${service}}/bin/${service} ${relative layout.binDir}/${service}
        install -Dm644 ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt etc/ssl/certs/ca-certificates.crt
        install -Dm644 ${passwd} etc/passwd
        install -Dm644 ${group} etc/group
        mkdir -m 1777 tmp
      ''
      + siteCommands;
    };

  images = builtins.listToAttrs (
    map (service: {
      name = service;
      value = image service;
    }) services
  );
in
{
  inherit images;
  # `nix build .#images`: every image as a docker-archive, result/<service>.tar, for `podman load
  # -i` or `skopeo copy docker-archive:...`.
  all = pkgs.runCommand "ecommerce-images-${version}" { } (
    "mkdir $out\n"
    + builtins.concatStringsSep "" (map (service: "${images.${service}} > $out/${service}.tar\n") services)
  );
}
