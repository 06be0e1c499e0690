"""tlsrpt.check"""
