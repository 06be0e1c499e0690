"""tlsrpt.web"""
