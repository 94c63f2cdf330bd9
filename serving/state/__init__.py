"""Durable service state and the event store's ingestion edge."""
