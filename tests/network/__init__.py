"""Network tests: a package, so that its conftest is not imported as the top-level ``conftest`` of tests/."""
