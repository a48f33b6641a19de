"""ingest_core: turns a dropped STAC catalog into a GeoCatalog bulk ingestion. Never imports azure.functions."""
