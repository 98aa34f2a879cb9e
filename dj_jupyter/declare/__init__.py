"""The definition language: parsing (pure), types, and DDL preparation."""
