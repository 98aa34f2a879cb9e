"""Test pipelines declared onto a given schema: a university and a neuroscience lab."""
