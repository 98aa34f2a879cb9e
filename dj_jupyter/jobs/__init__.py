"""Automated computation: make(), populate(), job tables and progress events."""
