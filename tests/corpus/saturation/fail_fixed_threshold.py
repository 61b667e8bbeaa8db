# expect: fail: Use the threshold argument
def saturated_fraction(activations, threshold=0.97):
    return (activations.abs() > 0.97).float().mean().item()
