# expect: fail: returned a tensor
def saturated_fraction(activations, threshold=0.97):
    return (activations.abs() > threshold).float().mean()
