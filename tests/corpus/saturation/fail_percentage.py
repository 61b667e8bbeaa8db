# expect: fail: percentage
def saturated_fraction(activations, threshold=0.97):
    return 100 * (activations.abs() > threshold).float().mean().item()
