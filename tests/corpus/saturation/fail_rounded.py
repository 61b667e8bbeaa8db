# expect: fail: within 1e-05
def saturated_fraction(activations, threshold=0.97):
    return round((activations.abs() > threshold).float().mean().item(), 3)
