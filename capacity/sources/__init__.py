"""Edges that read history into the canonical frame: files (CSV, Parquet, folders) and Prometheus."""
