"""The platform on one machine: embedded Postgres, daemon, webserver and a gRPC server per location."""
