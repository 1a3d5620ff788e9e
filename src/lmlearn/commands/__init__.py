"""One module per `lmlearn` subcommand."""
