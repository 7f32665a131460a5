"""placeholder"""
GPU_SCORERS = {}
