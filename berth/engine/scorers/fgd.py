"""placeholder"""
FGD_SCORERS = {}
