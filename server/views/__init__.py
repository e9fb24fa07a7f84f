"""Thin Flask blueprints: load input, call one action, render or dump the result."""
