"""The `raqib` command line: the entry point and one module per subcommand."""
