"""tlsrpt.analysis"""
