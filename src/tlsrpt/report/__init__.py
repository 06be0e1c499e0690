"""tlsrpt.report"""
