"""tlsrpt.ingest"""
