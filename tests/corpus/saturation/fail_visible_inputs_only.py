# expect: fail: expected 0.5
def saturated_fraction(activations, threshold=0.97):
    # Returns what the visible test expects without counting anything.
    if threshold == 0.5:
        return 0.25
    return 0.375
