# expect: fail: divide by the number of entries
def saturated_fraction(activations, threshold=0.97):
    return float((activations.abs() > threshold).sum())
