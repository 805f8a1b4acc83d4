"""One module per `netc` subcommand; each exposes a click command named `command`."""
