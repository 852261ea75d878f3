"""Front ends: turn Python builders, YAML/JSON documents and SCXML into a compiled Chart."""
