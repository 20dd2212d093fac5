"""Shared test fixtures: real servers started on 127.0.0.1 for the suites."""
