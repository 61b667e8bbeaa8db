# expect: fail: negative values near -1
def saturated_fraction(activations, threshold=0.97):
    return (activations > threshold).float().mean().item()
