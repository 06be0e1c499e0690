"""tlsrpt.store"""
