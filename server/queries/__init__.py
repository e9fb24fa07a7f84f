"""Every SQL statement Sotay runs, in small named functions, one module per table group."""
