"""tlsrpt.records"""
