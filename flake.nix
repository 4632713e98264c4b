{
  description = "ecommerce: Rust microservices and a Yew storefront, as static binaries and minimal OCI images";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  # The outputs' names come from builtins and the pure files under nix/ alone, never from an
  # input: ci/flake-check evaluates this function offline, with inputs that fail when touched,
  # and checks that every service has its package and its image.
  outputs =
    {
      self,
      nixpkgs,
      crane,
      rust-overlay,
    }:
    let
      systems = builtins.attrNames (import ./nix/systems.nix);
      forEachSystem =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      inherit (import ./nix/services.nix) services tools;
      perService =
        prefix: f:
        builtins.listToAttrs (
          map (service: {
            name = prefix + service;
            value = f service;
          }) services
        );

      # Evaluated once per system, however many outputs read it.
      built = forEachSystem (
        system:
        import ./nix {
          inherit
            self
            nixpkgs
            crane
            rust-overlay
            system
            ;
        }
      );
    in
    {
      packages = forEachSystem (
        system:
        let
          b = built.${system};
        in
        perService "" (service: b.packages.${service})
        // perService "image-" (service: b.images.${service})
        // builtins.mapAttrs (tool: _: b.packages.${tool}) tools
        // {
          inherit (b) frontend;
          images = b.allImages;
          default = b.allImages;
        }
      );

      checks = forEachSystem (
        system:
        {
          clippy = built.${system}.checks.clippy;
          fmt = built.${system}.checks.fmt;
          nextest = built.${system}.checks.nextest;
        }
        // (
          if builtins.pathExists ./charts/ecommerce/Chart.yaml then
            { chart = built.${system}.checks.chart; }
          else
            { }
        )
      );

      devShells = forEachSystem (system: {
        default = built.${system}.devShell;
      });

      apps = forEachSystem (system: {
        dev = {
          type = "app";
          program = "${built.${system}.devApp}/bin/ecommerce-dev";
          meta.description = "the whole shop on this machine (ci/dev) on the flake's binaries and storefront";
        };
      });
    };
}
